r"""WaveNet: A Generative Model for Raw Audio (van den Oord et al., 2016), with the cached
incremental generation of Paine et al. (2016), "Fast Wavenet Generation Algorithm".

**The idea.** Audio is modelled one sample at a time, $p(x) = \prod_t p(x_t \mid x_1, \ldots, x_{t-1})$ (eq. 1),
with a stack of *causal*, *dilated* convolutions: layer k looks d_k = 2^k samples back, so ten layers
see 1,024 samples, and repeating the stack widens the receptive field further at little cost. Each
sample is μ-law companded to 256 classes and predicted with a softmax.

**μ-law (Section 2.2).** $f(x_t) = \mathrm{sign}(x_t) \frac{\ln(1 + \mu |x_t|)}{\ln(1 + \mu)}$, μ = 255,
quantised to 256 values.

**Gated activation units (eq. 2).** $z = \tanh(W_{f,k} * x) \odot \sigma(W_{g,k} * x)$

**Residual and skip connections (Section 2.4).** Each layer's z goes through a 1x1 convolution into
a residual (added to the layer's input) and a skip path; the sum of all skips goes through
ReLU → 1x1 → ReLU → 1x1 to the 256-way softmax.

**Conditioning (Section 2.5).** Global, on a speaker embedding h (eq. 3):

$z = \tanh(W_{f,k} * x + V_{f,k}^T h) \odot \sigma(W_{g,k} * x + V_{g,k}^T h)$

Local, on a time series $h_t$ upsampled to the audio rate, $y = f(h)$ (eq. 4, here by repetition):

$z = \tanh(W_{f,k} * x + V_{f,k} * y) \odot \sigma(W_{g,k} * x + V_{g,k} * y)$, with $V * y$ a 1x1 convolution.
In this app h picks one of six voices (five speakers and music) and h_t is 20 log-mel bands every
10 ms of a real recording. The shipped model saw h_t on only half its training crops, so the same
weights generate freely (no h_t) or resynthesise a clip from its h_t in any voice. With
``prosody_hidden`` > 0 the model also carries a frame-level prior over h_t (`engines/wavenet/prosody.py`):
free generation then plans log-mel frames first and the WaveNet renders them, so the voice pauses.

**Fast generation (Paine et al.).** A causal convolution with kernel 2 and dilation d needs, at time
t, only its input at t and at t - d. Each layer keeps a queue of its last d inputs, so producing one
sample costs O(layers), not O(receptive field). `WaveNet.step` does exactly that and must agree
with the convolutional `WaveNet.forward` (a test checks it at every position). The app generates with a
fused CPU kernel of the same step (`engines/wavenet/fused.py`), some sixty-five times faster than the
torch step at batch 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from engines.wavenet.prosody import FramePrior


@dataclass
class WaveNetConfig:
    sample_rate: int = 8000
    classes: int = 256  # μ-law levels, μ = classes - 1
    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64  # 64, not 128: a third faster to generate on CPU (measured), same loss here
    end_channels: int = 128
    layers_per_stack: int = 10  # dilations 1, 2, ..., 512
    stacks: int = 2
    n_speakers: int = 0  # global conditioning (0: none)
    speaker_dim: int = 16
    local_channels: int = 0  # local conditioning features per frame, e.g. log-mel bins (0: none)
    hop: int = 80  # audio samples per conditioning frame (10 ms at 8 kHz)
    prosody_hidden: int = 0  # > 0 (needs local_channels): a GRU prior over the frames, for free generation
    prosody_mixture: int = 1  # the prior's Gaussians per frame: 1, or a mixture (speech or pause, prosody.py)
    local_dropout: float = 0.5  # training only: share of crops without their log-mel frames (the voice-only mode)
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "sample_rate": (1000, 48000), "classes": (2, 65536), "residual_channels": (1, 1024), "gate_channels": (1, 1024),
        "skip_channels": (1, 1024), "end_channels": (1, 1024), "layers_per_stack": (1, 30), "stacks": (1, 16),
        "n_speakers": (0, 1000), "speaker_dim": (1, 1024), "local_channels": (0, 1024), "hop": (1, 10000),
        "prosody_hidden": (0, 4096), "prosody_mixture": (1, 64), "local_dropout": (0.0, 1.0),
    }  # fmt: skip

    @property
    def dilations(self) -> list[int]:
        return [2**k for k in range(self.layers_per_stack)] * self.stacks

    @property
    def receptive_field(self) -> int:
        """Samples the output at t sees: x_{t-R}, ..., x_{t-1} (the input is shifted by one)."""
        return sum(self.dilations) + 1


def mu_law_encode(x: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Audio in [-1, 1] to integer classes 0..classes-1 (μ-law companding, μ = classes - 1)."""
    mu = classes - 1
    y = torch.sign(x) * torch.log1p(mu * x.abs().clamp(max=1.0)) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long().clamp(0, mu)


