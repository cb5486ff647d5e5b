"""The DESM engine: IN/OUT embeddings (trained by gensim's word2vec) and a search index over passages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from engines.base import Engine
from engines.cancel import check_cancelled
from engines.checkpoint import CheckpointError
from engines.data import documents
from engines.desm.model import DesmConfig, centroids, desm_scores, mixture, ndcg, normalise

METHODS = ("bm25", "desm_in_out", "desm_in_in", "mixture")
DEFAULT_ALPHA = 0.5  # replaced by the value tuned on the valid queries, kept in the checkpoint's meta
DEFAULT_K = 100  # BM25's top k that DESM and the mixture re-rank


class DesmModel(nn.Module):
    """The two word2vec matrices, IN and OUT, one row per vocabulary word (not trained by torch)."""

    def __init__(self, cfg: DesmConfig):
        super().__init__()
        V = max(len(cfg.vocab), 1)
        self.register_buffer("IN", torch.zeros(V, cfg.dim))
        self.register_buffer("OUT", torch.zeros(V, cfg.dim))

    def forward(self, batch):  # the contract's forward; DESM trains outside torch
        raise NotImplementedError("DESM's vectors are trained by gensim's word2vec (python -m engines train desm)")


def train_word2vec(texts: list[list[str]], cfg: DesmConfig, seed: int = 0, workers: int = 1):
    """gensim word2vec with negative sampling; returns (vocab, IN, OUT) sorted by frequency."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=texts, vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count, hs=0,
        sg=int(cfg.algorithm == "skipgram"), negative=cfg.negative, epochs=cfg.epochs, seed=seed, workers=workers,
    )  # fmt: skip
    vocab = list(model.wv.index_to_key)
    return vocab, np.asarray(model.wv.vectors, np.float32), np.asarray(model.syn1neg, np.float32)


@dataclass
class Hit:
    passage: int
    bm25: float
    in_out: float
    in_in: float
    mixture: float


@dataclass
class SearchResult:
    query: str
    known: list[str]  # query words with embeddings
    unknown: list[str]  # query words word2vec never saw (no DESM contribution)
    hits: list[Hit]  # ranked
    candidates: int  # how many BM25 candidates were re-ranked


class SearchIndex:
    """BM25 (bm25s) and DESM centroids over a list of passages, built once; queries are cheap."""

    def __init__(
        self,
        engine: DesmEngine,
        passages: list[documents.Passage],
        stopwords: frozenset[str],
        progress: Callable[[int, int], None] | None = None,
    ):
        import bm25s

        self.engine, self.passages, self.stopwords = engine, passages, stopwords
        index = engine.word_index
        tokens, ids = [], []
        for n, p in enumerate(passages):
            if n % 500 == 0:
                check_cancelled()
            ws = documents.content_words(p.text, stopwords)
            tokens.append(ws)
            ids.append([index[w] for w in ws if w in index])
            if progress and (n % 500 == 0 or n == len(passages) - 1):
                progress(n + 1, len(passages))
        self.tokens = tokens
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        self.bm25.index(tokens, show_progress=False)
        self.c_out = centroids(ids, engine.OUT)  # eq. 5 with OUT vectors
        self.c_in = centroids(ids, engine.IN)  # eq. 5 with IN vectors

    def __len__(self) -> int:
        return len(self.passages)

    def query_words(self, query: str) -> tuple[list[str], list[str]]:
        ws = documents.content_words(query, self.stopwords)
        index = self.engine.word_index
        return [w for w in ws if w in index], [w for w in ws if w not in index]

    def scores(self, query: str) -> dict[str, np.ndarray]:
        """BM25, DESM IN-OUT and IN-IN of every passage."""
        known, unknown = self.query_words(query)
        ws = known + unknown  # BM25 matches every word, DESM only those with vectors
        ids = [self.engine.word_index[w] for w in known]
        bm = self.bm25.get_scores(ws) if ws else np.zeros(len(self), np.float32)
        return {
            "bm25": np.asarray(bm, np.float32),
            "in_out": desm_scores(ids, self.engine.IN, self.c_out),
            "in_in": desm_scores(ids, self.engine.IN, self.c_in),
        }

    def candidates(self, bm25: np.ndarray, k: int, order: np.ndarray | None = None) -> np.ndarray:
        """BM25's top k with a positive score (telescoping); ``order``: BM25's ranking, when already sorted."""
        top = (np.argsort(-bm25, kind="stable") if order is None else order)[:k]
        return top[bm25[top] > 0]

    def mixed(self, s: dict[str, np.ndarray], alpha: float, k: int = DEFAULT_K) -> np.ndarray:
        """The mixture of every passage: α DESM IN-OUT + (1 - α) BM25 over BM25's top k, NaN elsewhere."""
        out = np.full(len(self), np.nan, np.float32)
        cand = self.candidates(s["bm25"], k)
        if len(cand):
            out[cand] = mixture(s["in_out"][cand], s["bm25"][cand], alpha)
        return out

    def rank(
        self, s: dict[str, np.ndarray], method: str, alpha: float, k: int = DEFAULT_K, top: int | None = None
    ) -> list[int]:
        """Passage indices, best first (the first ``top`` of them, or all). BM25 ranks the whole collection;
        DESM and the mixture re-rank BM25's top k and leave the rest in BM25 order; ``*_full`` variants
        rank the whole collection by DESM."""
        bm = s["bm25"]
        if method.endswith("_full"):
            return list(np.argsort(-s[method[5:-5]], kind="stable")[:top])
        order = np.argsort(-bm, kind="stable")
        if method == "bm25":
            return list(order[:top])
        cand = self.candidates(bm, k, order)
        if len(cand) == 0:  # no passage matches a word: DESM alone
            return list(np.argsort(-s["in_out"], kind="stable")[:top])
        key = mixture(s["in_out"][cand], bm[cand], alpha) if method == "mixture" else s[method[5:]][cand]
        head = cand[np.argsort(-key, kind="stable")]
        if top is not None and len(head) >= top:
            return list(head[:top])
        rest = np.ones(len(bm), bool)
        rest[head] = False
        return (list(head) + list(order[rest[order]]))[:top]

    def search(self, query: str, alpha: float | None = None, k: int = DEFAULT_K, top: int = 20) -> SearchResult:
        alpha = self.engine.alpha if alpha is None else alpha
        known, unknown = self.query_words(query)
        s = self.scores(query)
        ranked = self.rank(s, "mixture", alpha, k, top)
        mixed = self.mixed(s, alpha, k)
        mix = np.nan_to_num(mixed)  # 0 outside the candidates
        hits = [Hit(int(i), float(s["bm25"][i]), float(s["in_out"][i]), float(s["in_in"][i]), float(mix[i]))
                for i in ranked]  # fmt: skip
        return SearchResult(query, known, unknown, hits, int(np.isfinite(mixed).sum()))

    def highlight(self, query: str, passage: int) -> list[tuple[str, float]]:
        """Each word of a passage with its largest IN-OUT cosine to a query word (0 for stop words and
        unknown words): the passage's words nearest to the query."""
        known, _ = self.query_words(query)
        qv = self.engine.IN[[self.engine.word_index[w] for w in known]] if known else None
        index = self.engine.word_index
        out = []
        for tok in self.passages[passage].text.split():
            ws = documents.words(tok)
            w = ws[0] if ws else ""
            score = 0.0
            if qv is not None and w in index and w not in self.stopwords:
                score = float((qv @ self.engine.OUT[index[w]]).max())
            out.append((tok, score))
        return out


