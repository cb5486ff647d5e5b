r"""The Neural Statistician (Edwards & Storkey, ICLR 2017): a VAE over *datasets*.

**The idea.** A dataset D = {x_1, ..., x_k} is generated in two stages: a context c for the whole set, then
each item from it. The model learns to compute a *statistic* of a set, the posterior q(c | D), which
summarises what the items have in common (a character's shape, a distribution's family), so that new
items can be generated from it and a new item can be classified by which set it fits.

**Generative model** (Section 3.1, with the stack of latent layers of Section 3.2, L = ``z_layers``):

$c \sim p(c) = \mathcal{N}(0, I)$

$z_L \sim p(z_L \mid c)$, $z_l \sim p(z_l \mid z_{l+1}, c)$ (l = L-1 .. 1), each a diagonal Gaussian

$x \sim p(x \mid z_{1:L}, c)$ (Bernoulli pixels, or a Gaussian for real-valued items)

**Inference** (Section 3.2):

$e_i = E(x_i)$: the shared instance encoder

$q(c \mid D) = \mathcal{N}(\mu_c, \sigma_c^2)$, $(\mu_c, \log \sigma_c^2) = S(\frac{1}{k}\sum_i e_i)$: the statistic
network, pooling by mean

$q(z_L \mid x, c)$, $q(z_l \mid z_{l+1}, x, c)$: the inference network, per item

Mean pooling makes q(c | D) invariant to the order of the items and defined for any set size: sets of a
fixed size in training, any size at test time.

**The per-dataset lower bound** (eq. 3 and Section 3.2):

$\mathcal{L}_D = \sum_{x \in D} \left( \mathbb{E}_q[\log p(x \mid z, c)] - \sum_l \mathbb{E}_q \mathrm{KL}_l \right)
- \mathrm{KL}(q(c \mid D) \,\Vert\, p(c))$

with $\mathrm{KL}_l = \mathrm{KL}(q(z_l \mid z_{l+1}, x, c) \,\Vert\, p(z_l \mid z_{l+1}, c))$.

The loss returned here is $-\mathcal{L}_D / |D|$: per item, the context KL shared out over the set's items (the
paper's weighting of the context term over the set).

**Few-shot classification** (Section 5.3): a query x is given to the support set D_i whose context
posterior is closest to its own, $\mathrm{argmin}_i\, \mathrm{KL}(q(c \mid \{x\}) \,\Vert\, q(c \mid D_i))$.

A second rule, ours (not in the paper): the set whose generative model explains the query best,
$\mathrm{argmax}_i \log p(x \mid D_i)$, with $\log p(x \mid D_i)$ approximated by the item's bound at
$c = \mu_c(D_i)$ (``item_bound``); by Bayes' rule with equal priors, $P(D_i \mid x) \propto p(x \mid D_i)$.
Why: on the held-out glyph scripts it classifies better than the KL of contexts, most of all with the
convolutional decoder, because a single drawing's context still holds its face and ink while the decoder's
z can absorb them (README, Neural Statistician). A model trained on sets turned by multiples of 90° (as
Vinyals et al. augmented Omniglot) averages this bound over the four turns of the query and of every set,
each turn a character it has learnt to model: four estimates of the same comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class StatisticianConfig:
    x_dim: int = 784  # items flattened: 28 x 28 pixels, or 1 for the paper's 1-D synthetic sets
    likelihood: str = "bernoulli"  # "bernoulli" (binary images) or "gaussian" (real values, learned variance)
    hidden: int = 256  # width of every MLP
    c_dim: int = 64  # the context (the paper: 512 for Omniglot, 3 for the synthetic sets)
    z_dim: int = 16  # each latent layer
    z_layers: int = 2  # the stack of Section 3.2
    sample_size: int = 5  # items per training set
    # > 0: each training batch's set size is drawn from [min_sample_size, sample_size] instead, so the
    # statistic network also sees the sets of one a 1-shot episode has. Not the default: on the glyphs it
    # lowered 5-way 1-shot validation accuracy (0.83 against 0.89 at step 6,000; the context carries less)
    min_sample_size: int = 0
    # "turns": each training set is turned as a whole by 0, 90, 180 or 270 degrees (a new class each; items stay
    # alike within the set), the augmentation Vinyals et al. (2016) gave Omniglot's 1,200 training characters.
    # Ours: on by the "conv-turns" preset only; the glyphs' 1,313 training characters overfit (train loss 93 against
    # valid 118 nats after 48,000 steps), and four times the classes is the cheapest cure. Training only.
    augment: str = "none"
    # "conv": a convolutional instance encoder for images (x_dim = side²), as the paper's; "mlp" for vectors
    network: str = "mlp"
    # the decoder p(x | z, c) for images: "mlp", or "conv" (a linear layer to 64 maps of 7 x 7, then two transposed
    # 4 x 4 convolutions of stride 2 up to 28 x 28): the paper's kind, for strokes sharper than the MLP's blobs
    decoder: str = "mlp"
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "x_dim": (1, 10**5), "likelihood": ("bernoulli", "gaussian"), "hidden": (1, 4096), "c_dim": (1, 4096),
        "z_dim": (1, 1024), "z_layers": (1, 16), "sample_size": (1, 10**4), "min_sample_size": (0, 10**4),
        "augment": ("none", "turns"), "network": ("mlp", "conv"), "decoder": ("mlp", "conv"),
    }  # fmt: skip


def mlp(i: int, h: int, o: int, depth: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(i, h), nn.ELU()]
        i = h
    return nn.Sequential(*layers, nn.Linear(i, o))


class ConvEncoder(nn.Module):
    """Images (N, side²) -> features (N, out): three stride-2 3 x 3 convolutions (28 -> 14 -> 7 -> 4), as the
    paper's Omniglot encoder does with fewer layers (a CPU budget), then a linear layer."""

    def __init__(self, side: int, out: int):
        super().__init__()
        self.side = side
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ELU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ELU(),
            nn.Conv2d(64, 128, 3, 2, 1), nn.ELU(), nn.Flatten(),
        )  # fmt: skip
        n = -(-side // 8)
        self.fc = nn.Linear(128 * n * n, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        h = self.net(x.reshape(-1, 1, self.side, self.side))
        return self.fc(h).reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """(N, in) -> (N, channels * side²): a linear layer to 64 maps of (side / 4)², then two transposed 4 x 4
    convolutions of stride 2 (7 -> 14 -> 28 for 28 x 28 images), cropped to side x side; channel-major, so
    ``chunk(2, -1)`` splits a Gaussian's two channels."""

    def __init__(self, i: int, side: int, channels: int = 1):
        super().__init__()
        self.side, self.n = side, -(-side // 4)
        self.fc = nn.Sequential(nn.Linear(i, 64 * self.n * self.n), nn.ELU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ELU(), nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )  # fmt: skip

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        lead = h.shape[:-1]
        y = self.net(self.fc(h).reshape(-1, 64, self.n, self.n))[..., : self.side, : self.side]
        return y.reshape(*lead, -1)


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) || N(μ_p, σ_p²)) summed over the last dimension (both diagonal)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


def sample(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * (0.5 * logvar).exp()


class NeuralStatistician(nn.Module):
    def __init__(self, cfg: StatisticianConfig):
        super().__init__()
        self.cfg = cfg
        H, C, Z, L = cfg.hidden, cfg.c_dim, cfg.z_dim, cfg.z_layers
        if cfg.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"unknown likelihood '{cfg.likelihood}' (choose from: bernoulli, gaussian)")
        if cfg.network not in ("mlp", "conv"):
            raise ValueError(f"unknown network '{cfg.network}' (choose from: mlp, conv)")
        side = round(cfg.x_dim**0.5)
        if cfg.decoder not in ("mlp", "conv"):
            raise ValueError(f"unknown decoder '{cfg.decoder}' (choose from: mlp, conv)")
        if "conv" in (cfg.network, cfg.decoder) and side * side != cfg.x_dim:
            raise ValueError(f"a conv network needs square images: x_dim {cfg.x_dim} is not a square")
        conv = cfg.network == "conv"
        self.encoder = ConvEncoder(side, H) if conv else mlp(cfg.x_dim, H, H)  # E: the shared instance encoder
        self.statistic = mlp(H, H, 2 * C)  # S: pooled encodings -> (μ_c, log σ_c²)
        # p(z_l | z_{l+1}, c) and q(z_l | z_{l+1}, x, c), top layer first (the top one sees no z above it)
        self.prior = nn.ModuleList(mlp(C + (Z if i else 0), H, 2 * Z) for i in range(L))
        self.posterior = nn.ModuleList(mlp(H + C + (Z if i else 0), H, 2 * Z) for i in range(L))
        out = cfg.x_dim * (2 if cfg.likelihood == "gaussian" else 1)
        if cfg.decoder == "conv":
            self.decoder = ConvDecoder(C + L * Z, side, 2 if cfg.likelihood == "gaussian" else 1)
        else:
            self.decoder = mlp(C + L * Z, H, out)

    # -- the statistic network -------------------------------------------------------------------------
    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(c | D) for a batch of sets x (B, k, x_dim): (μ_c, log σ_c²), each (B, c_dim). Any k >= 1."""
        return self.pool(self.encoder(x))

    def pool(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded items (B, k, H) -> q(c | D): pool by element-wise mean (order-free, any set size), then S."""
        mu, logvar = self.statistic(e.mean(1)).chunk(2, -1)
        return mu, logvar.clamp(-12, 8)

    # -- the bound -----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Sets x (B, k, x_dim) -> the loss -L_D / |D| averaged over the batch, and its terms per item."""
        B, k, _ = x.shape
        e = self.encoder(x)  # (B, k, H)
        mu_c, logvar_c = self.pool(e)
        c = sample(mu_c, logvar_c, generator)
        kl_c = gaussian_kl(mu_c, logvar_c, torch.zeros_like(mu_c), torch.zeros_like(logvar_c))  # (B,)
        cx = c[:, None].expand(B, k, -1)
        zs, kl_z = self.latents(e, cx, generator)
        recon = -self.log_likelihood(x, self.decoder(torch.cat([cx, *zs], -1)))  # (B, k)
        per_item = recon.mean(1) + kl_z.mean(1) + kl_c / k  # -L_D / |D|
        return {"loss": per_item.mean(), "recon": recon.mean(), "kl_z": kl_z.mean(), "kl_c": (kl_c / k).mean()}

    def latents(
        self, e: torch.Tensor, c: torch.Tensor, generator: torch.Generator | None = None, at_means: bool = False
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The z stack of items with encodings e (..., H) given contexts c (..., c_dim), top layer first: each z_l
        drawn from q(z_l | z_{l+1}, x, c) (or its mean, ``at_means``), and sum_l KL_l per item (...)."""
        zs: list[torch.Tensor] = []
        kl = torch.zeros(e.shape[:-1], device=e.device, dtype=e.dtype)
        prev = None
        for prior, post in zip(self.prior, self.posterior):
            p_in = c if prev is None else torch.cat([c, prev], -1)
            mu_p, logvar_p = prior(p_in).chunk(2, -1)
            mu_q, logvar_q = post(torch.cat([e, p_in], -1)).chunk(2, -1)
            logvar_q = logvar_q.clamp(-12, 8)
            prev = mu_q if at_means else sample(mu_q, logvar_q, generator)
            kl = kl + gaussian_kl(mu_q, logvar_q, mu_p, logvar_p.clamp(-12, 8))
            zs.append(prev)
        return zs, kl

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.cfg.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        mu, logvar = out.chunk(2, -1)
        logvar = logvar.clamp(-10, 6)
        return -0.5 * (logvar + (x - mu) ** 2 / logvar.exp() + torch.log(torch.tensor(2 * torch.pi))).sum(-1)

    # -- generation and classification ---------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, c: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new items for each context c (B, c_dim): Bernoulli means or Gaussian means, (B, n, x_dim)."""
        B = c.shape[0]
        cx = c[:, None].expand(B, n, -1)
        zs, prev = [], None
        for prior in self.prior:
            p_in = cx if prev is None else torch.cat([cx, prev], -1)
            mu_p, logvar_p = prior(p_in).chunk(2, -1)
            prev = sample(mu_p, logvar_p.clamp(-12, 8), generator)
            zs.append(prev)
        out = self.decoder(torch.cat([cx, *zs], -1))
        return torch.sigmoid(out) if self.cfg.likelihood == "bernoulli" else out.chunk(2, -1)[0]

    @torch.no_grad()
    def item_bound(self, x: torch.Tensor, e: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The item's bound given a context, log p(x | z, c) - sum_l KL_l (the per-item part of eq. 3), evaluated at
        the means of q(z_l | z_{l+1}, x, c) so that it is deterministic: items x (N, x_dim), their encodings
        e = E(x) (N, H), contexts c (N, c_dim) -> (N,) nats. With c = the mean of q(c | D) this scores how well
        a set's generative model explains a new item: log p(x | D), up to the bound's gap."""
        zs, kl = self.latents(e, c, at_means=True)
        return self.log_likelihood(x, self.decoder(torch.cat([c, *zs], -1))) - kl

    @torch.no_grad()
    def classify(self, queries: torch.Tensor, supports: list[torch.Tensor]) -> torch.Tensor:
        """Section 5.3: KL(q(c | {x}) || q(c | D_i)) for each query (Q, x_dim) and support set D_i (k_i, x_dim);
        returns (Q, n_sets), the smallest KL marks the predicted set."""
        mu_x, lv_x = self.context(queries[:, None])  # each query as a set of one
        cols = []
        for s in supports:
            mu_s, lv_s = self.context(s[None])
            cols.append(gaussian_kl(mu_x, lv_x, mu_s.expand_as(mu_x), lv_s.expand_as(lv_x)))
        return torch.stack(cols, 1)
