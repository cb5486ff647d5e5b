r"""DRAW: A Recurrent Neural Network For Image Generation (Gregor et al., 2015).

**The idea.** A variational auto-encoder that draws an image in T steps instead of one. An LSTM
encoder looks at the image and at the error of the canvas so far, an LSTM decoder receives a
latent sample z_t and adds a patch to a running canvas. With *attention*, reading and writing go
through an N x N grid of Gaussian filters whose centre, stride and width the decoder chooses at
each step, so the network can trace a digit stroke by stroke.

**The network (eqs. 3-8).** For t = 1..T, with $\hat{x}_t$ the error image:

$\hat{x}_t = x - \sigma(c_{t-1})$ (3) · $r_t = \mathrm{read}(x_t, \hat{x}_t, h^{dec}_{t-1})$ (4)

$h^{enc}_t = \mathrm{RNN}^{enc}(h^{enc}_{t-1}, [r_t, h^{dec}_{t-1}])$ (5)

$z_t \sim Q(Z_t | h^{enc}_t) = \mathcal{N}(\mu_t, \sigma_t)$ with $\mu_t = W h^{enc}_t$, $\log \sigma_t = W
h^{enc}_t$ (6)

$h^{dec}_t = \mathrm{RNN}^{dec}(h^{dec}_{t-1}, z_t)$ (7) · $c_t = c_{t-1} + \mathrm{write}(h^{dec}_t)$ (8)

**The loss (eqs. 9-12).** $\mathcal{L} = \mathcal{L}^x + \mathcal{L}^z$ with $\mathcal{L}^x = -\log D(x | c_T)$,
D Bernoulli with means $\sigma(c_T)$, and

$\mathcal{L}^z = \sum_t \mathrm{KL}(Q(Z_t|h^{enc}_t) \,\Vert\, \mathcal{N}(0, I)) = \sum_t \frac{1}{2}(\mu_t^2 +
\sigma_t^2 - \log \sigma_t^2) - T/2$

L is a bound on the negative log-likelihood in nats.

**Generation (eqs. 13-15).** $\tilde{z}_t \sim P(Z_t) = \mathcal{N}(0, I)$;
$\tilde{h}^{dec}_t = \mathrm{RNN}^{dec}(\tilde{h}^{dec}_{t-1}, \tilde{z}_t)$;
$\tilde{c}_t = \tilde{c}_{t-1} + \mathrm{write}(\tilde{h}^{dec}_t)$; $\tilde{x} \sim D(X | \tilde{c}_T)$.

**Without attention (eqs. 17-18).** $\mathrm{read}(x, \hat{x}, h^{dec}_{t-1}) = [x, \hat{x}]$;
$\mathrm{write}(h^{dec}_t) = W(h^{dec}_t)$.

**Selective attention (eqs. 19-29).** From $h^{dec}$ one linear map gives five numbers,
$(\tilde{g}_X, \tilde{g}_Y, \log \sigma^2, \log \tilde{\delta}, \log \gamma) = W(h^{dec})$ (21), scaled to the
A x B image:

$g_X = \frac{A+1}{2}(\tilde{g}_X + 1)$ (22) · $g_Y = \frac{B+1}{2}(\tilde{g}_Y + 1)$ (23) · $\delta =
\frac{\max(A,B) - 1}{N - 1}\tilde{\delta}$ (24)

Filter i of the grid is centred at $\mu^i_X = g_X + (i - N/2 - 0.5)\,\delta$ (19), $\mu^j_Y$ likewise (20), and

$F_X[i, a] = \frac{1}{Z_X} \exp\left(-\frac{(a - \mu^i_X)^2}{2\sigma^2}\right)$, $Z_X$ normalising each row to sum 1
(25, 26)

$\mathrm{read}(x, \hat{x}, h^{dec}_{t-1}) = \gamma\,[F_Y x F_X^T, F_Y \hat{x} F_X^T]$ (27)

$w_t = W(h^{dec}_t)$ (28) is an N x N patch, $\mathrm{write}(h^{dec}_t) = \frac{1}{\hat{\gamma}} \hat{F}_Y^T w_t
\hat{F}_X$ (29)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from engines.cancel import cancel_point, check_cancelled


@dataclass
class DrawConfig:
    height: int = 28  # B in the paper
    width: int = 28  # A in the paper
    glimpses: int = 32  # T; the paper uses 64 for MNIST (we halve it to train on a laptop CPU)
    enc_size: int = 256
    dec_size: int = 256
    z_size: int = 100
    attention: bool = True
    # Paper (MNIST): 2x2 read, 5x5 write. Ours: 12x12 both. Measured here in the same 300 steps: 2x2 read
    # collapsed (KL -> 0), 5x5/5x5 reached 158 nats and plateaued above no-attention, 12x12 reached 122.
    read_n: int = 12  # N of the read grid
    write_n: int = 12  # N of the write grid
    # c_0 a learned per-pixel bias (starting at σ(c_0) = 0.05) instead of zeros; the paper does not say. With c_0 = 0
    # (grey) a 5x5 write spends its glimpses painting the background black and stayed ~30 px wide (4000 steps, NLL
    # 104.5); with a learned c_0 it narrowed to ~13 px and beat no attention (see the README).
    learned_canvas: bool = False
    # The write box's largest side in pixels (0: unbounded, eq. 24 as written). Ours, not the paper's: trained on a CPU
    # budget, an unbounded 5x5 write settles on a 13 px window that drifts 1 px a glimpse, and the tab cannot show the
    # paper's stroke tracing. Bounded softly (δ = δ_max tanh(δ_24 / δ_max), σ likewise at δ_max), so a small
    # window is eq. 24's and a warm start from an unbounded model is the same function where it was already small.
    write_max_px: float = 0.0
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "height": (1, 256), "width": (1, 256), "glimpses": (1, 256), "enc_size": (1, 4096), "dec_size": (1, 4096),
        "z_size": (1, 1024), "read_n": (1, 64), "write_n": (1, 64), "write_max_px": (0.0, 256.0),
    }  # fmt: skip


@dataclass
class AttentionParams:
    """One glimpse's filterbank parameters, in 1-indexed pixel units as in the paper. Each (batch,)."""

    gx: torch.Tensor
    gy: torch.Tensor
    delta: torch.Tensor
    sigma2: torch.Tensor
    gamma: torch.Tensor
    n: int

    def boxes(self) -> torch.Tensor:
        """(batch, 4) boxes ``x0, y0, x1, y1`` in image coordinates (pixel edges at integers): the
        square covered by the N x N grid, N*δ wide, centred on (g_X, g_Y)."""
        half = self.n * self.delta / 2
        cx, cy = self.gx - 0.5, self.gy - 0.5  # 1-indexed pixel centre a sits at a - 0.5
        return torch.stack([cx - half, cy - half, cx + half, cy + half], dim=-1)


