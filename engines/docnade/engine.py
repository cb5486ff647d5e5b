"""The DocNADE engine: the contract of :mod:`engines.base` around :class:`engines.docnade.model.DocNade`
(DocNADE and DocNADE-LM), with LDA (gensim) as the peer in ``eval docnade``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from engines.base import Engine, Shipped
from engines.data import documents
from engines.distributed import item_rng
from engines.docnade.model import DocNade, DocNadeConfig, perplexity, shuffle_words

RECALL_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass
class WordDocs:
    """Documents as content words in reading order, with newsgroup labels (-1: none)."""

    words: list[list[str]]
    labels: np.ndarray
    titles: list[str]

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class DocScore:
    """One document under the model: each known word's log-probability given the words before it."""

    words: list[str]  # the document's content words in vocabulary, reading order
    log_probs: np.ndarray  # (n,) nats
    unknown: list[str]  # content words outside the vocabulary (not scored)

    @property
    def perplexity(self) -> float:
        return float(math.exp(-self.log_probs.mean())) if len(self.log_probs) else float("nan")


def corpus_splits(corpus: documents.DocumentCorpus) -> tuple[WordDocs, WordDocs, WordDocs]:
    out = []
    for split in ("train", "valid", "test"):
        ids = corpus.subset(split=split)
        ps = [corpus.passages[i] for i in ids]
        out.append(
            WordDocs([corpus.content_words(p.text) for p in ps], np.array([p.label for p in ps]), [p.title for p in ps])
        )
    return tuple(out)


