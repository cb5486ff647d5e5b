r"""Sentence models: an LSTM language model, Bowman et al.'s sentence VAE (2015), Yang et al.'s
dilated-CNN decoders (2017), Dai & Le's sequence autoencoder (2015) and Li, Luong & Jurafsky's
hierarchical paragraph autoencoder (2015).

**LSTM language model** (the baseline): $p(x) = \prod_t p(x_t \mid x_{<t})$, an LSTM over the word embeddings
of x_<t with a softmax on its state. -log p(x) is exact, so it is the reference every VAE's bound
is compared with.

**Sentence VAE** (Bowman et al., Section 3). An LSTM encoder reads x; its last state gives the
Gaussian posterior $q(z|x) = \mathcal{N}(\mu(x), \mathrm{diag}\,\sigma^2(x))$ of a latent $z \in \mathbb{R}^k$;
the decoder is the language model above with its initial state set from z, $h_0 = \tanh(W z + b)$. Training
maximises the ELBO

$\log p(x) \geq \mathbb{E}_q[\log p(x|z)] - \mathrm{KL}(q(z|x) \,\Vert\, \mathcal{N}(0, I))$ (Bowman eq. 1)

so ``nll`` = reconstruction + KL is an upper bound on -log p(x). An LSTM decoder is strong enough
to model x without z: the optimiser then drives KL to 0 and z is ignored ("posterior collapse").
Two remedies from the paper (Section 3.1):

- *KL cost annealing*: the loss is $\mathrm{recon} + \beta_t \cdot \mathrm{KL}$ with $\beta_t$ rising from 0 to 1 (a
sigmoid in the
  paper's Figure 2, or linear), so the encoder learns to put information in z before it is charged.
- *Word dropout*: each decoder input word is replaced by ``<unk>`` with probability p, so the decoder
  must lean on z to predict what comes next.

**Dilated-CNN decoders** (Yang et al., Section 3). The decoder is a stack of causal dilated 1-D
convolutions (kernel k, dilations d_1, d_2, ...) in residual blocks, with z concatenated to the input
at every position. A stack sees $1 + \sum_i (k - 1) d_i$ previous words: a small context cannot model the
sentence alone, so it uses z (KL > 0) and, being close to an LM, gives an NLL close to the LSTM's;
a context as long as the sentence behaves like the LSTM and collapses. The paper's stacks (kernel 3;
[1, 2, 4], [1, 2, 4, 8, 16], twice [1, 2, 4, 8, 16]) were sized for Yahoo/Yelp reviews of 80-100
words; ours keep doubling dilations with kernel 2 and are sized for sentences and verses:
small [1, 0, 0, 0, 0] sees 2 words, medium [1, 2, 0, 0, 0] 4 words, large [1, 2, 4, 8, 16] 32 words (all of a
KJV verse, 25 words on average); all three are five blocks deep. Ours: trained on KJV verses, where they show the
paper's order; on WordNet's 6-word sentences (2 words is a third of one) the order was reversed (README).

**Sequence autoencoder** (Dai & Le, Section 2). One LSTM reads x, then, from that state, is trained
to output x again (the same weights read and write: the paper's setting). Its embedding and LSTM
then initialise an LSTM classifier (label from the last state) fine-tuned on few labelled
sentences: "SA-LSTM" against the same classifier from random initialisation.

**Hierarchical autoencoder** (Li, Luong & Jurafsky, Section 3.1, the model without attention). A
word-level LSTM turns each sentence into a vector e_s (its last state); a sentence-level LSTM over
e_1..e_S gives the paragraph vector. Decoding, a sentence-level LSTM starts from the paragraph
vector; its state for sentence s starts a word-level LSTM that writes sentence s, whose last
state is the sentence-level decoder's next input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from engines.data.text import BOS_ID, EOS_ID, PAD_ID, UNK_ID

KINDS = ("lm", "vae", "ae", "hier")
# Five blocks each, so the three decoders have the same depth and differ only in what they see; a dilation of 0 is a
# position-wise block (a 1x1 convolution). Ours: Yang et al.'s stacks differ in depth too; held equal here, so a
# difference in KL is the context's (the README has what it measured: the paper's order on KJV verses).
CNN_SIZES = {"small": (1, 0, 0, 0, 0), "medium": (1, 2, 0, 0, 0), "large": (1, 2, 4, 8, 16)}


@dataclass
class SentenceConfig:
    kind: str = "vae"  # lm | vae | ae (Dai & Le's sequence autoencoder) | hier (Li et al.)
    decoder: str = "lstm"  # lstm | cnn-small | cnn-medium | cnn-large (vae only)
    emb: int = 128
    hidden: int = 192  # Bowman et al. used 191 units
    latent: int = 32
    cnn_channels: int = 192
    cnn_kernel: int = 2
    word_dropout: float = 0.0  # probability of replacing a decoder input word by <unk>
    kl_anneal: str = "none"  # none | sigmoid | linear
    anneal_steps: int = 4000  # steps for β to reach 1
    max_len: int = 32  # longest sentence decoded
    vocab: list[str] = field(default_factory=lambda: ["<pad>", "<s>", "</s>", "<unk>"])
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "kind": ("lm", "vae", "ae", "hier"), "decoder": ("lstm", "cnn-small", "cnn-medium", "cnn-large"),
        "emb": (1, 4096), "hidden": (1, 4096), "latent": (1, 1024), "cnn_channels": (1, 4096), "cnn_kernel": (1, 16),
        "word_dropout": (0.0, 1.0), "kl_anneal": ("none", "sigmoid", "linear"), "anneal_steps": (1, 10**8),
        "max_len": (1, 1000),
    }  # fmt: skip

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind '{self.kind}' (choose from: {', '.join(KINDS)})")
        if self.decoder != "lstm" and self.decoder.removeprefix("cnn-") not in CNN_SIZES:
            raise ValueError(f"unknown decoder '{self.decoder}' (lstm, cnn-small, cnn-medium, cnn-large)")
        if self.kl_anneal not in ("none", "sigmoid", "linear"):
            raise ValueError(f"unknown KL annealing '{self.kl_anneal}' (none, sigmoid, linear)")
        self.vocab = list(self.vocab)

    @property
    def dilations(self) -> tuple[int, ...]:
        return CNN_SIZES[self.decoder.removeprefix("cnn-")] if self.decoder != "lstm" else ()

    @property
    def context(self) -> int | None:
        """How many previous words a CNN decoder sees (None: unbounded, an LSTM)."""
        return 1 + sum((self.cnn_kernel - 1) * d for d in self.dilations) if self.dilations else None

    def kl_weight(self, step: int) -> float:
        """β_t of KL cost annealing (Bowman et al. Fig. 2): 0 → 1 over ``anneal_steps``."""
        if self.kl_anneal == "none":
            return 1.0
        frac = step / max(1, self.anneal_steps)
        if self.kl_anneal == "linear":
            return min(1.0, frac)
        return float(torch.sigmoid(torch.tensor(10.0 * (frac - 0.5))))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, I)) per dimension: ½ (μ² + σ² - log σ² - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


def word_dropout(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bowman et al. 3.1: replace decoder input words (not <s> or padding) by <unk> with probability p."""
    if p <= 0:
        return x
    drop = torch.rand(x.shape, device=x.device, generator=generator) < p
    drop &= (x != PAD_ID) & (x != BOS_ID)
    return x.masked_fill(drop, UNK_ID)


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """Targets (B, T) ending in </s> → decoder inputs <s> x_1 .. x_{T-1}."""
    bos = torch.full_like(x[:, :1], BOS_ID)
    return torch.cat([bos, x[:, :-1]], dim=1).masked_fill(x == PAD_ID, PAD_ID)


