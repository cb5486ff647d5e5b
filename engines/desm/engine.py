"""The DESM engine: IN/OUT embeddings (trained by gensim's word2vec) and a search index over passages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from engines.base import Engine, Shipped
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
        self._build(tokens, ids)

    def _build(self, tokens: list[list[str]], ids: list[list[int]]) -> None:
        import bm25s

        self.tokens = tokens
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        self.bm25.index(tokens, show_progress=False)
        self.c_out = centroids(ids, self.engine.OUT)  # eq. 5 with OUT vectors
        self.c_in = centroids(ids, self.engine.IN)  # eq. 5 with IN vectors

    @classmethod
    def from_word_ids(cls, engine: DesmEngine, ids: list[list[int]]) -> SearchIndex:
        """An index over passages given as vocabulary ids (the synthetic collections of ``bench``)."""
        self = cls.__new__(cls)
        self.engine, self.stopwords = engine, frozenset()
        vocab = engine.config.vocab
        self.passages = [documents.Passage("", "synthetic", "", "bench")] * len(ids)
        self._build([[vocab[i] for i in doc] for doc in ids], ids)
        return self

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
        """BM25's top k with a positive score (telescoping); ``order``: BM25's ranking, when already sorted
        (else :meth:`top_k` finds them without sorting everything)."""
        if order is None:
            return self.top_k(bm25, k)
        top = order[:k]
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

    def top_k(self, bm25: np.ndarray, k: int) -> np.ndarray:
        """BM25's top ``k`` with a positive score, best first, ties by index (the order of a stable full sort),
        found in linear time: a partition of the positive scores, then a sort of k."""
        idx = np.flatnonzero(bm25 > 0)  # (partitioning the whole array is slow: most scores are a tied 0)
        if len(idx) > k:
            scores = bm25[idx]
            kth = np.partition(scores, len(idx) - k)[len(idx) - k]  # the k-th largest score
            above = idx[scores > kth]
            idx = np.concatenate([above, idx[scores == kth][: k - len(above)]])
        return idx[np.lexsort((idx, -bm25[idx]))]

    def search(self, query: str, alpha: float | None = None, k: int = DEFAULT_K, top: int = 20) -> SearchResult:
        """The ranked passages for a query, every score shown. DESM is scored only on BM25's top ``k``, the
        passages the mixture re-ranks (Section 4.3's telescoping), not on the whole collection: the same ranking
        as :meth:`rank` (``mixture``) at a fraction of the work; a query no passage matches falls back to DESM
        over everything, as :meth:`rank` does."""
        alpha = self.engine.alpha if alpha is None else alpha
        known, unknown = self.query_words(query)
        ws = known + unknown
        bm = np.asarray(self.bm25.get_scores(ws), np.float32) if ws else np.zeros(len(self), np.float32)
        cand = self.candidates(bm, k)
        if len(cand) == 0:  # nothing matches a word: the whole-collection path
            s = self.scores(query)
            ranked = self.rank(s, "mixture", alpha, k, top)
            hits = [Hit(int(i), float(s["bm25"][i]), float(s["in_out"][i]), float(s["in_in"][i]), 0.0)
                    for i in ranked]  # fmt: skip
            return SearchResult(query, known, unknown, hits, 0)
        ids = [self.engine.word_index[w] for w in known]
        q = self.engine.IN[ids].mean(0).astype(np.float32) if ids else np.zeros(self.c_out.shape[1], np.float32)
        in_out, in_in = self.c_out[cand] @ q, self.c_in[cand] @ q  # eq. 6 on the candidates alone
        mix = mixture(in_out, bm[cand], alpha)
        order = np.argsort(-mix, kind="stable")
        hits = [Hit(int(cand[j]), float(bm[cand[j]]), float(in_out[j]), float(in_in[j]), float(mix[j]))
                for j in order[:top]]  # fmt: skip
        if len(hits) < top:  # fewer candidates than rows: the rest in BM25's order (all scored 0 by BM25)
            taken = set(cand.tolist())
            for i in np.argsort(-bm, kind="stable"):
                if len(hits) >= top:
                    break
                if int(i) not in taken:
                    hits.append(Hit(int(i), float(bm[i]), float(self.c_out[i] @ q), float(self.c_in[i] @ q), 0.0))
        return SearchResult(query, known, unknown, hits, len(cand))

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
    shipped: ClassVar[dict[str, Shipped]] = {"desm-wiki": Shipped("DESM, wiki word2vec", "desm")}

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

    def bench(
        self, n_queries: int = 200, repeats: int = 5, large: int = 1_000_000, quick: bool = False
    ) -> dict[str, float]:
        """The benchmark protocol (engines/benchmark.py) over >= 10,000 real passages (the wiki passages, the
        newsgroup posts and the KJV in runs of four verses): index build, and the query (BM25 over everything,
        DESM on BM25's top 100, the mixture) per query, median and p95; then the same over ``large`` synthetic
        passages of 30 words drawn from the vocabulary by its word2vec frequencies (0: skip), with the index's
        build time and memory."""
        from engines.data import text

        corpus = documents.load_corpus()
        kjv = text.load_sentences("kjv")
        verses = [text.detokenize(t) for split in (kjv.train, kjv.valid, kjv.test) for t in split.tokens]
        extra = [documents.Passage(" ".join(verses[i : i + 4]), "KJV", "", "kjv") for i in range(0, len(verses), 4)]
        passages = corpus.passages + extra
        w0, c0 = time.perf_counter(), time.process_time()
        index = SearchIndex(self, passages, corpus.stopwords)
        out: dict[str, float] = {"n_passages": len(passages), "index_build_s": round(time.perf_counter() - w0, 2),
                                 "index_build_cpu_s": round(time.process_time() - c0, 2)}  # fmt: skip
        queries = [q["query"] for q in documents.load_queries()][:n_queries]
        out.update(self._bench_queries(index, queries, repeats, ""))
        out["n_queries"] = len(queries)
        if large and not quick:
            rng = np.random.default_rng(0)
            ranks = np.arange(1, len(self.config.vocab) + 1)
            p = 1.0 / ranks  # Zipf over the frequency-sorted vocabulary
            words = rng.choice(len(ranks), size=(large, 30), p=p / p.sum())
            import resource

            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            w0, c0 = time.perf_counter(), time.process_time()
            big = SearchIndex.from_word_ids(self, [list(map(int, row)) for row in words])
            out.update({"large_n_passages": large, "large_index_build_s": round(time.perf_counter() - w0, 1),
                        "large_index_build_cpu_s": round(time.process_time() - c0, 1),
                        "large_index_peak_rss_mb": round(
                            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1)})  # fmt: skip
            del words
            out.update(self._bench_queries(big, queries[:50], repeats, "large_"))
        return out

    @staticmethod
    def _bench_queries(index: SearchIndex, queries: list[str], repeats: int, prefix: str) -> dict[str, float]:
        from engines.benchmark import measure

        def run_all() -> int:
            for q in queries:
                index.search(q, top=10)
            return len(queries)

        m = measure({"queries": run_all}, repeats=repeats)
        each = []
        for q in queries:  # one more pass, query by query, for the tail
            t = time.perf_counter()
            index.search(q, top=10)
            each.append((time.perf_counter() - t) * 1000)
        n = len(queries)
        return {
            f"{prefix}query_ms_median": round(m["queries_wall_ms_median"] / n, 4),
            f"{prefix}query_ms_min": round(m["queries_wall_ms_min"] / n, 4),
            f"{prefix}query_cpu_ms_median": round(m["queries_cpu_ms_median"] / n, 4),
            f"{prefix}query_ms_p95": round(float(np.percentile(each, 95)), 4),
            f"{prefix}queries_per_cpu_s": m["queries_per_cpu_s"],
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
