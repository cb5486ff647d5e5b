r"""DocNADE: Document Neural Autoregressive Distribution Estimation (Lauly, Zheng, Allauzen & Larochelle,
JMLR 2016), and DocNADE-LM, its language-model variant (same paper, Section 6).

**The idea.** A document is a sequence of word indices v = (v_1, ..., v_D). DocNADE models it
autoregressively, $p(v) = \prod_i p(v_i \mid v_{<i})$ (eq. 1), with a hidden layer that sees the words before
position i as a bag:

$h_i(v_{<i}) = g(c + \sum_{k<i} W_{:, v_k})$ (eq. 2)

so every position's hidden state is a running sum of word columns. All D states come from one
(exclusive) cumulative sum, O(D H) per document, not O(D² H).

**The output** is a softmax over the vocabulary, $p(v_i = w \mid v_{<i}) \propto \exp(b_w + V_{w,:}\, h_i)$ (eq. 3),
or, as the paper has it for large vocabularies, a binary tree: each word is a leaf reached by a path
of left/right decisions π(w), each a logistic unit on h_i,

$p(v_i = w \mid v_{<i}) = \prod_m p(\pi(w)_m \mid v_{<i})$, $p(\pi_m = \mathrm{right}) = \sigma(b_{l(w)_m} +
V_{l(w)_m,:}\, h_i)$ (eqs. 4-5)

which costs O(log |V|) per word instead of O(|V|). Here the tree is a Huffman tree of the training
counts (frequent words get short paths); the paper's argument only needs a binary tree.

**Word order.** A bag of words has no order: training draws a fresh random ordering of each
document's words every time it is seen, so the model learns p(v) for all orderings (Section 3.2).

**DocNADE-LM** (Section 6) adds an n-gram term over the previous n - 1 words in their real order:

$h_i = g(c + \sum_{k<i} W_{:, v_k} + \sum_{k=1}^{n-1} U_k W^{LM}_{:, v_{i-k}})$ (eq. 15)

**Perplexity** (Section 7): $\exp\left(-\frac{1}{T} \sum_t \frac{1}{|v_t|} \log p(v_t)\right)$, the average per-word
NLL of each
document, averaged over the T test documents.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class DocNadeConfig:
    vocab_size: int = 2000  # the most frequent content words of the training split (stop words removed)
    hidden: int = 50
    activation: str = "sigmoid"  # g in eq. 2 ("sigmoid" as in the paper, or "tanh")
    softmax: str = "tree"  # "tree" (the paper's binary tree, eqs. 4-5) or "full" (eq. 3)
    lm_order: int = 0  # DocNADE-LM's n (0: plain DocNADE); the n-gram term uses the n - 1 previous words
    lm_dim: int = 0  # columns of W^LM (0: the same as hidden)
    # dropout on the n-gram term's word vectors while training: on a corpus of 0.4M words the real-order term
    # memorises the training documents (valid perplexity tripled in 4,000 steps without it; measured)
    lm_dropout: float = 0.0
    # L1 weight on each training document's hidden units h(v) (ours, not the paper's): with it a document switches on
    # few units, each unit's strongest words come from one subject, and NPMI coherence passes LDA's (README)
    sparsity: float = 0.0
    max_words: int = 400  # training reads a random window of this many words of longer documents (eval: all)
    vocab: list[str] = field(default_factory=list)  # taken from the training data by the engine
    counts: list[int] = field(default_factory=list)  # their training counts: the Huffman tree's shape
    # what a checkpoint's config may hold (engines.base.config_from_dict checks it before building)
    limits: ClassVar[dict[str, tuple]] = {
        "vocab_size": (2, 10**6), "hidden": (1, 4096), "activation": ("sigmoid", "tanh"), "softmax": ("tree", "full"),
        "lm_order": (0, 16), "lm_dim": (0, 4096), "lm_dropout": (0.0, 0.99), "max_words": (1, 10**6),
        "sparsity": (0.0, 100.0),
    }  # fmt: skip


def huffman_paths(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Huffman tree over the vocabulary: per word, the inner nodes on its path (root first), the
    branch taken at each (1 = right) and a mask, padded to the longest path. ``counts`` (V,) >= 0."""
    V = len(counts)
    if V < 2:
        raise ValueError("a tree softmax needs at least two words")
    heap = [(float(c), i, i) for i, c in enumerate(counts)]  # (count, tie-break, node id); leaves 0..V-1
    heapq.heapify(heap)
    parent, branch = {}, {}
    next_id = V
    while len(heap) > 1:
        c0, _, a = heapq.heappop(heap)
        c1, _, b = heapq.heappop(heap)
        parent[a], branch[a] = next_id, 0
        parent[b], branch[b] = next_id, 1
        heapq.heappush(heap, (c0 + c1, next_id, next_id))
        next_id += 1
    root = next_id - 1
    paths = []
    for w in range(V):
        nodes, codes, n = [], [], w
        while n != root:
            nodes.append(parent[n] - V)  # inner nodes numbered 0..V-2
            codes.append(branch[n])
            n = parent[n]
        paths.append((nodes[::-1], codes[::-1]))
    depth = max(len(p[0]) for p in paths)
    node_arr = np.zeros((V, depth), np.int64)
    code_arr = np.zeros((V, depth), np.float32)
    mask = np.zeros((V, depth), np.float32)
    for w, (nodes, codes) in enumerate(paths):
        node_arr[w, : len(nodes)] = nodes
        code_arr[w, : len(codes)] = codes
        mask[w, : len(nodes)] = 1.0
    return node_arr, code_arr, mask