class DesmEngine(Engine):
    name = "desm"
    title = "DESM + BM25"
    config_class = DesmConfig
    datasets = ("wiki",)
    trainable_in_panel: ClassVar[bool] = False
    item_unit = "passages"
    loss_unit = "NDCG"
    weights_licence = "CC BY-SA 3.0 (word2vec vectors of Wikipedia text); code: MIT"
    shipped: ClassVar[dict[str, str]] = {"desm-wiki": "word2vec skip-gram, wiki + newsgroups passages"}

    def __init__(self, config: DesmConfig | None = None, device=None):
        super().__init__(config, device="cpu")  # numpy search; no accelerator helps a 100-d dot product
        self._arrays()

    def build_model(self, config: DesmConfig) -> nn.Module:
        return DesmModel(config)

    def _arrays(self) -> None:
        self.word_index = {w: i for i, w in enumerate(self.config.vocab)}
        self.IN = normalise(self.model.IN.float().numpy())
        self.OUT = normalise(self.model.OUT.float().numpy())

    def load(self, path) -> None:
        super().load(path)
        self._arrays()

    def check_meta(self, meta: dict, name: str) -> None:
        alpha = meta.get("alpha", DEFAULT_ALPHA)
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
            raise CheckpointError(f"{name}: its mixture weight alpha = {str(alpha)[:20]!r} is not a number in [0, 1]")

    @property
    def alpha(self) -> float:
        return float(self.meta.get("alpha", DEFAULT_ALPHA))

    @classmethod
    def presets(cls) -> dict[str, DesmConfig]:
        return {
            "default": DesmConfig(),
            "cbow": DesmConfig(algorithm="cbow"),
            "tiny": DesmConfig(dim=16, epochs=2, min_count=2),
        }

    @classmethod
    def load_data(cls, name: str):
        corpus = documents.load_corpus() if name == "wiki" else None
        if corpus is None:
            passages, _ = documents.read_folder(name)
            corpus = documents.DocumentCorpus(passages, documents.load_corpus(()).stopwords)
        return corpus, None, None

    def fit(self, corpus: documents.DocumentCorpus, seed: int = 0, workers: int = 1) -> dict[str, Any]:
        """Train word2vec on every passage of the corpus (DESM's vectors need no labels) and tune the
        mixture's α on the valid queries when the corpus is the shipped one."""
        texts = [corpus.content_words(p.text) for p in corpus.passages]
        t0 = time.perf_counter()
        vocab, IN, OUT = train_word2vec(texts, self.config, seed, workers)
        self.config.vocab = vocab
        self.model = DesmModel(self.config)
        self.model.IN.copy_(torch.from_numpy(IN))
        self.model.OUT.copy_(torch.from_numpy(OUT))
        self._arrays()
        result: dict[str, Any] = {"train_s": round(time.perf_counter() - t0, 1), "vocab": len(vocab)}
        if any(p.source == "wiki" for p in corpus.passages) and len(corpus.passages) == len(
            documents.load_corpus().passages
        ):
            index = SearchIndex(self, [p for p in corpus.passages if p.source == "wiki"], corpus.stopwords)
            grid = [round(float(a), 2) for a in np.linspace(0, 1, 21)]
            valid = documents.load_queries("valid")
            tuned = {a: evaluate_queries(index, valid, alpha=a, methods=("mixture",))["ndcg10_mixture"] for a in grid}
            self.meta["alpha"] = max(tuned, key=lambda a: (tuned[a], -a))
            result["alpha"] = self.meta["alpha"]
            result["valid_ndcg10_by_alpha"] = {str(a): round(v, 4) for a, v in tuned.items()}
        return result

    def index(self, corpus: documents.DocumentCorpus, source: str | None = "wiki", progress=None) -> SearchIndex:
        passages = [p for p in corpus.passages if source is None or p.source == source]
        return SearchIndex(self, passages, corpus.stopwords, progress)

    # -- contract ---------------------------------------------------------------------------------
    def batches(self, data, batch_size, rng) -> Iterator[Any]:
        raise NotImplementedError("DESM trains with gensim's word2vec: python -m engines train desm")

    def evaluate(self, data: documents.DocumentCorpus | None = None, samples: int = 1, **_) -> dict[str, float]:
        corpus = data if isinstance(data, documents.DocumentCorpus) else documents.load_corpus()
        return evaluate_queries(self.index(corpus), documents.load_queries("test"), alpha=self.alpha)

    def sample(self, query: str = "", index: SearchIndex | None = None, alphas=None, **_) -> Iterator[SearchResult]:
        """The ranking as α moves from BM25 alone (0) to DESM alone (1): one state per α."""
        index = index or self.index(documents.load_corpus())
        for a in alphas if alphas is not None else np.linspace(0, 1, 11):
            yield index.search(query, alpha=float(a))

    def nearest(self, word: str, n: int = 10) -> dict[str, list[tuple[str, float]]]:
        """The paper's Table 1: a word's nearest neighbours by IN-IN and by IN-OUT cosine."""
        i = self.word_index.get(word.lower())
        if i is None:
            return {"in_in": [], "in_out": []}
        out = {}
        for key, m in (("in_in", self.IN), ("in_out", self.OUT)):
            sims = m @ self.IN[i]
            order = [j for j in np.argsort(-sims)[: n + 1] if j != i][:n]
            out[key] = [(self.config.vocab[j], float(sims[j])) for j in order]
        return out

    @classmethod
    def evaluate_shipped(cls, samples: int = 1) -> dict[str, float]:
        from engines.resources import resource_path

        engine = cls.from_checkpoint(resource_path("desm-wiki"))
        return engine.evaluate()

    def bench(self, n_queries: int = 200) -> dict[str, float]:
        """Index build time and query latency over >= 10,000 real passages: the wiki passages, the
        newsgroup posts and the KJV (verses in runs of four, from the shipped sentence data)."""
        from engines.data import text

        corpus = documents.load_corpus()
        kjv = text.load_sentences("kjv")
        verses = [text.detokenize(t) for split in (kjv.train, kjv.valid, kjv.test) for t in split.tokens]
        extra = [documents.Passage(" ".join(verses[i : i + 4]), "KJV", "", "kjv") for i in range(0, len(verses), 4)]
        passages = corpus.passages + extra
        t0 = time.perf_counter()
        index = SearchIndex(self, passages, corpus.stopwords)
        build_s = time.perf_counter() - t0
        queries = [q["query"] for q in documents.load_queries()][:n_queries]
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, top=10)
            times.append((time.perf_counter() - t) * 1000)
        return {
            "n_passages": len(passages),
            "index_build_s": round(build_s, 2),
            "query_ms_median": round(float(np.median(times)), 3),
            "query_ms_p95": round(float(np.percentile(times, 95)), 3),
            "n_queries": len(queries),
        }


def evaluate_queries(
    index: SearchIndex,
    queries: list[dict[str, Any]],
    alpha: float,
    k: int = DEFAULT_K,
    methods=METHODS + ("desm_in_out_full",),
) -> dict[str, float]:
    """Mean NDCG@1, @3, @10 of each method over labelled queries (``relevant``: passage index → grade)."""
    sums = {f"ndcg{c}_{m}": 0.0 for m in methods for c in (1, 3, 10)}
    for q in queries:
        s = index.scores(q["query"])
        for m in methods:
            ranked = index.rank(s, m, alpha, k, top=10)
            for c in (1, 3, 10):
                sums[f"ndcg{c}_{m}"] += ndcg(ranked, q["relevant"], c)
    out = {key: round(v / max(len(queries), 1), 4) for key, v in sums.items()}
    out.update({"queries": len(queries), "alpha": alpha, "rerank_k": k})
    return out