def read_last_state(embed: nn.Embedding, lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``lstm`` over the embedded (B, T) ids, padding skipped; its state after each sequence's last
    word, (h, c), each (B, H)."""
    lengths = (x != PAD_ID).sum(1).clamp(min=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(embed(x), lengths, batch_first=True, enforce_sorted=False)
    _, (h, c) = lstm(packed)
    return h[0], c[0]


class CausalConvBlock(nn.Module):
    """Yang et al.'s residual block: ReLU → causal dilated conv → ReLU → 1x1, added to the input."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        kernel = kernel if dilation else 1  # dilation 0: a position-wise block, seeing nothing earlier
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=max(dilation, 1))
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.conv(F.pad(F.relu(h), (self.pad, 0)))
        return h + self.out(F.relu(y))


class SentenceModel(nn.Module):
    """All four kinds share the embedding, the encoder LSTM and the output layer; ``forward(batch)``
    returns the loss terms (nats per sentence) with a scalar ``loss``."""

    def __init__(self, cfg: SentenceConfig):
        super().__init__()
        self.cfg = cfg
        V, E, H, Z = len(cfg.vocab), cfg.emb, cfg.hidden, cfg.latent
        self.embed = nn.Embedding(V, E, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(E, H, batch_first=True)  # also the SA's decoder and the classifier's LSTM
        # output layer: H → E, then the (tied) word embeddings; 8x fewer multiply-adds than H → V on CPU
        self.proj = nn.Linear(H, E)
        # steps trained so far: drives KL annealing, travels with checkpoints (a buffer, so DDP syncs it)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        if cfg.kind == "vae":
            self.to_mu, self.to_logvar = nn.Linear(H, Z), nn.Linear(H, Z)
            if cfg.decoder == "lstm":
                self.z_to_h = nn.Linear(Z, 2 * H)
                self.decoder = nn.LSTM(E, H, batch_first=True)
            else:
                C = cfg.cnn_channels
                self.cnn_in = nn.Conv1d(E + Z, C, 1)
                self.blocks = nn.ModuleList(CausalConvBlock(C, cfg.cnn_kernel, d) for d in cfg.dilations)
                self.cnn_out = nn.Conv1d(C, H, 1)
        elif cfg.kind == "lm":
            self.decoder = nn.LSTM(E, H, batch_first=True)
        elif cfg.kind == "hier":
            self.sent_encoder = nn.LSTM(H, H, batch_first=True)
            self.sent_decoder = nn.LSTM(H, H, batch_first=True)
            self.decoder = nn.LSTM(E, H, batch_first=True)

    # -- pieces ----------------------------------------------------------------------------------------
    def encode_states(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read (B, T) token ids (padded, ending in </s>); the LSTM's last (h, c), each (B, H)."""
        return read_last_state(self.embed, self.encoder, x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.encode_states(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode_states(self, inputs: torch.Tensor, z: torch.Tensor | None, state=None) -> tuple[torch.Tensor, object]:
        """Decoder states (B, T, H) for inputs (B, T) (``out`` makes them logits); and the LSTM state.
        For a CNN decoder ``inputs`` must hold the whole prefix (it is recomputed: sentences are short)."""
        cfg = self.cfg
        e = self.embed(inputs)
        if cfg.kind == "vae" and cfg.decoder != "lstm":
            zz = z[:, None, :].expand(-1, e.shape[1], -1)
            h = self.cnn_in(torch.cat([e, zz], dim=2).transpose(1, 2))
            for block in self.blocks:
                h = block(h)
            return F.relu(self.cnn_out(F.relu(h))).transpose(1, 2), None
        if state is None and z is not None:
            h0, c0 = torch.tanh(self.z_to_h(z)).chunk(2, dim=1)
            state = (h0[None].contiguous(), c0[None].contiguous())
        lstm = self.encoder if cfg.kind == "ae" else self.decoder
        y, state = lstm(e, state)
        return y, state

    def out(self, y: torch.Tensor) -> torch.Tensor:
        """Decoder states (..., H) → next-word logits (..., V) (Press & Wolf's tied output embedding)."""
        return self.proj(y) @ self.embed.weight.t()

    def token_nll(self, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log p of each target word from decoder states (B, T, H); 0 at padding; (B, T).
        Logits are computed only where there is a word (padding costs nothing)."""
        keep = targets != PAD_ID
        nll = torch.zeros(targets.shape, device=targets.device, dtype=states.dtype)
        nll[keep] = F.cross_entropy(self.out(states[keep]), targets[keep], reduction="none")
        return nll

    def kl_weight(self) -> float:
        return self.cfg.kl_weight(int(self.steps))

    # -- training objective -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """x: (B, T) targets ending in </s> (hier: (B, S, T)). Loss terms are means per sentence
        (hier: per passage); ``loss`` is what is minimised."""
        cfg = self.cfg
        if self.training:
            self.steps += 1
        if cfg.kind == "hier":
            return self._hier_forward(x)
        inputs = shift_right(x)
        if self.training:
            inputs = word_dropout(inputs, cfg.word_dropout, generator)
        out: dict[str, torch.Tensor] = {}
        if cfg.kind == "vae":
            mu, logvar = self.posterior(x)
            z = mu + torch.randn(mu.shape, device=mu.device, generator=generator) * (0.5 * logvar).exp()
            kl_dims = gaussian_kl(mu, logvar)
            kl = kl_dims.sum(1).mean()
            states, _ = self.decode_states(inputs, z)
        else:  # the LM starts from zeros, the sequence autoencoder from the state after reading x
            state = tuple(s[None] for s in self.encode_states(x)) if cfg.kind == "ae" else None
            states, _ = self.decode_states(inputs, None, state)
            kl = torch.zeros((), device=x.device)
        recon = self.token_nll(states, x).sum(1).mean()
        beta = torch.tensor(self.kl_weight() if cfg.kind == "vae" else 0.0, device=x.device)
        out["loss"] = recon + beta * kl
        out["recon"], out["kl"], out["nll"], out["kl_weight"] = recon, kl, recon + kl, beta
        return out

    def _hier_forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        B, S, T = x.shape
        flat = x.reshape(B * S, T)
        nll = self.token_nll(self.hier_states(x), flat).sum(1).reshape(B, S).sum(1).mean()
        zero = torch.zeros((), device=x.device)
        return {"loss": nll, "recon": nll, "nll": nll, "kl": zero, "kl_weight": zero}

    def hier_paragraph(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, T) → the paragraph vector: the sentence-level encoder's last (h, c)."""
        B, S, T = x.shape
        e, _ = self.encode_states(x.reshape(B * S, T))
        _, (h, c) = self.sent_encoder(e.reshape(B, S, -1))
        return h, c

    def hier_states(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced word-decoder states (B*S, T, H) of the hierarchical decoder."""
        B, S, T = x.shape
        state = self.hier_paragraph(x)
        flat = x.reshape(B * S, T)
        inp = shift_right(flat)
        # the sentence decoder's input for sentence s is the word decoder's last state after sentence s-1;
        # with teacher forcing that needs the word decoder run sentence by sentence
        prev = torch.zeros(B, 1, self.cfg.hidden, device=x.device)
        states = []
        for s in range(S):
            y, state = self.sent_decoder(prev, state)
            h0 = (y.transpose(0, 1).contiguous(), torch.zeros_like(y.transpose(0, 1)))
            xs = inp.reshape(B, S, T)[:, s]
            ys, _ = self.decoder(self.embed(xs), h0)
            states.append(ys)
            lengths = (x[:, s] != PAD_ID).sum(1).clamp(min=1)
            prev = ys[torch.arange(B), lengths - 1][:, None]
        return torch.stack(states, 1).reshape(B * S, T, -1)


class SentenceClassifier(nn.Module):
    """Dai & Le's classifier: embedding → LSTM → linear on the last state. ``load_pretrained`` copies
    the embedding and LSTM of a sequence autoencoder (SA-LSTM); otherwise they start random."""

    def __init__(self, vocab_size: int, emb: int, hidden: int, classes: int = 2, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(emb, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, classes)

    def load_pretrained(self, model: SentenceModel) -> None:
        self.embed.load_state_dict(model.embed.state_dict())
        self.encoder.load_state_dict(model.encoder.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = read_last_state(self.embed, self.encoder, x)
        return self.head(self.drop(h))


def pad_batch(seqs: list[list[int]], max_len: int | None = None) -> torch.Tensor:
    """Token-id lists → (B, T) with </s> appended and <pad> after it."""
    seqs = [s[: max_len - 1] if max_len else s for s in seqs]
    T = max(len(s) for s in seqs) + 1
    out = torch.full((len(seqs), T), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        out[i, len(s)] = EOS_ID
    return out
