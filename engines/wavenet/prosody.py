r"""A frame-level prior for free generation: what to say, 10 ms at a time, before WaveNet says it.

**Why.** A WaveNet sees 256 ms of the past (its receptive field). Left to itself it has no notion of a
phrase: measured on the shipped model, free generation drifted into loud babble that never paused (silent
10 ms frames 0-3 % per speech voice, the recordings 11-20 %). The paper's own speech samples are conditioned
on features predicted by separate models (linguistic features and F0 for TTS, Section 3.2); here a small
recurrent network predicts the log-mel frames the WaveNet is already conditioned on (eq. 4's local
conditioning y), and the WaveNet renders them. Planned frames carry loudness, so pauses are planned too.

**Model.** A two-layer GRU over log-mel frames $f_1, \dots, f_L$ (``local_channels`` values each), with the
voice's embedding at every step, and a mixture of K diagonal Gaussians per frame (a mixture density
network, Bishop 1994, as Graves 2013 uses for pen strokes):

$p(f_{1:L} \mid v) = \prod_t \sum_k \pi_{tk}\, \mathcal{N}(f_t;\ \mu_{tk}, \mathrm{diag}\,\sigma_{tk}^2)$,
$(\pi_t, \mu_t, \log\sigma_t^2) = W\,\mathrm{GRU}([f_{t-1}; e_v])$ (π by a softmax), with $f_0$ a learned
start frame. Why a mixture: the next frame is either more speech or the start of a pause, and one Gaussian
must average the two. With K = 1 (the first shipped prior) free speech paused half as often as the
recordings in three voices (planned silent frames 3-6 % where the training frames have 6-12 %); with K = 4
the validation NLL per frame value fell from -0.27 to about -0.56 nats and the planned pauses came close to
the training frames' rate in English, Italian and Russian (Spanish still pauses less; README, WaveNet).

Trained by teacher forcing on crops of each voice's training frames (its prompts joined in order, so the
pauses between prompts are there to learn), beside the WaveNet's own loss or alone (``train --only
prosody``). Sampling picks each frame's component from π, draws from its Gaussian (the noise scaled by a
temperature) and feeds the frame back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

VOICE_DIM = 16


class FramePrior(nn.Module):
    def __init__(self, channels: int, hidden: int, voices: int, components: int = 1):
        super().__init__()
        self.channels, self.components = channels, components
        self.voice = nn.Embedding(max(voices, 1), VOICE_DIM)
        self.start = nn.Parameter(torch.zeros(channels))  # f_0
        self.rnn = nn.GRU(channels + VOICE_DIM, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 2 * channels * components)  # (μ, log σ²) of each component
        self.weights = nn.Linear(hidden, components) if components > 1 else None  # the mixture's logits

    def forward(self, frames: torch.Tensor, voice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frames (B, L, F) and voices (B,) -> (log π (B, L, K), μ and log σ² (B, L, K, F)): position t predicts
        f_t from f_<t."""
        B, L, F_ = frames.shape
        prev = torch.cat([self.start.expand(B, 1, F_), frames[:, :-1]], 1)
        v = self.voice(voice)[:, None].expand(B, L, VOICE_DIM)
        h, _ = self.rnn(torch.cat([prev, v], -1))
        return self.mixture(h)

    def mixture(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """GRU outputs (..., hidden) -> the next frame's (log π, μ, log σ²), the variances kept in a sane range."""
        mu, logvar = self.out(h).unflatten(-1, (self.components, 2 * self.channels)).chunk(2, -1)
        if self.weights is None:
            log_pi = h.new_zeros(*h.shape[:-1], 1)
        else:
            log_pi = self.weights(h).log_softmax(-1)
        return log_pi, mu, logvar.clamp(-8, 4)

    def nll(self, frames: torch.Tensor, voice: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood in nats per frame value."""
        log_pi, mu, logvar = self(frames, voice)
        x = frames[..., None, :]
        log_n = -0.5 * (logvar + (x - mu) ** 2 / logvar.exp() + math.log(2 * math.pi)).sum(-1)  # (B, L, K)
        return -torch.logsumexp(log_pi + log_n, -1).mean() / self.channels

    @torch.no_grad()
    def sample(self, n: int, voice: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` frames for ``voice``, as (F, n) float32 (the layout of :func:`engines.data.audio.log_mel`)."""
        gen = torch.Generator().manual_seed(seed)
        dev = self.start.device
        v = self.voice(torch.tensor([voice], device=dev))[:, None]  # (1, 1, 16)
        prev, state, out = self.start[None, None], None, []
        for _ in range(n):
            h, state = self.rnn(torch.cat([prev, v], -1), state)
            log_pi, mu, logvar = self.mixture(h[0, 0])
            k = int(torch.multinomial(log_pi.exp().cpu(), 1, generator=gen)) if self.components > 1 else 0
            eps = torch.randn(mu.shape[-1:], generator=gen).to(dev)
            prev = (mu[k] + temperature * eps * (0.5 * logvar[k]).exp())[None, None]
            out.append(prev[0, 0])
        return torch.stack(out, 1).cpu().numpy().astype(np.float32) if out else np.zeros((self.channels, 0), np.float32)