class DocNade(nn.Module):
    def __init__(self, cfg: DocNadeConfig, counts: np.ndarray | None = None):
        super().__init__()
        self.cfg = cfg
        V, H = (len(cfg.vocab) or cfg.vocab_size), cfg.hidden
        if counts is None and cfg.counts:
            counts = np.asarray(cfg.counts, np.float64)
        self.W = nn.Embedding(V, H)  # the columns W[:, v] of eq. 2, as rows
        nn.init.uniform_(self.W.weight, -0.05, 0.05)
        self.c = nn.Parameter(torch.zeros(H))
        if cfg.softmax == "full":
            self.out = nn.Linear(H, V)  # V and b of eq. 3
        elif cfg.softmax == "tree":
            nodes, codes, mask = huffman_paths(np.ones(V) if counts is None else np.asarray(counts, np.float64))
            self.register_buffer("path_nodes", torch.from_numpy(nodes))
            self.register_buffer("path_codes", torch.from_numpy(codes))
            self.register_buffer("path_mask", torch.from_numpy(mask))
            self.tree = nn.Embedding(V - 1, H)  # V[l, :] of eq. 5, one row per inner node
            nn.init.zeros_(self.tree.weight)
            self.tree_bias = nn.Parameter(torch.zeros(V - 1))
        else:
            raise ValueError(f"unknown softmax '{cfg.softmax}' (choose from: tree, full)")
        if cfg.lm_order > 1:
            d = cfg.lm_dim or H
            self.W_lm = nn.Embedding(V, d)
            nn.init.uniform_(self.W_lm.weight, -0.05, 0.05)
            self.U = nn.Parameter(torch.randn(cfg.lm_order - 1, H, d) * (1.0 / math.sqrt(d)))  # U_k of eq. 15

    def hidden(self, v: torch.Tensor) -> torch.Tensor:
        """h_i for every position of word indices v (B, D): (B, D, H). Padding may follow the words:
        position i only ever sees v_<i."""
        cols = self.W(v)  # (B, D, H)
        pre = self.c + torch.cumsum(cols, dim=1) - cols  # exclusive running sum: Σ_{k<i} W[:, v_k] (eq. 2)
        pre = pre + self.lm_term(v)
        return torch.sigmoid(pre) if self.cfg.activation == "sigmoid" else torch.tanh(pre)

    def lm_term(self, v: torch.Tensor) -> torch.Tensor | float:
        """DocNADE-LM's n-gram term of eq. 15 at every position (0 for plain DocNADE)."""
        pre = 0.0
        if self.cfg.lm_order > 1:
            lm = F.dropout(self.W_lm(v), self.cfg.lm_dropout, self.training)  # (B, D, d)
            for k in range(1, self.cfg.lm_order):
                prev = F.pad(lm, (0, 0, k, 0))[:, : v.shape[1]]  # W^LM[:, v_{i-k}], zero before the start
                pre = pre + prev @ self.U[k - 1].T  # eq. 15
        return pre

    def document_vector(self, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The representation of whole documents, h(v) = g(c + Σ_k W[:, v_k]) over all their words
        (the paper's retrieval feature): (B, D), (B,) -> (B, H)."""
        mask = (torch.arange(v.shape[1], device=v.device)[None] < lengths[:, None]).float()
        pre = self.c + (self.W(v) * mask[..., None]).sum(1)
        return torch.sigmoid(pre) if self.cfg.activation == "sigmoid" else torch.tanh(pre)

    def word_log_probs(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """log p(v_i | v_<i) for each position: h (B, D, H), v (B, D) -> (B, D)."""
        if self.cfg.softmax == "full":
            return torch.log_softmax(self.out(h), dim=-1).gather(-1, v[..., None])[..., 0]  # eq. 3
        nodes, codes, mask = self.path_nodes[v], self.path_codes[v], self.path_mask[v]  # (B, D, depth)
        logits = (self.tree(nodes) * h[..., None, :]).sum(-1) + self.tree_bias[nodes]
        return (F.logsigmoid((2 * codes - 1) * logits) * mask).sum(-1)  # eqs. 4-5

    def all_log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """log p(v_i = w | v_<i) for every word w: (..., H) -> (..., V). For tables, topics and tests."""
        if self.cfg.softmax == "full":
            return torch.log_softmax(self.out(h), dim=-1)
        logits = h @ self.tree.weight.T + self.tree_bias  # (..., V - 1): every inner node
        node_logits = logits[..., self.path_nodes]  # (..., V, depth)
        signs = 2 * self.path_codes - 1
        return (F.logsigmoid(signs * node_logits) * self.path_mask).sum(-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Batch {v: (B, D) word indices, lengths: (B,)}: the loss is the mean document NLL (nats);
        ``nll_per_word`` is the mean over documents of NLL / length (the quantity perplexity exponentiates)."""
        v, lengths = batch["v"], batch["lengths"]
        mask = (torch.arange(v.shape[1], device=v.device)[None] < lengths[:, None]).float()
        logp = self.word_log_probs(self.hidden(v), v) * mask
        nll_doc = -logp.sum(1)
        per_word = nll_doc / lengths.clamp(min=1)
        loss = nll_doc.mean()
        if self.cfg.sparsity and self.training:
            loss = loss + self.cfg.sparsity * self.document_vector(v, lengths).sum(1).mean()
        return {"loss": loss, "nll_per_word": per_word.mean()}


def perplexity(nll_docs: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray) -> float:
    """exp of the mean over documents of (document NLL in nats / its length), the paper's definition."""
    nll, n = np.asarray(nll_docs, np.float64), np.asarray(lengths, np.float64)
    return float(np.exp(np.mean(nll / np.maximum(n, 1))))


def shuffle_words(v: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh random ordering of each document's words (padding stays at the end), for DocNADE's
    order-agnostic training. DocNADE-LM keeps the real order."""
    B, D = v.shape
    keys = torch.rand(B, D, generator=generator, device=v.device)
    keys = keys.masked_fill(torch.arange(D, device=v.device)[None] >= lengths[:, None], 2.0)  # padding last
    return v.gather(1, keys.argsort(dim=1))
