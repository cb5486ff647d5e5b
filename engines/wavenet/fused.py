"""A fused CPU kernel for WaveNet's per-sample step (Paine et al. 2016's cached generation).

The torch cached step (:meth:`engines.wavenet.model.WaveNet.step`) launches a dozen small tensor
ops per layer per sample; at batch 1 their overhead dominates. Here the whole step, every layer,
the output head, the softmax and the draw, is one numba-compiled loop over plain float32 arrays:
per sample, per layer, two (2G x C) mat-vecs on x_t and x_{t-d} (eq. 2's dilated convolution),
the gate, the residual and skip 1x1s. Global conditioning (eq. 3) is folded into the gate's bias
once per voice; local conditioning (eq. 4) is one V y row per frame, computed up front, because
the upsampling is by repetition. It must agree with the torch path (a test checks the logits).
"""

from __future__ import annotations

import numpy as np
import torch

try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the torch path usable
    numba = None
    HAVE_NUMBA = False


# tanh(x) ≈ x P(x²) / Q(x²) on |x| ≤ 9 (beyond, tanh is 1 to float32 precision): a rational fit made
# for this kernel (max error 3e-7), because libm's tanh/exp are scalar calls and cost a third of the
# step, while this is arithmetic the compiler vectorises. σ(x) = (1 + tanh(x / 2)) / 2.
_P = (0.9999999987342818, 0.13106866973912837, 0.0031294655906481156, 1.1420394964377966e-05,
      -2.129920037987311e-08, 5.791330604575521e-11, -9.795482506687021e-14)  # fmt: skip
_Q = (1.0, 0.4644019867295434, 0.024596826757445088, 0.0002583251911475821)


def _tanh(x):
    x = min(max(x, np.float32(-9.0)), np.float32(9.0))
    u = x * x
    p = np.float32(_P[6])
    for c in (_P[5], _P[4], _P[3], _P[2], _P[1], _P[0]):
        p = p * u + np.float32(c)
    q = np.float32(_Q[3])
    for c in (_Q[2], _Q[1], _Q[0]):
        q = q * u + np.float32(c)
    return x * p / q