class DocNadeEngine(Engine):
    name = "docnade"
    title = "DocNADE"
    config_class = DocNadeConfig
    selection_metric = "ppl"
    data_fields = ("vocab", "counts")  # taken from the training data by fit_data
    datasets = ("wiki+newsgroups",)
    plot_terms = ("ppl",)  # the training batch's perplexity; validation points are the valid split's
    weights_licence = "CC BY-SA 3.0 (trained on Wikipedia text) and 20 Newsgroups posts; weights: MIT"
    default_batch_size = 64
    item_unit = "words"
    loss_unit = "perplexity: exp of nats per word"
    data_file_filter = None  # a folder, not a file
    data_folder = "Open a folder of .txt / .md files…"
    shipped: ClassVar[dict[str, Shipped]] = {
        "docnade-wiki": Shipped("DocNADE (H = 50, tree softmax)", "docnade"),
        "docnade-lm-wiki": Shipped("DocNADE-LM (4-gram term)", "docnade_lm"),
    }

    def __init__(self, config: DocNadeConfig | None = None, device=None):
        super().__init__(config, device)
        # id(data) -> (data, its documents as word ids, those that keep a word)
        self._encoded: dict[int, tuple[Any, list[np.ndarray], list[np.ndarray]]] = {}

    def build_model(self, config: DocNadeConfig) -> DocNade:
        return DocNade(config)

    @classmethod
    def presets(cls) -> dict[str, DocNadeConfig]:
        return {
            "default": DocNadeConfig(hidden=50, sparsity=0.8),  # the shipped model; see DocNadeConfig.sparsity
            "paper": DocNadeConfig(hidden=50),
            "docnade-lm": DocNadeConfig(hidden=50, lm_order=4, lm_dim=16, lm_dropout=0.5),  # see lm_dropout
            "full-softmax": DocNadeConfig(hidden=50, softmax="full"),
            "tiny": DocNadeConfig(vocab_size=300, hidden=8, max_words=64),
        }

    @classmethod
    def load_data(cls, name: str) -> tuple[WordDocs, WordDocs, WordDocs]:
        if name in ("wiki+newsgroups", "documents"):
            return corpus_splits(documents.load_corpus())
        stop = documents.load_corpus(()).stopwords
        passages, _skipped = documents.read_folder(name, stop)
        rng = np.random.default_rng(0)
        split = rng.choice(["train", "valid", "test"], size=len(passages), p=[0.9, 0.05, 0.05])
        for p, s in zip(passages, split):
            p.split = str(s)
        return corpus_splits(documents.DocumentCorpus(passages, stop))

    # -- vocabulary ---------------------------------------------------------------------------------
    @property
    def vocab(self) -> list[str]:
        return self.config.vocab

    def fit_data(self, train: WordDocs) -> None:
        """A model that has never been trained takes the training split's most frequent words."""
        if self.config.vocab:
            return
        from collections import Counter

        counts = Counter(w for d in train.words for w in d)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.config.vocab_size]
        if len(top) < 2:
            raise ValueError("the training documents hold fewer than two distinct words")
        self.config = replace(self.config, vocab=[w for w, _ in top], counts=[c for _, c in top])
        self.model = self.build_model(self.config).to(self.device)
        self._encoded.clear()

    def encode_words(self, ws: list[str]) -> np.ndarray:
        index = self._index()
        return np.asarray([index[w] for w in ws if w in index], np.int64)

    def _index(self) -> dict[str, int]:
        if getattr(self, "_index_for", None) is not self.config.vocab:
            self._index_cache = {w: i for i, w in enumerate(self.config.vocab)}
            self._index_for = self.config.vocab
        return self._index_cache

    def _cached(self, data: WordDocs) -> tuple[Any, list[np.ndarray], list[np.ndarray]]:
        key = id(data)
        if key not in self._encoded or self._encoded[key][0] is not data:
            docs = [self.encode_words(d) for d in data.words]
            self._encoded[key] = (data, docs, [d for d in docs if len(d)])
        return self._encoded[key]

    def encode(self, data: WordDocs) -> list[np.ndarray]:
        return self._cached(data)[1]

    def _pad(self, docs: list[np.ndarray]) -> dict[str, torch.Tensor]:
        D = max(1, max(len(d) for d in docs))
        v = np.zeros((len(docs), D), np.int64)
        for i, d in enumerate(docs):
            v[i, : len(d)] = d
        lengths = torch.tensor([len(d) for d in docs])
        return {"v": torch.from_numpy(v).to(self.device), "lengths": lengths.to(self.device)}

    # -- training -----------------------------------------------------------------------------------
    def batches(self, data: WordDocs, batch_size: int, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """Endless batches of documents; DocNADE sees a fresh random word order each time (Section 3.2),
        DocNADE-LM the real order. Documents longer than ``max_words`` give a random window of them."""
        docs = self.nonempty(data)
        if not docs:
            raise ValueError("no training document has a word of the vocabulary")
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        while True:
            pick = rng.choice(len(docs), size=min(batch_size, len(docs)), replace=False)
            batch = self._pad([self._window(docs[i], rng) for i in pick])
            if self.config.lm_order <= 1:
                batch["v"] = shuffle_words(batch["v"].cpu(), batch["lengths"].cpu(), gen).to(self.device)
            yield batch

    def num_items(self, data: WordDocs) -> int:
        return len(self.nonempty(data))

    def collate(self, data: WordDocs, indices, seed: int, epoch: int) -> dict[str, torch.Tensor]:
        """The documents; a long one gives a random window, and DocNADE's word order is drawn per
        document, each from the document's own generator (the same on any rank)."""
        docs, chosen = self.nonempty(data), []
        for i in indices:
            rng = item_rng(seed, epoch, i)
            d = self._window(docs[i], rng)
            chosen.append(d if self.config.lm_order > 1 else d[rng.permutation(len(d))])
        return self._pad(chosen)

    def _window(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A document longer than ``max_words``: a random window of that many words."""
        m = self.config.max_words
        if len(d) <= m:
            return d
        s = int(rng.integers(len(d) - m + 1))
        return d[s : s + m]

    def nonempty(self, data: WordDocs) -> list[np.ndarray]:
        """The encoded documents that keep a word (cached with the encoding: collate asks every step)."""
        return self._cached(data)[2]

    def batch_items(self, batch) -> int:
        return int(batch["lengths"].sum())

    def train_step(self, batch, optimizer, grad_clip: float | None = 10.0, **kw):
        out = super().train_step(batch, optimizer, grad_clip, **kw)
        out["ppl"] = math.exp(min(out["nll_per_word"], 50.0))
        return out

    # -- figures ------------------------------------------------------------------------------------
    @torch.no_grad()
    def doc_nlls(self, docs: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Each document's NLL in nats, words in reading order (one ordering; the paper's estimate)."""
        self.model.eval()
        out = np.zeros(len(docs))
        order = np.argsort([len(d) for d in docs])
        for s in range(0, len(docs), batch_size):
            idx = order[s : s + batch_size]
            batch = self._pad([docs[i] for i in idx])
            mask = (torch.arange(batch["v"].shape[1], device=self.device)[None] < batch["lengths"][:, None]).float()
            logp = self.model.word_log_probs(self.model.hidden(batch["v"]), batch["v"]) * mask
            out[idx] = (-logp.sum(1)).cpu().numpy()
        return out

    def evaluate(self, data: WordDocs, samples: int = 1, **_) -> dict[str, float]:
        """Test perplexity as Lauly et al. define it: exp(mean over documents of NLL / length)."""
        docs = self.nonempty(data)
        nll = self.doc_nlls(docs)
        lengths = np.array([len(d) for d in docs])
        return {
            "ppl": round(perplexity(nll, lengths), 2),
            "nll_per_word": round(float(np.mean(nll / lengths)), 4),
            "docs": len(docs),
            "words": int(lengths.sum()),
        }

    @torch.no_grad()
    def document_vectors(self, docs: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        self.model.eval()
        out = np.zeros((len(docs), self.config.hidden), np.float32)
        for s in range(0, len(docs), batch_size):
            batch = self._pad(list(docs[s : s + batch_size]) or [np.zeros(0, np.int64)])
            out[s : s + batch_size] = self.model.document_vector(batch["v"], batch["lengths"]).cpu().numpy()
        return out

    @torch.no_grad()
    def score_text(self, text: str) -> DocScore:
        """A user's document: each known content word's log p(v_i | v_<i) in reading order."""
        ws = documents.content_words(text, documents.load_corpus(()).stopwords)
        index = self._index()
        known = [w for w in ws if w in index]
        unknown = [w for w in ws if w not in index]
        if not known:
            return DocScore([], np.zeros(0), unknown)
        self.model.eval()
        batch = self._pad([self.encode_words(known)])
        lp = self.model.word_log_probs(self.model.hidden(batch["v"]), batch["v"])[0].cpu().numpy()
        return DocScore(known, lp.astype(np.float64), unknown)

    def topics(self, n_words: int = 10) -> list[list[str]]:
        """The words each hidden unit favours: the largest entries of its row of W (the paper's Table)."""
        W = self.model.W.weight.detach().float().cpu().numpy()  # (V, H)
        return [[self.vocab[i] for i in np.argsort(-W[:, j])[:n_words]] for j in range(W.shape[1])]

    def sample(
        self, n_words: int = 30, temperature: float = 1.0, seed: int = 0, prefix: str = "", **_
    ) -> Iterator[list[str]]:
        """Draw a bag of words one word at a time from p(v_i | v_<i) (after the words of ``prefix``);
        yields the words so far after each draw. DocNADE-LM words come out in order."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        ws = [w for w in documents.words(prefix) if w in self._index()]
        self.model.eval()
        for _ in range(n_words):
            with torch.no_grad():
                v = torch.from_numpy(np.append(self.encode_words(ws), 0)).to(self.device)[None]
                h = self.model.hidden(v)[:, -1]  # the last position sees every word drawn so far
                logp = self.model.all_log_probs(h)[0].cpu() / max(temperature, 1e-3)
            w = int(torch.multinomial(torch.softmax(logp, -1), 1, generator=gen))
            ws.append(self.vocab[w])
            yield list(ws)

    @classmethod
    def evaluate_shipped(cls, samples: int = 1) -> dict[str, Any]:
        from engines.docnade.experiments import evaluate_all

        return evaluate_all()

    def bench(self, repeats: int = 5) -> dict[str, float]:
        """By the benchmark protocol (engines/benchmark.py): words of the test split scored per second (and
        per CPU second), the median of ``repeats`` passes."""
        from engines.benchmark import measure

        _, _, test = self.load_data("wiki+newsgroups")
        docs = self.nonempty(test)
        words = sum(len(d) for d in docs)
        m = measure({"score": lambda: (self.doc_nlls(docs), words)[1]}, repeats=repeats)
        return {"score_words_per_s": round(m["score_per_s"]), "score_words_per_cpu_s": round(m["score_per_cpu_s"]),
                "test_docs": len(docs)}  # fmt: skip