def attention_params(raw: torch.Tensor, n: int, width: int, height: int, max_px: float = 0.0) -> AttentionParams:
    """Eqs. 21-24: the linear map's five outputs to (g_X, g_Y, δ, σ², γ). raw: (batch, 5). ``max_px`` > 0 bounds
    the box's side N δ (and σ at the same δ_max) softly; see ``DrawConfig.write_max_px``."""
    gx_, gy_, log_sigma2, log_delta_, log_gamma = raw.unbind(-1)
    gx = (width + 1) / 2 * (gx_ + 1)  # (22)
    gy = (height + 1) / 2 * (gy_ + 1)  # (23)
    delta = (max(width, height) - 1) / max(n - 1, 1) * torch.exp(log_delta_)  # (24); N=1 guarded
    sigma2 = torch.exp(log_sigma2)
    if max_px > 0:
        d_max = max_px / n
        delta = d_max * torch.tanh(delta / d_max)
        sigma2 = (d_max * torch.tanh(sigma2.sqrt() / d_max)) ** 2
    return AttentionParams(gx, gy, delta, sigma2, torch.exp(log_gamma), n)


def filterbank(p: AttentionParams, width: int, height: int, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 19-20, 25-26: the normalised filterbanks F_X (batch, N, A) and F_Y (batch, N, B)."""
    i = torch.arange(1, p.n + 1, device=p.gx.device, dtype=p.gx.dtype)  # grid index i = 1..N
    offs = (i - p.n / 2 - 0.5)[None, :] * p.delta[:, None]  # (batch, N)
    mu_x = p.gx[:, None] + offs  # (19)
    mu_y = p.gy[:, None] + offs  # (20)
    a = torch.arange(1, width + 1, device=p.gx.device, dtype=p.gx.dtype)  # pixel columns a = 1..A
    b = torch.arange(1, height + 1, device=p.gx.device, dtype=p.gx.dtype)  # pixel rows b = 1..B
    s2 = 2 * p.sigma2[:, None, None]
    fx = torch.exp(-((a[None, None, :] - mu_x[:, :, None]) ** 2) / s2)  # (batch, N, A)
    fy = torch.exp(-((b[None, None, :] - mu_y[:, :, None]) ** 2) / s2)  # (batch, N, B)
    fx = fx / (fx.sum(-1, keepdim=True) + eps)  # (25) Z_X
    fy = fy / (fy.sum(-1, keepdim=True) + eps)  # (26) Z_Y
    return fx, fy


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, 1)) summed over the last dim: ½ Σ(μ² + σ² - log σ² - 1) (eq. 11)."""
    return 0.5 * (mu.pow(2) + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


class Draw(nn.Module):
    """The DRAW network. ``forward(x)`` returns the loss terms; ``steps(...)`` exposes every glimpse."""

    def __init__(self, cfg: DrawConfig):
        super().__init__()
        self.cfg = cfg
        A, B = cfg.width, cfg.height
        read_size = 2 * cfg.read_n**2 if cfg.attention else 2 * A * B
        self.encoder = nn.LSTMCell(read_size + cfg.dec_size, cfg.enc_size)  # (5)
        self.q_mu = nn.Linear(cfg.enc_size, cfg.z_size)  # (6) μ_t
        self.q_log_sigma = nn.Linear(cfg.enc_size, cfg.z_size)  # (6) log σ_t
        self.decoder = nn.LSTMCell(cfg.z_size, cfg.dec_size)  # (7)
        if cfg.attention:
            self.read_attn = nn.Linear(cfg.dec_size, 5)  # (21) for read
            self.write_attn = nn.Linear(cfg.dec_size, 5)  # (21) for write
            self.write_patch = nn.Linear(cfg.dec_size, cfg.write_n**2)  # (28)
            # Init only (the equations are unchanged): σ starts at half the initial stride, so the first
            # glimpses read and paint the whole image smoothly, and the write's 1/γ̂ starts at 2πσ², the
            # inverse of a normalised filter's peak, so an early write moves the canvas about as much as
            # eq. 18's. With the default biases (σ = 1, γ̂ = 1) training sat at the mean image for
            # hundreds of steps: writes were ~100x too weak.
            for linear, n in ((self.read_attn, cfg.read_n), (self.write_attn, cfg.write_n)):
                sigma0 = (max(A, B) - 1) / max(n - 1, 1) / 2
                with torch.no_grad():
                    linear.bias[2] = 2 * math.log(sigma0)  # log σ²
                    if linear is self.write_attn:
                        linear.bias[4] = -math.log(2 * math.pi * sigma0**2)  # log γ̂
        else:
            self.write_patch = nn.Linear(cfg.dec_size, A * B)  # (18)
        if cfg.learned_canvas:
            self.canvas0 = nn.Parameter(torch.full((B, A), math.log(0.05 / 0.95)))  # c_0

    # -- read and write -----------------------------------------------------------------------
    def read(self, x, x_hat, h_dec_prev):
        """Eq. 27 (attention) or eq. 17. x, x_hat: (batch, B, A). Returns (r, params or None)."""
        if not self.cfg.attention:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1), None  # (17)
        p = attention_params(self.read_attn(h_dec_prev), self.cfg.read_n, self.cfg.width, self.cfg.height)
        fx, fy = filterbank(p, self.cfg.width, self.cfg.height)
        glimpse = lambda img: fy @ img @ fx.transpose(1, 2)  # noqa: E731  F_Y x F_X^T: (batch, N, N)
        r = torch.cat([glimpse(x).flatten(1), glimpse(x_hat).flatten(1)], dim=1)
        return p.gamma[:, None] * r, p  # (27)

    def write(self, h_dec):
        """Eq. 29 (attention) or eq. 18. Returns (patch on the canvas (batch, B, A), params or None)."""
        cfg = self.cfg
        w = self.write_patch(h_dec)  # (28) / (18)
        if not cfg.attention:
            return w.view(-1, cfg.height, cfg.width), None
        p = attention_params(self.write_attn(h_dec), cfg.write_n, cfg.width, cfg.height, cfg.write_max_px)
        fx, fy = filterbank(p, cfg.width, cfg.height)
        w = w.view(-1, cfg.write_n, cfg.write_n)
        return fy.transpose(1, 2) @ w @ fx / p.gamma[:, None, None], p  # (29)

    # -- the recurrence -------------------------------------------------------------------------
    def _zeros(self, n, size, like):
        return like.new_zeros(n, size)

    def steps(self, x: torch.Tensor | None = None, n: int | None = None, temperature: float = 1.0, generator=None):
        """Run the T glimpses one at a time, yielding a dict per step.

        With ``x`` (batch, B, A) in [0, 1]: inference (eqs. 3-8), z_t from the posterior.
        Without: generation (eqs. 13-15), z_t ~ N(0, temperature² I).
        Each yielded dict holds ``t``, ``canvas`` (logits c_t), ``write`` and ``read`` params (or
        None), and ``mu``, ``log_sigma`` (inference only).
        """
        cfg = self.cfg
        ref = next(self.parameters())
        n = x.shape[0] if x is not None else n
        c = self.canvas0.expand(n, -1, -1) if cfg.learned_canvas else ref.new_zeros(n, cfg.height, cfg.width)
        h_enc, s_enc = self._zeros(n, cfg.enc_size, ref), self._zeros(n, cfg.enc_size, ref)
        h_dec, s_dec = self._zeros(n, cfg.dec_size, ref), self._zeros(n, cfg.dec_size, ref)
        for t in range(cfg.glimpses):
            check_cancelled()  # a cancelled worker stops here, mid-step, weights untouched
            read_p = mu = log_sigma = None
            if x is not None:
                x_hat = x - torch.sigmoid(c)  # (3)
                r, read_p = self.read(x, x_hat, h_dec)  # (4)
                h_enc, s_enc = self.encoder(torch.cat([r, h_dec], dim=1), (h_enc, s_enc))  # (5)
                mu, log_sigma = self.q_mu(h_enc), self.q_log_sigma(h_enc)  # (6)
                eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
                z = mu + torch.exp(log_sigma) * eps  # reparameterised sample of (6)
            else:
                z = temperature * torch.randn(n, cfg.z_size, generator=generator, device=c.device, dtype=c.dtype)
            h_dec, s_dec = self.decoder(z, (h_dec, s_dec))  # (7) / (14)
            patch, write_p = self.write(h_dec)
            c = cancel_point(c + patch)  # (8) / (15); backward() checks for a cancel here too
            yield {"t": t, "canvas": c, "write": write_p, "read": read_p, "mu": mu, "log_sigma": log_sigma}

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a batch of binary images x (batch, B, A), averaged over the batch (nats)."""
        kls = []
        for s in self.steps(x, generator=generator):
            kls.append(gaussian_kl(s["mu"], s["log_sigma"]))  # (11), one term per glimpse
        recon = F.binary_cross_entropy_with_logits(s["canvas"], x, reduction="none").flatten(1).sum(1)  # (9)
        kl_steps = torch.stack(kls, dim=1)  # (batch, T)
        kl = kl_steps.sum(1)  # (10)
        return {
            "loss": (recon + kl).mean(),  # (12)
            "recon": recon.mean(),
            "kl": kl.mean(),
            "kl_per_step": kl_steps.mean(0),
        }