def mu_law_decode(q: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Integer classes back to audio in [-1, 1] (the inverse of :func:`mu_law_encode`)."""
    mu = classes - 1
    y = 2 * q.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


class GatedLayer(nn.Module):
    """One dilated causal layer (eqs. 2-4) with its residual and skip 1x1 convolutions."""

    def __init__(self, cfg: WaveNetConfig, dilation: int):
        super().__init__()
        self.dilation = dilation
        c, g = cfg.residual_channels, cfg.gate_channels
        self.conv = nn.Conv1d(c, 2 * g, kernel_size=2, dilation=dilation)  # W_f and W_g stacked
        self.cond_global = nn.Linear(cfg.speaker_dim, 2 * g, bias=False) if cfg.n_speakers else None  # V^T h
        self.cond_local = nn.Conv1d(cfg.local_channels, 2 * g, 1, bias=False) if cfg.local_channels else None
        self.residual = nn.Conv1d(g, c, 1)
        self.skip = nn.Conv1d(g, cfg.skip_channels, 1)

    def gate(self, pre: torch.Tensor, h: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        if h is not None:
            pre = pre + self.cond_global(h)[:, :, None]  # eq. 3, broadcast over time
        if y is not None:
            pre = pre + self.cond_local(y)  # eq. 4
        f, g = pre.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)  # eq. 2

    def forward(self, x, h=None, y=None):
        """x: (B, C, T) -> (residual output (B, C, T), skip (B, S, T)); causal by left padding."""
        z = self.gate(self.conv(F.pad(x, (self.dilation, 0))), h, y)
        return x + self.residual(z), self.skip(z)

    def step_weights(self) -> tuple[torch.Tensor, ...]:
        """The layer's weights laid out for :meth:`step`: both taps in one matrix, and the residual and
        skip 1x1s in another, so a step is two matrix products (few ops: batch-1 steps are op-bound)."""
        w = self.conv.weight  # (2G, C, 2): tap 0 sees t - d, tap 1 sees t
        w_gate = torch.cat([w[:, :, 0], w[:, :, 1]], dim=1).T.contiguous()  # (2C, 2G)
        w_out = torch.cat([self.residual.weight, self.skip.weight])[:, :, 0].T.contiguous()  # (G, C + S)
        return w_gate, self.conv.bias, w_out, torch.cat([self.residual.bias, self.skip.bias])

    def step(self, x_t, x_past, h=None, y_t=None, weights=None):
        """One time step: x_t (B, C) now, x_past (B, C) from ``dilation`` steps ago."""
        w_gate, b_gate, w_out, b_out = weights or self.step_weights()
        pre = torch.addmm(b_gate, torch.cat([x_past, x_t], dim=1), w_gate)  # eq. 2's dilated convolution
        if h is not None:
            pre = pre + self.cond_global(h)  # eq. 3
        if y_t is not None:
            pre = pre + y_t @ self.cond_local.weight[:, :, 0].T  # eq. 4
        f, g = pre.chunk(2, dim=1)
        out = torch.addmm(b_out, torch.tanh(f) * torch.sigmoid(g), w_out)
        c = x_t.shape[1]
        return x_t + out[:, :c], out[:, c:]


class WaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.classes, cfg.residual_channels)  # one-hot input, as a lookup
        self.speaker = nn.Embedding(cfg.n_speakers, cfg.speaker_dim) if cfg.n_speakers else None
        self.layers = nn.ModuleList(GatedLayer(cfg, d) for d in cfg.dilations)
        self.out1 = nn.Conv1d(cfg.skip_channels, cfg.end_channels, 1)
        self.out2 = nn.Conv1d(cfg.end_channels, cfg.classes, 1)
        self.prosody = None
        if cfg.prosody_hidden and cfg.local_channels:
            self.prosody = FramePrior(cfg.local_channels, cfg.prosody_hidden, cfg.n_speakers, cfg.prosody_mixture)

    def upsample(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        """Local conditioning frames (B, L, F) to the audio rate (B, L, F * hop) by repetition (eq. 4's y = f(h))."""
        return frames.repeat_interleave(self.cfg.hop, dim=2)[:, :, :length]

    def logits(self, q: torch.Tensor, speaker=None, frames=None) -> torch.Tensor:
        """Teacher-forced logits (B, classes, T): position t predicts q_t from q_{<t} (input shifted by one)."""
        B, T = q.shape
        x = self.embed(F.pad(q, (1, 0), value=self.cfg.classes // 2)[:, :-1]).transpose(1, 2)  # (B, C, T)
        h = self.speaker(speaker) if self.speaker is not None else None
        y = self.upsample(frames, T) if frames is not None else None
        return self._stack(x, h, y)

    def _stack(self, x, h, y) -> torch.Tensor:
        """The dilated layers and the output head on embedded inputs x (B, C, T): logits (B, classes, T)."""
        skips = 0
        for layer in self.layers:
            x, s = layer(x, h, y)
            skips = skips + s
        return self.out2(F.relu(self.out1(F.relu(skips))))  # ReLU -> 1x1 -> ReLU -> 1x1

    def forward(self, batch) -> dict[str, torch.Tensor]:
        """Mean cross-entropy in nats per sample (and bits) of a batch dict {q, speaker?, frames?}; with a
        frame prior and the batch's ``plan`` crops (B, L, F) of frames and their ``plan_voice`` (B,), the
        prior's NLL per frame value is added to the loss (the two parts share no weights)."""
        if "q" not in batch:  # the frame prior trained alone (train --only prosody): no audio in the batch
            nll = self.prosody.nll(batch["plan"], batch["plan_voice"])
            return {"loss": nll, "prosody_nll": nll}
        logits = self.logits(batch["q"], batch.get("speaker"), batch.get("frames"))
        nll = F.cross_entropy(logits, batch["q"])
        out = {"loss": nll, "bits_per_sample": nll / math.log(2)}
        if self.prosody is not None and "plan" in batch:
            out["prosody_nll"] = self.prosody.nll(batch["plan"], batch["plan_voice"])
            out["loss"] = nll + out["prosody_nll"]
        return out

    # -- growing a trained model -------------------------------------------------------------------
    @torch.no_grad()
    def widen_gates(self, gate_channels: int, generator: torch.Generator | None = None) -> None:
        """More gated units per layer without changing what the model computes (Net2Net's idea, Chen et
        al. 2016, in its simplest form): each new unit gets freshly initialised input weights (filter and
        gate, eq. 2) and zero residual and skip weights, so it adds nothing until training moves them.
        Why: our small model stops improving on two cores; widening keeps its 20k steps instead of
        starting again."""
        old = self.cfg.gate_channels
        if gate_channels <= old:
            raise ValueError(f"gate_channels {gate_channels}: the model already has {old}")
        extra = gate_channels - old

        def rows(w: torch.Tensor, fan_in: int) -> torch.Tensor:
            """w (2G, ...) with ``extra`` new filter rows after the old filter rows, and new gate rows after
            the old gate rows (the two halves are chunked apart in GatedLayer.gate)."""
            bound = 1 / math.sqrt(fan_in)  # nn.Conv1d's default init range
            new = torch.empty((2, extra, *w.shape[1:]), dtype=w.dtype).uniform_(-bound, bound, generator=generator)
            f, g = w.detach().cpu().chunk(2, dim=0)
            return torch.cat([f, new[0], g, new[1]]).to(w.device)

        def cols(w: torch.Tensor) -> torch.Tensor:  # (out, G, 1) -> (out, G + extra, 1), the new inputs weighted 0
            return torch.cat([w, w.new_zeros(w.shape[0], extra, *w.shape[2:])], dim=1)

        for layer in self.layers:
            c = layer.conv
            c.weight = nn.Parameter(rows(c.weight, c.in_channels * 2))
            f_bias, g_bias = c.bias.chunk(2)
            zeros = c.bias.new_zeros(extra)
            c.bias = nn.Parameter(torch.cat([f_bias, zeros, g_bias, zeros]))
            c.out_channels = 2 * gate_channels
            if layer.cond_global is not None:
                layer.cond_global.weight = nn.Parameter(rows(layer.cond_global.weight, layer.cond_global.in_features))
                layer.cond_global.out_features = 2 * gate_channels
            if layer.cond_local is not None:
                layer.cond_local.weight = nn.Parameter(rows(layer.cond_local.weight, layer.cond_local.in_channels))
                layer.cond_local.out_channels = 2 * gate_channels
            for conv in (layer.residual, layer.skip):
                conv.weight = nn.Parameter(cols(conv.weight))
                conv.in_channels = gate_channels
        self.cfg.gate_channels = gate_channels

    # -- fast generation (Paine et al. 2016) -------------------------------------------------------
    def init_state(self, batch: int) -> list[torch.Tensor]:
        """Per-layer queues of past inputs, (d, B, C) each, filled with the zero-padding's value. Also
        lays the weights out for :meth:`step` (call it again after the weights change)."""
        ref = self.embed.weight
        self._step_weights = [layer.step_weights() for layer in self.layers]
        return [ref.new_zeros(layer.dilation, batch, self.cfg.residual_channels) for layer in self.layers]

    def step(self, q_prev, state, t: int, h=None, y_t=None) -> torch.Tensor:
        """Logits (B, classes) for time t given the sample at t - 1 (``q_prev``); updates ``state``."""
        x = self.embed(q_prev)  # (B, C)
        skips = 0
        for layer, queue, w in zip(self.layers, state, self._step_weights, strict=True):
            slot = t % layer.dilation
            x_past = queue[slot].clone()  # the input from d steps ago
            queue[slot] = x  # becomes "d steps ago" d steps from now
            x, s = layer.step(x, x_past, h, y_t, w)
            skips = skips + s
        hid = F.relu(F.relu(skips) @ self.out1.weight[:, :, 0].T + self.out1.bias)
        return hid @ self.out2.weight[:, :, 0].T + self.out2.bias

    # -- sampling ------------------------------------------------------------------------------------
    def _draw(self, logits: torch.Tensor, temperature: float, generator) -> torch.Tensor:
        probs = torch.softmax(logits / max(temperature, 1e-6), dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    @torch.no_grad()
    def generate(self, n: int, batch: int = 1, speaker=None, frames=None, temperature: float = 1.0,
                 chunk: int = 800, generator=None):  # fmt: skip
        """Sample ``n`` steps with the cached step (O(layers) per sample), yielding (batch, ≤chunk)
        class tensors as they are made, so a caller can stream, draw and cancel."""
        state = self.init_state(batch)
        prev = torch.full((batch,), self.cfg.classes // 2, device=self.embed.weight.device)
        h = self.speaker(speaker) if speaker is not None else None
        y = self.upsample(frames, n) if frames is not None else None
        buf = []
        for t in range(n):
            prev = self._draw(self.step(prev, state, t, h, None if y is None else y[:, :, t]), temperature, generator)
            buf.append(prev)
            if len(buf) == chunk:
                yield torch.stack(buf, dim=1)
                buf = []
        if buf:
            yield torch.stack(buf, dim=1)

    @torch.no_grad()
    def generate_naive(self, n: int, batch: int = 1, speaker=None, frames=None, temperature: float = 1.0,
                       generator=None) -> torch.Tensor:  # fmt: skip
        """The slow baseline: a full convolutional pass over the receptive field for every sample.

        Output t depends on the shifted input at t - S..t (S = sum of dilations); a window starting
        there gives exactly the full pass's logits (its zero padding only reaches unused outputs)."""
        S = sum(self.cfg.dilations)
        dev = self.embed.weight.device
        x_in = torch.full((batch, 1), self.cfg.classes // 2, dtype=torch.long, device=dev)  # x_in[t] = q_{t-1}
        h = self.speaker(speaker) if speaker is not None else None
        y = self.upsample(frames, n) if frames is not None else None
        for t in range(n):
            start = max(0, t - S)
            x = self.embed(x_in[:, start : t + 1]).transpose(1, 2)
            logits = self._stack(x, h, None if y is None else y[:, :, start : t + 1])[:, :, -1]
            x_in = torch.cat([x_in, self._draw(logits, temperature, generator)[:, None]], dim=1)
        return x_in[:, 1:]
