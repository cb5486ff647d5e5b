"""The sentence-models engine: the contract of :mod:`engines.base` around
:class:`engines.sentences.model.SentenceModel` (LSTM-LM, sentence VAEs, SA-LSTM, hierarchical AE)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from engines.base import Engine, Shipped
from engines.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SentenceSplit,
    Vocab,
    detokenize,
    load_sentences,
    tokenize,
)
from engines.sentences.model import SentenceConfig, SentenceModel, pad_batch

PASSAGE = 3  # sentences per passage for the hierarchical autoencoder
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: a latent unit is active when Cov_x(E_q[z_u]) > 0.01


@dataclass
class Decoding:
    """A decoder's progress: the words so far of each of ``n`` sentences (``done`` when all ended)."""

    words: list[list[str]]
    done: bool
    z: np.ndarray | None = None  # (n, k) the latents decoded from, when there are any

    @property
    def texts(self) -> list[str]:
        return [detokenize(w) for w in self.words]


def latent_path(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """The homotopy's latents: (1 - t) a + t b at ``steps`` evenly spaced t in [0, 1]; a, b (..., k) give
    (..., steps, k)."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1 - t) * a[..., None, :] + t * b[..., None, :]


class SentencesEngine(Engine):
    name = "sentences"
    title = "Sentences"
    config_class = SentenceConfig
    selection_metric = "nll"
    data_fields = ("vocab",)  # taken from the training data by fit_data
    datasets = ("wordnet", "kjv")
    plot_terms = ("loss", "recon", "kl")
    schedule_terms = ("kl_weight",)
    train_options = {
        "kl_anneal": ("KL annealing", ("none", "sigmoid", "linear")),
        "anneal_steps": ("Annealing steps", (1, 1_000_000)),
        "word_dropout": ("Word dropout", (0.0, 0.95)),
    }
    weights_licence = "WordNet 3.0 licence (Princeton) / public-domain KJV text; weights: MIT"
    default_batch_size = 64
    item_unit = "tokens"
    loss_unit = "nats per sentence"
    data_file_filter = ("Text, one sentence per line (*.txt)", "All files (*)")
    shipped = {
        "sentences-lstm-vae-annealed": Shipped("LSTM-VAE, KL annealing", "lstm_vae_annealed"),
        "sentences-cnn-small": Shipped("CNN-VAE small (2-word context, KJV verses)", "cnn_vae_small"),
        "sentences-cnn-medium": Shipped("CNN-VAE medium (4-word context, KJV verses)", "cnn_vae_medium"),
        "sentences-cnn-large": Shipped("CNN-VAE large (32-word context, KJV verses)", "cnn_vae_large"),
        "sentences-lstm-vae": Shipped("LSTM-VAE, no annealing", "lstm_vae"),
        "sentences-lstm-lm": Shipped("LSTM language model (no latent)", "lstm_lm"),
    }

    def __init__(self, config: SentenceConfig | None = None, device=None):
        super().__init__(config, device)
        self._sync_vocab()

    def build_model(self, config: SentenceConfig) -> SentenceModel:
        return SentenceModel(config)

    def _sync_vocab(self) -> None:
        """The config's word list changed (built, loaded): index it and forget encoded splits."""
        self.vocab = Vocab(self.config.vocab)
        self._encoded: dict[int, tuple[SentenceSplit, list]] = {}

    def load(self, path) -> None:
        super().load(path)
        self._sync_vocab()

    @classmethod
    def presets(cls) -> dict[str, SentenceConfig]:
        anneal = {"kl_anneal": "sigmoid", "anneal_steps": 2000}
        return {
            # Bowman et al. also drop decoder inputs (word dropout); here 0.25-0.4 taught the decoder to end a sentence
            # after "the" (2% against 0.1-0.5% without), so half its greedy homotopy steps dangled (measured; README)
            "vae-annealed": SentenceConfig(kl_anneal="sigmoid", anneal_steps=4000),
            "vae": SentenceConfig(),
            "lm": SentenceConfig(kind="lm"),
            "cnn-small": SentenceConfig(decoder="cnn-small", **anneal),
            "cnn-medium": SentenceConfig(decoder="cnn-medium", **anneal),
            "cnn-large": SentenceConfig(decoder="cnn-large", **anneal),
            "sa-lstm": SentenceConfig(kind="ae"),
            "hier-ae": SentenceConfig(kind="hier", max_len=16),  # verses cut to 15 tokens: see the README
            "tiny": SentenceConfig(emb=16, hidden=24, latent=4, cnn_channels=16, word_dropout=0.3, **anneal),
        }

    @classmethod
    def schedules(cls, config: SentenceConfig, steps: int) -> dict[str, list[tuple[int, float]]]:
        if config.kind != "vae":
            return {}
        return {"kl_weight": [(t, config.kl_weight(t)) for t in range(0, steps + 1, max(1, steps // 200))]}

    @property
    def is_vae(self) -> bool:
        return self.config.kind == "vae"

    # -- data -------------------------------------------------------------------------------------
    @classmethod
    def load_data(cls, name: str) -> tuple[SentenceSplit, SentenceSplit, SentenceSplit]:
        ds = load_sentences(name)
        return ds.train, ds.valid, ds.test

    def fit_data(self, train: SentenceSplit) -> None:
        """A model that has never been trained takes the training split's vocabulary."""
        if int(self.model.steps) == 0 and len(self.config.vocab) <= 4:
            self.config = replace(self.config, vocab=Vocab.build(train.tokens).words)
            self.model = self.build_model(self.config).to(self.device)
            self._sync_vocab()

    def _ids(self, tokens: list[str]) -> list[int]:
        """Word ids of one sentence, cut to what the model reads (``max_len`` - 1 words, then </s>)."""
        return self.vocab.encode(tokens)[: self.config.max_len - 1]

    def encode(self, data: SentenceSplit) -> list:
        """Token ids of every sentence (hier: of every passage), cached per split."""
        key = id(data)
        if key not in self._encoded or self._encoded[key][0] is not data:
            if self.config.kind == "hier":
                ids = [[self._ids(s) for s in p] for p in data.passages(PASSAGE)]
            else:
                ids = [self._ids(s) for s in data.tokens]
            self._encoded[key] = (data, ids)
        return self._encoded[key][1]

    def _tensor(self, items: list) -> torch.Tensor:
        if self.config.kind != "hier":
            return pad_batch(items).to(self.device)
        flat = pad_batch([s for p in items for s in p])
        return flat.reshape(len(items), PASSAGE, -1).to(self.device)

    def batches(self, data: SentenceSplit, batch_size: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
        """Endless batches of sentences of similar length (little padding), in random order."""
        ids = self.encode(data)
        if not ids:
            raise ValueError("no training sentences (hier: no passages of 3 sentences of one document)")
        length = np.array([sum(len(s) for s in x) if self.config.kind == "hier" else len(x) for x in ids])
        batch_size = min(batch_size, len(ids))
        while True:
            order = rng.permutation(len(ids))
            chunk = batch_size * 50  # sort by length within chunks of 50 batches
            groups = []
            for i in range(0, len(order), chunk):
                part = order[i : i + chunk]
                part = part[np.argsort(length[part], kind="stable")]
                groups += [part[j : j + batch_size] for j in range(0, len(part) - batch_size + 1, batch_size)]
            for g in rng.permutation(len(groups)):
                yield self._tensor([ids[i] for i in groups[g]])

    def num_items(self, data: SentenceSplit) -> int:
        return len(self.encode(data))

    def collate(self, data: SentenceSplit, indices, seed: int, epoch: int) -> torch.Tensor:
        """The sentences (passages), padded; word dropout is drawn in the forward pass."""
        ids = self.encode(data)
        return self._tensor([ids[i] for i in indices])

    def batch_items(self, batch: torch.Tensor) -> int:
        return int((batch != PAD_ID).sum())

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: SentenceSplit, samples: int = 1, batch_size: int = 256, seed: int = 0) -> dict[str, float]:
        """Per-sentence (hier: per-passage) test figures: ``nll`` (exact for the LM; recon + KL, an upper
        bound, for a VAE, averaged over ``samples`` draws of z), ``ppl`` = exp(total nll / words, </s>
        included), ``kl``, ``active_units``; hier adds ``word_acc``, the greedy reconstruction accuracy."""
        self.model.eval()
        ids = self.encode(data)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        totals = {"recon": 0.0, "kl": 0.0}
        words, mus = 0, []
        draws = samples if self.is_vae else 1  # the LM's NLL is exact: one pass
        for i in range(0, len(ids), batch_size):
            x = self._tensor(ids[i : i + batch_size])
            words += int((x != PAD_ID).sum())
            for _ in range(draws):
                out = self.model(x, generator=gen)
                totals["recon"] += out["recon"].item() * len(x) / draws
                totals["kl"] += out["kl"].item() * len(x) / draws
            if self.is_vae:
                mus.append(self.model.posterior(x)[0])
        n = max(1, len(ids))
        m = {k: v / n for k, v in totals.items()}
        m["nll"] = m["recon"] + m["kl"]
        m["ppl"] = math.exp(min(50.0, m["nll"] * n / max(1, words)))
        m["active_units"] = 0
        if mus:
            var = torch.cat(mus).var(0)
            m["active_units"] = int((var > ACTIVE_UNIT_THRESHOLD).sum())
        if self.config.kind == "hier":
            m["word_acc"] = self.reconstruction_accuracy(data)
        return m

    # -- latent space -------------------------------------------------------------------------------
    def ids_of(self, texts: list[str]) -> torch.Tensor:
        """Typed sentences as a padded (n, T) batch (an empty sentence reads as <unk>)."""
        return pad_batch([self._ids(tokenize(t)) or [UNK_ID] for t in texts])

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Posterior means μ(x) of sentences (n, k)."""
        if not self.is_vae:
            raise ValueError("only a VAE has a latent space")
        self.model.eval()
        return self.model.posterior(self.ids_of(texts).to(self.device))[0].cpu().numpy()

    def in_vocab(self, text: str) -> tuple[list[str], list[str]]:
        """(tokens, the ones the model does not know and reads as <unk>)."""
        toks = tokenize(text)
        return toks, [t for t in toks if t not in self.vocab.index]

    # -- decoding -----------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(
        self, z: np.ndarray | None = None, n: int = 1, temperature: float = 0.0, seed: int = 0, allow_unk: bool = False
    ) -> Iterator[Decoding]:
        """Write sentences word by word from latents ``z`` (n, k) (a VAE) or from nothing (an LM);
        temperature 0 is greedy. Yields after every word. <unk> is never written unless ``allow_unk``
        (it is 13% of WordNet's words, so a greedy decoder would otherwise write little else)."""
        self.model.eval()
        cfg = self.config
        gen = torch.Generator(device=self.device).manual_seed(seed)
        zt = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=self.device) if z is not None else None
        n = len(zt) if zt is not None else n
        seq = torch.full((n, 1), BOS_ID, dtype=torch.long, device=self.device)
        state, finished = None, torch.zeros(n, dtype=torch.bool, device=self.device)
        for step in range(cfg.max_len):
            if cfg.decoder != "lstm" and self.is_vae:
                h, _ = self.model.decode_states(seq, zt)
            else:
                h, state = self.model.decode_states(seq[:, -1:], zt if state is None else None, state)
            logits = self.model.out(h[:, -1])
            logits[:, PAD_ID] = logits[:, BOS_ID] = -math.inf
            if not allow_unk:
                logits[:, UNK_ID] = -math.inf
            if temperature > 0:
                nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)[:, 0]
            else:
                nxt = logits.argmax(-1)
            nxt = nxt.masked_fill(finished, PAD_ID)
            finished |= nxt == EOS_ID
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done = bool(finished.all()) or step == cfg.max_len - 1
            yield Decoding([self.vocab.decode(s[1:].tolist()) for s in seq.cpu()], done, z)
            if done:
                return

    def decode_all(self, z=None, n=1, temperature=0.0, seed=0) -> list[str]:
        return deque(self.decode(z, n, temperature, seed), maxlen=1)[0].texts

    @torch.no_grad()
    def beam_decode(self, z: np.ndarray, width: int = 5) -> list[str]:
        """Beam search for each latent row of ``z`` (the most likely sentence, length-normalised)."""
        self.model.eval()
        out = []
        for row in np.asarray(z, dtype=np.float32):
            beams = [([BOS_ID], 0.0)]
            finished = []
            for _ in range(self.config.max_len):
                seqs = torch.tensor([b[0] for b in beams], device=self.device)
                zt = torch.as_tensor(row, device=self.device)[None].expand(len(beams), -1)
                h, _ = self.model.decode_states(seqs, zt)  # whole prefix: fine for short sentences
                logp = torch.log_softmax(self.model.out(h[:, -1]), -1)
                logp[:, PAD_ID] = logp[:, BOS_ID] = logp[:, UNK_ID] = -math.inf
                top = torch.topk(logp.flatten(), width)
                nxt = []
                V = logp.shape[1]
                for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                    b, w = divmod(flat, V)
                    cand = (beams[b][0] + [w], beams[b][1] + score)
                    (finished if w == EOS_ID else nxt).append(cand)
                beams = nxt
                if not beams or len(finished) >= width:
                    break
            best = max(finished or beams, key=lambda c: c[1] / len(c[0]))
            out.append(detokenize(self.vocab.decode(best[0][1:])))
        return out

    def interpolate(self, a: str, b: str, steps: int = 8, method: str = "greedy") -> tuple[list[str], np.ndarray]:
        """Bowman et al.'s homotopy: decode z = (1 - t) μ(a) + t μ(b) for ``steps`` evenly spaced t in
        [0, 1] (greedy or beam search). Returns the sentences and the latents."""
        mu = self.encode_texts([a, b])
        z = latent_path(mu[0], mu[1], steps)
        texts = self.beam_decode(z) if method == "beam" else self.decode_all(z)
        return texts, z

    def prior(self, n: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((n, self.config.latent)).astype(np.float32)

    def sample(self, n: int = 8, temperature: float = 1.0, seed: int = 0) -> Iterator[Decoding]:
        """Sentences from the prior z ~ N(0, I) (VAE) or from the LM, word by word."""
        z = self.prior(n, seed) if self.is_vae else None
        return self.decode(z, n, temperature, seed)

    def sample_all(self, n: int = 8, temperature: float = 1.0, seed: int = 0) -> Decoding:
        return deque(self.sample(n, temperature, seed), maxlen=1)[0]

    # -- hierarchical autoencoder -----------------------------------------------------------------
    @torch.no_grad()
    def reconstruct_passage(self, x: torch.Tensor) -> list[list[list[int]]]:
        """Greedy reconstruction of passages (B, S, T) by the hierarchical decoder: word ids per sentence."""
        self.model.eval()
        m, H = self.model, self.config.hidden
        B, S, _ = x.shape
        state = m.hier_paragraph(x)
        prev = torch.zeros(B, 1, H, device=self.device)
        out = [[] for _ in range(B)]
        for _ in range(S):
            y, state = m.sent_decoder(prev, state)
            ws = (y.transpose(0, 1).contiguous(), torch.zeros_like(y.transpose(0, 1)))
            tok = torch.full((B, 1), BOS_ID, dtype=torch.long, device=self.device)
            last = torch.zeros(B, H, device=self.device)
            alive = torch.ones(B, dtype=torch.bool, device=self.device)
            written = []
            for _ in range(self.config.max_len):
                h, ws = m.decoder(m.embed(tok), ws)
                last = torch.where(alive[:, None], h[:, 0], last)  # the state after </s> feeds the next sentence
                logits = m.out(h[:, 0])
                logits[:, PAD_ID] = logits[:, BOS_ID] = -math.inf
                tok = logits.argmax(-1, keepdim=True)
                written.append(tok)
                alive &= tok[:, 0] != EOS_ID
                if not alive.any():
                    break
            for b, row in enumerate(torch.cat(written, 1).tolist()):
                out[b].append(row[: row.index(EOS_ID)] if EOS_ID in row else row)
            prev = last[:, None]
        return out

    def reconstruction_accuracy(self, data: SentenceSplit, limit: int = 300) -> float:
        """Share of words (and </s>) the greedy reconstruction gets right at the right position."""
        ids = self.encode(data)[:limit]
        right = total = 0
        for i in range(0, len(ids), 100):
            part = ids[i : i + 100]
            rec = self.reconstruct_passage(self._tensor(part))
            for p, r in zip(part, rec):
                for sent, guess in zip(p, r):
                    ref, hyp = sent + [EOS_ID], guess + [EOS_ID]
                    right += sum(a == b for a, b in zip(ref, hyp))
                    total += len(ref)
        return right / max(1, total)

    def reconstruct_words(self, sentences: list[str]) -> list[list[str]]:
        """A passage typed by the user (any number of sentences) through the hierarchical AE: the words
        it writes back for each sentence."""
        if self.config.kind != "hier":
            raise ValueError("reconstructing a passage needs the hierarchical autoencoder")
        if not sentences:
            raise ValueError("type at least one sentence")
        rec = self.reconstruct_passage(self.ids_of(sentences).to(self.device)[None])
        return [self.vocab.decode(r) for r in rec[0]]

    def reconstruct_text(self, sentences: list[str]) -> list[str]:
        return [detokenize(w) for w in self.reconstruct_words(sentences)]

    # -- speed ----------------------------------------------------------------------------------------
    def bench(self, repeats: int = 5, batch_size: int = 64) -> dict[str, float]:
        """By the benchmark protocol (engines/benchmark.py): ``train_tokens_per_s`` (and per CPU second), one
        optimiser step on a WordNet training batch per call; ``interpolate_10_ms``: a 10-step greedy homotopy
        between two sentences; medians of ``repeats`` interleaved rounds."""
        from engines.benchmark import measure

        train, _, _ = self.load_data("wordnet")
        e = SentencesEngine(replace(self.config), device=self.device)
        e.model.load_state_dict(self.model.state_dict())
        opt = torch.optim.Adam(e.model.parameters(), lr=1e-4)
        it = e.batches(train, batch_size, np.random.default_rng(0))

        def train_step() -> int:
            b = next(it)
            e.train_step(b, opt)
            return e.batch_items(b)

        methods = {"train_step": train_step}
        if self.is_vae:
            methods["interpolate"] = lambda: (
                self.interpolate("he ran to the store", "the weather was cold and wet", steps=10), 10)[1]  # fmt: skip
        m = measure(methods, repeats=repeats)
        out = {"train_tokens_per_s": m["train_step_per_s"], "train_tokens_per_cpu_s": m["train_step_per_cpu_s"],
               "batch_size": batch_size, "device": str(self.device)}  # fmt: skip
        if self.is_vae:
            out["interpolate_10_ms"] = m["interpolate_wall_ms_median"]
            out["interpolate_10_cpu_ms"] = m["interpolate_cpu_ms_median"]
        return out

    @classmethod
    def evaluate_shipped(cls, samples: int = 4) -> dict[str, Any]:
        from engines.sentences.experiments import evaluate_all

        return evaluate_all(samples=samples)
