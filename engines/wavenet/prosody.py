r"""A frame-level prior for free generation: what to say, 10 ms at a time, before WaveNet says it.

**Why.** A WaveNet sees 256 ms of the past (its receptive field). Left to itself it has no notion of a
phrase: measured on the shipped model, free generation drifted into loud babble that never paused (silent
10 ms frames 0-3 % per speech voice, the recordings 11-20 %). The paper's own speech samples are conditioned
on features predicted by separate models (linguistic features and F0 for TTS, Section 3.2); here a small
recurrent network predicts the log-mel frames the WaveNet is already conditioned on (eq. 4's local
conditioning y), and the WaveNet renders them. Planned frames carry loudness, so pauses are planned too.

**Model.** A two-layer GRU over log-mel frames $f_1, \dots, f_L$ (``local_channels`` values each), with the
voice's embedding at every step:

$p(f_{1:L} \mid v) = \prod_t \mathcal{N}(f_t;\ \mu_t, \mathrm{diag}\,\sigma_t^2)$, $(\mu_t, \log\sigma_t^2) =
W\,\mathrm{GRU}([f_{t-1}; e_v])$, with $f_0$ a learned start frame.

Trained by teacher forcing on crops of each voice's training frames (its prompts joined in order, so the
pauses between prompts are there to learn), beside the WaveNet's own loss. Sampling draws each frame from
its Gaussian (the noise scaled by a temperature) and feeds it back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

VOICE_DIM = 16


class FramePrior(nn.Module):
    def __init__(self, channels: int, hidden: int, voices: int):
        super().__init__()
        self.channels = channels
        self.voice = nn.Embedding(max(voices, 1), VOICE_DIM)
        self.start = nn.Parameter(torch.zeros(channels))  # f_0
        self.rnn = nn.GRU(channels + VOICE_DIM, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 2 * channels)

    def forward(self, frames: torch.Tensor, voice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (B, L, F) and voices (B,) -> (μ, log σ²), each (B, L, F): position t predicts f_t from f_<t."""
        B, L, F_ = frames.shape
        prev = torch.cat([self.start.expand(B, 1, F_), frames[:, :-1]], 1)
        v = self.voice(voice)[:, None].expand(B, L, VOICE_DIM)
        h, _ = self.rnn(torch.cat([prev, v], -1))
        return self.gaussian(h)

    def gaussian(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GRU outputs (..., hidden) -> the next frame's (μ, log σ²), the variance kept in a sane range."""
        mu, logvar = self.out(h).chunk(2, -1)
        return mu, logvar.clamp(-8, 4)

    def nll(self, frames: torch.Tensor, voice: torch.Tensor) -> torch.Tensor:
        """Mean Gaussian negative log-likelihood in nats per frame value."""
        mu, logvar = self(frames, voice)
        return 0.5 * (logvar + (frames - mu) ** 2 / logvar.exp() + math.log(2 * math.pi)).mean()

    @torch.no_grad()
    def sample(self, n: int, voice: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` frames for ``voice``, as (F, n) float32 (the layout of :func:`engines.data.audio.log_mel`)."""
        gen = torch.Generator().manual_seed(seed)
        dev = self.start.device
        v = self.voice(torch.tensor([voice], device=dev))[:, None]  # (1, 1, 16)
        prev, state, out = self.start[None, None], None, []
        for _ in range(n):
            h, state = self.rnn(torch.cat([prev, v], -1), state)
            mu, logvar = self.gaussian(h)
            eps = torch.randn(mu.shape, generator=gen).to(dev)
            prev = mu + temperature * eps * (0.5 * logvar).exp()
            out.append(prev[0, 0])
        return torch.stack(out, 1).cpu().numpy().astype(np.float32) if out else np.zeros((self.channels, 0), np.float32)
