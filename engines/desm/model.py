r"""DESM: the Dual Embedding Space Model (Mitra, Nalisnick, Craswell & Caruana, 2016), with BM25.

**Two embedding spaces.** word2vec (skip-gram or CBOW with negative sampling) learns two vectors per
word: an IN vector (the input matrix, gensim's ``wv``) and an OUT vector (the output matrix,
``syn1neg``). IN·IN is high for words of the same *type* (words that could stand in for each other:
"yale" / "harvard"); IN·OUT is high for words that *occur together* ("yale" / "faculty"), which is
what a query term and the words of a relevant document do (Section 3 of the paper).

**A document** is the centroid of its words' normalised vectors (eq. 5):

$\bar{D} = \frac{1}{|D|} \sum_{d \in D} \frac{d}{\Vert d \Vert}$

**The score** of a query Q is the mean cosine of its words with that centroid (eq. 6):

$\mathrm{DESM}(Q, D) = \frac{1}{|Q|} \sum_{q \in Q} \frac{q^T \bar{D}}{\Vert q \Vert \, \Vert \bar{D} \Vert}$

DESM_IN-OUT takes q from IN and D̄ from OUT vectors; DESM_IN-IN takes both from IN.

**The mixture** (Section 4.3): DESM alone ranks documents that are *about* the query's topic but need
not mention it, so over a whole collection it also ranks near-misses highly. The paper mixes it with
a term-matching model, $\mathrm{MM}(Q, D) = \alpha\, \mathrm{DESM}(Q, D) + (1 - \alpha)\, \mathrm{BM25}(Q, D)$, and
re-ranks BM25's top k
("telescoping"). Here BM25 (the ``bm25s`` library, Lucene's variant, k1 = 1.2, b = 0.75) is divided by
its largest value among the query's candidates, so both terms are in comparable ranges and α means the
same for short and long queries (the paper does not say how it scaled them).

Tokens are lower-cased words without stop words; a word word2vec never saw adds nothing to a centroid
and is left out of a query (the UI names it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch


@dataclass
class DesmConfig:
    vocab: list[str] = field(default_factory=list)
    dim: int = 100
    algorithm: str = (
        "skipgram"  # "skipgram" or "cbow" (word2vec with negative sampling); skip-gram measured better here
    )
    window: int = 10  # the paper's word2vec window; 5 measured worse on the valid queries
    epochs: int = 20
    negative: int = 5
    min_count: int = 3
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "dim": (1, 4096), "algorithm": ("skipgram", "cbow"), "window": (1, 100), "epochs": (1, 1000),
        "negative": (0, 100), "min_count": (1, 10**6),
    }  # fmt: skip


def normalise(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.maximum(n, 1e-8)).astype(np.float32)


def centroids(docs: list[list[int]], vectors: np.ndarray) -> np.ndarray:
    """Eq. 5 for every document, then normalised (the cosine of eq. 6 divides by ‖D̄‖ anyway).
    ``vectors`` are unit rows; a document with no known word gets a zero centroid (score 0)."""
    out = np.zeros((len(docs), vectors.shape[1]), np.float32)
    for i, ids in enumerate(docs):
        if ids:
            out[i] = vectors[ids].mean(0)
    return normalise(out)


def desm_scores(query_ids: list[int], q_vectors: np.ndarray, doc_centroids: np.ndarray) -> np.ndarray:
    """Eq. 6 for every document at once: the mean of the query words' cosines with each centroid.
    Because both sides are unit vectors, that mean is one matrix-vector product with the query mean."""
    if not query_ids:
        return np.zeros(len(doc_centroids), np.float32)
    q = torch.from_numpy(np.ascontiguousarray(q_vectors[query_ids].mean(0), np.float32))
    # torch, not numpy's BLAS: OpenBLAS threads spin when the CPU is busy (a training run) and a 10k x 100
    # product then takes 7 ms instead of 0.3 (measured)
    return torch.mv(torch.from_numpy(doc_centroids), q).numpy()


def mixture(desm: np.ndarray, bm25: np.ndarray, alpha: float) -> np.ndarray:
    """MM = α DESM + (1 - α) BM25 / max(BM25) over the same candidates (see the module docstring)."""
    top = float(bm25.max()) if len(bm25) else 0.0
    return alpha * desm + (1.0 - alpha) * (bm25 / top if top > 0 else bm25)


def ndcg(ranked: list[int], relevant: dict[int, int], k: int) -> float:
    """NDCG@k with gains 2^grade - 1 and log2 discounts (Järvelin & Kekäläinen)."""
    gains = [(2 ** relevant.get(d, 0) - 1) for d in ranked[:k]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / np.log2(i + 2) for i, g in enumerate(ideal))
    return float(dcg / idcg) if idcg > 0 else 0.0
