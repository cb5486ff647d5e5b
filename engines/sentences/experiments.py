"""The issue's evaluation: every shipped sentence model on the same WordNet test split, Dai & Le's
SA-LSTM against random initialisation at several label counts, and the hierarchical autoencoder's
reconstruction accuracy on KJV passages (``python -m engines eval sentences``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engines.data.text import SentenceSplit, load_polarity
from engines.sentences.model import SentenceClassifier, SentenceModel, pad_batch

LABEL_COUNTS = (10, 20, 50, 100, 140)
TEST_PER_CLASS = 30


def _split_polarity(split: SentenceSplit, seed: int) -> tuple[list[int], list[int]]:
    """(pool, test) indices: 30 test sentences per class, the other 70 per class a pool whose first
    n/2 of each class are the n labels; a different seed draws a different split."""
    rng = np.random.default_rng(seed)
    pool, test = [], []
    per_class = []
    for c in (0, 1):
        idx = rng.permutation(np.flatnonzero(split.labels == c))
        test += idx[:TEST_PER_CLASS].tolist()
        per_class.append(idx[TEST_PER_CLASS:].tolist())
    for a, b in zip(*per_class):  # interleave classes, so any even prefix is balanced
        pool += [a, b]
    return pool, test


def train_classifier(
    sa: SentenceModel | None,
    x: torch.Tensor,
    y: torch.Tensor,
    pretrained: bool,
    steps: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
) -> SentenceClassifier:
    """Fine-tune Dai & Le's LSTM classifier on (x, y); ``pretrained`` copies ``sa``'s embedding and LSTM."""
    torch.manual_seed(seed)
    cfg = sa.cfg
    clf = SentenceClassifier(len(cfg.vocab), cfg.emb, cfg.hidden)
    if pretrained:
        clf.load_pretrained(sa)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    clf.train()
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen)[:20]
        loss = F.cross_entropy(clf(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(clf.parameters(), 5.0)
        opt.step()
    return clf.eval()


@torch.no_grad()
def accuracy(clf: SentenceClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((clf(x).argmax(1) == y).float().mean())


def sa_lstm_experiment(
    sa: SentenceModel,
    label_counts: tuple[int, ...] = LABEL_COUNTS,
    seeds: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Test accuracy (mean over ``seeds`` splits) of the classifier with and without the sequence
    autoencoder's weights, for each number of labelled training sentences."""
    from engines.data.text import Vocab

    data = load_polarity()
    vocab = Vocab(sa.cfg.vocab)
    ids = pad_batch([vocab.encode(t)[: sa.cfg.max_len - 1] for t in data.tokens])
    labels = torch.as_tensor(data.labels)
    acc = {"pretrained": np.zeros((seeds, len(label_counts))), "random": np.zeros((seeds, len(label_counts)))}
    done, total = 0, seeds * len(label_counts) * 2
    for s in range(seeds):
        pool, test = _split_polarity(data, s)
        for j, n in enumerate(label_counts):
            tr = pool[:n]
            for key in ("pretrained", "random"):
                clf = train_classifier(sa, ids[tr], labels[tr], key == "pretrained", seed=s)
                acc[key][s, j] = accuracy(clf, ids[test], labels[test])
                done += 1
                if progress:
                    progress(done, total)
    return {
        "label_counts": list(label_counts),
        "pretrained": acc["pretrained"].mean(0).round(4).tolist(),
        "random": acc["random"].mean(0).round(4).tolist(),
        "pretrained_std": acc["pretrained"].std(0).round(4).tolist(),
        "random_std": acc["random"].std(0).round(4).tolist(),
        "test_sentences": 2 * TEST_PER_CLASS,
        "seeds": seeds,
    }


def evaluate_all(samples: int = 4) -> dict[str, Any]:
    """The ``eval sentences --json`` object (see the issue's "Figures for scripts")."""
    from engines.resources import resource_path
    from engines.sentences.engine import SentencesEngine

    _, _, test = SentencesEngine.load_data("wordnet")
    out: dict[str, Any] = {"test_sentences": len(test), "test_words": test.num_tokens(), "z_samples": samples}
    for resource, key in SentencesEngine.shipped.items():
        engine = SentencesEngine.from_checkpoint(resource_path(resource))
        m = engine.evaluate(test, samples=samples)
        out[key] = {k: round(float(m[k]), 4) for k in ("nll", "ppl", "kl", "recon")}
        out[key]["active_units"] = int(m["active_units"])
    sa = SentencesEngine.from_checkpoint(resource_path("sentences-sa-lstm"))
    out["sa_lstm"] = sa_lstm_experiment(sa.model)
    hier = SentencesEngine.from_checkpoint(resource_path("sentences-hier-ae"))
    _, _, kjv_test = SentencesEngine.load_data("kjv")
    m = hier.evaluate(kjv_test)
    out["hier_ae"] = {
        "word_acc": round(m["word_acc"], 4),
        "nll_per_passage": round(m["nll"], 3),
        "ppl": round(m["ppl"], 3),
        "passages": len(hier.encode(kjv_test)),
        "dataset": "kjv",
    }
    return out