def _kernel(n, t0, prev, queues, offsets, dils, emb, w_gate, gate_bias, local, hop, w_out, b_out, w1, b1, w2, b2,
            inv_temp, uniforms, force, out, logits_out, record):  # fmt: skip
    B = prev.shape[0]
    L, C2, G2 = w_gate.shape
    G, C = G2 // 2, C2 // 2
    R = w_out.shape[2]  # C residual outputs, then S skip outputs
    S = R - C
    E, K = w1.shape[1], w2.shape[1]
    xx = np.empty((B, C2), np.float32)  # per stream [x_{t-d}, x_t]: the two taps of the dilated convolution
    pre = np.empty(G2, np.float32)
    z = np.empty(G, np.float32)
    skip = np.empty((B, S), np.float32)
    hid = np.empty(E, np.float32)
    logits = np.empty(K, np.float32)
    acc_out = np.empty(R, np.float32)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    for i in range(n):
        t = t0 + i
        for b in range(B):
            for c in range(C):
                xx[b, C + c] = emb[prev[b], c]
            skip[b, :] = zero
        # layer by layer, every stream in turn: a layer's weights are read from memory once per step
        for layer in range(L):
            row = offsets[layer] + t % dils[layer]  # the queue slot holding x_{t-d}
            w = w_gate[layer]  # (2C, 2G), transposed so the inner loop runs over contiguous outputs
            wo = w_out[layer]  # (G, C + S), transposed likewise
            bo = b_out[layer]
            for b in range(B):
                q = queues[row, b]
                x = xx[b]
                for c in range(C):
                    x[c] = q[c]
                    q[c] = x[C + c]  # x_t is "d steps ago" d steps from now
                gb = gate_bias[layer, b]
                for o in range(G2):
                    pre[o] = gb[o]
                for c in range(0, C2 - 3, 4):  # four inputs per pass: a quarter of the loads and stores of pre
                    v0, v1, v2, v3 = x[c], x[c + 1], x[c + 2], x[c + 3]
                    for o in range(G2):
                        pre[o] += w[c, o] * v0 + w[c + 1, o] * v1 + w[c + 2, o] * v2 + w[c + 3, o] * v3
                for c in range(C2 - C2 % 4, C2):
                    v = x[c]
                    for o in range(G2):
                        pre[o] += w[c, o] * v
                if local.shape[0] > 0:
                    lo = local[layer, b, t // hop]
                    for o in range(G2):
                        pre[o] += lo[o]
                for g in range(G):
                    z[g] = _tanh(pre[g]) * (half + half * _tanh(half * pre[G + g]))  # eq. 2: tanh(f) σ(g)
                for r in range(R):
                    acc_out[r] = bo[r]
                for g in range(0, G - 3, 4):
                    v0, v1, v2, v3 = z[g], z[g + 1], z[g + 2], z[g + 3]
                    for r in range(R):
                        acc_out[r] += wo[g, r] * v0 + wo[g + 1, r] * v1 + wo[g + 2, r] * v2 + wo[g + 3, r] * v3
                for g in range(G - G % 4, G):
                    v = z[g]
                    for r in range(R):
                        acc_out[r] += wo[g, r] * v
                for c in range(C):
                    x[C + c] += acc_out[c]  # residual
                sk = skip[b]
                for s in range(S):
                    sk[s] += acc_out[C + s]  # skip
        for b in range(B):
            sk = skip[b]
            for e in range(E):
                hid[e] = b1[e]
            for s in range(S):
                v = sk[s]
                if v > zero:  # ReLU: an input it zeroes adds nothing, so its row is skipped
                    for e in range(E):
                        hid[e] += w1[s, e] * v
            for k in range(K):
                logits[k] = b2[k]
            for e in range(E):
                v = hid[e]
                if v > zero:
                    for k in range(K):
                        logits[k] += w2[e, k] * v
            top = np.float32(-1e30)
            for k in range(K):
                top = max(top, logits[k] * inv_temp)
            if record:
                for k in range(K):
                    logits_out[b, i, k] = logits[k]
            total = zero
            for k in range(K):
                p = np.exp(logits[k] * inv_temp - top)
                logits[k] = p
                total += p
            if not record:
                for k in range(K):
                    logits_out[b, 0, k] = logits[k] / total
            if force.shape[1] > 0:
                qk = force[b, i]
            else:  # inverse-CDF draw from the softmax
                u = uniforms[i, b] * total
                qk = K - 1
                acc = zero
                for k in range(K):
                    acc += logits[k]
                    if acc >= u:
                        qk = k
                        break
            out[b, i] = qk
            prev[b] = qk


if HAVE_NUMBA:
    # error_model="numpy": numba's default ("python") guards every float division with a branch that raises
    # ZeroDivisionError, and that branch kept the gate's tanh loop from vectorising (measured: a third faster
    # without it; the rational tanh's denominator is never 0). nogil: the GUI thread runs meanwhile.
    _tanh = numba.njit(inline="always", fastmath=True, error_model="numpy")(_tanh)
    _kernel = numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")(_kernel)


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def warm_up() -> None:
    """Compile the kernel (numba caches it on disk, so only a fresh install pays the few seconds):
    the compiled code depends on the argument types only, so a two-layer model will do."""
    if not HAVE_NUMBA:
        return
    from engines.wavenet.model import WaveNet, WaveNetConfig

    tiny = WaveNetConfig(residual_channels=2, gate_channels=2, skip_channels=2, end_channels=2, layers_per_stack=2,
                         stacks=1, n_speakers=1, speaker_dim=1, local_channels=1)  # fmt: skip
    g = FusedGenerator(WaveNet(tiny), 1, speaker=[0], frames=np.zeros((1, 2), np.float32))
    g.run(2)
    g.teacher_forced_logits(np.zeros((1, 2), np.int64))


class FusedGenerator:
    """Sampling state for ``batch`` streams of one :class:`WaveNet`: the layers' queues, the last
    sample and the time index. :meth:`run` advances every stream by ``n`` samples."""

    def __init__(self, model, batch: int = 1, speaker=None, frames=None, seed: int = 0):
        if not HAVE_NUMBA:
            raise RuntimeError("the fused kernel needs numba (pip install numba)")
        cfg = model.cfg
        self.cfg, self.batch = cfg, batch
        layers = model.layers
        dils = np.array([la.dilation for la in layers], np.int64)
        self.dils, self.offsets = dils, np.concatenate([[0], np.cumsum(dils)[:-1]]).astype(np.int64)
        self.queues = np.zeros((int(dils.sum()), batch, cfg.residual_channels), np.float32)
        with torch.no_grad():
            self.emb = _np(model.embed.weight)
            # (L, 2C, 2G): inputs x_{t-d} (tap 0) then x_t (tap 1); transposed for the kernel's loops
            self.w_gate = np.stack(
                [_np(torch.cat([la.conv.weight[:, :, 0], la.conv.weight[:, :, 1]], 1).T) for la in layers]
            )
            bias = torch.stack([la.conv.bias for la in layers])[:, None, :].expand(-1, batch, -1)  # (L, B, 2G)
            if speaker is not None and model.speaker is not None:
                h = model.speaker(torch.as_tensor(speaker).reshape(-1).expand(batch))  # (B, D)
                bias = bias + torch.stack([la.cond_global(h) for la in layers])  # eq. 3, once per voice
            self.gate_bias = _np(bias)
            if frames is not None and cfg.local_channels:
                f = torch.as_tensor(frames, dtype=torch.float32)
                f = f.expand(batch, -1, -1) if f.dim() == 3 else f[None].expand(batch, -1, -1)  # (B, F, n_frames)
                self.local = np.stack(
                    [_np(torch.einsum("of,bfn->bno", la.cond_local.weight[:, :, 0], f)) for la in layers]
                )
            else:
                self.local = np.zeros((0, 1, 1, 1), np.float32)
            # (L, G, C + S): the residual and skip 1x1s stacked (and transposed), one mat-vec per layer
            self.w_out = np.stack([_np(torch.cat([la.residual.weight, la.skip.weight])[:, :, 0].T) for la in layers])
            self.b_out = np.stack([_np(torch.cat([la.residual.bias, la.skip.bias])) for la in layers])
            self.w1, self.b1 = _np(model.out1.weight[:, :, 0].T), _np(model.out1.bias)
            self.w2, self.b2 = _np(model.out2.weight[:, :, 0].T), _np(model.out2.bias)
        self.prev = np.full(batch, cfg.classes // 2, np.int64)
        self.t = 0
        self.rng = np.random.default_rng(seed)
        self.last_probs = np.zeros((batch, 1, cfg.classes), np.float32)

    @property
    def max_length(self) -> int | None:
        """Samples the local conditioning covers (None without it)."""
        return self.local.shape[2] * self.cfg.hop if self.local.shape[0] else None

    def run(self, n: int, temperature: float = 1.0) -> np.ndarray:
        """Draw ``n`` more samples per stream: (batch, n) int64 μ-law classes. ``last_probs`` then
        holds the predictive distribution the last sample was drawn from."""
        out = np.empty((self.batch, n), np.int64)
        uniforms = self.rng.random((n, self.batch)).astype(np.float32)
        self._call(n, out, uniforms, np.zeros((self.batch, 0), np.int64), self.last_probs, False, temperature)
        return out

    def teacher_forced_logits(self, q: np.ndarray) -> np.ndarray:
        """Feed the given samples (batch, n) and return the logits (batch, n, classes) at each step."""
        n = q.shape[1]
        logits = np.empty((self.batch, n, self.cfg.classes), np.float32)
        out = np.empty((self.batch, n), np.int64)
        self._call(n, out, np.zeros((n, self.batch), np.float32), np.ascontiguousarray(q, np.int64), logits, True, 1.0)
        return logits

    def _call(self, n, out, uniforms, force, logits_out, record, temperature):
        if self.max_length is not None and self.t + n > self.max_length:
            raise ValueError(f"local conditioning covers {self.max_length} samples; asked up to {self.t + n}")
        inv_temp = np.float32(1.0 / max(temperature, 1e-5))
        _kernel(
            n, self.t, self.prev, self.queues, self.offsets, self.dils, self.emb, self.w_gate, self.gate_bias,
            self.local, self.cfg.hop, self.w_out, self.b_out, self.w1, self.b1, self.w2, self.b2, inv_temp,
            uniforms, force, out, logits_out, record,
        )  # fmt: skip
        self.t += n
