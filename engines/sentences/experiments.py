"""The issue's evaluation: every shipped sentence model on the same WordNet test split, Dai & Le's
SA-LSTM against random initialisation at several label counts, and the hierarchical autoencoder's
reconstruction accuracy on KJV passages (``python -m engines eval sentences``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engines.cancel import check_cancelled
from engines.data.text import SentenceSplit, Vocab, load_polarity
from engines.sentences.model import SentenceClassifier, SentenceModel, pad_batch

LABEL_COUNTS = {"polarity": (10, 20, 50, 100, 140), "word_class": (30, 100, 300, 1000, 3000)}
SEEDS = {"polarity": 5, "word_class": 3}
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


def _word_class(doc: np.ndarray) -> torch.Tensor:
    """0 noun, 1 verb, 2 adjective or adverb: a WordNet doc id is 4 x synset offset + class, and the shipped
    corpus numbered adjectives and adverbs alike."""
    return torch.as_tensor(np.minimum(doc % 4, 2))


def classification_task(task: str, vocab: Vocab, max_len: int, seed: int):
    """(x_pool, y_pool, x_test, y_test) of a labelled task, pool ordered so any prefix is a draw of labels.

    ``polarity``: Pang & Lee's 200 movie-review sentences, positive or negative (the issue's task).
    ``word_class``: which word class the WordNet entry a sentence illustrates is (noun, verb, adjective
    or adverb): labels from the training split, test on the 2,000 test sentences (other synsets)."""

    def ids(tokens):
        return pad_batch([vocab.encode(t)[: max_len - 1] for t in tokens])

    if task == "polarity":
        data = load_polarity()
        pool, test = _split_polarity(data, seed)
        x, y = ids(data.tokens), torch.as_tensor(data.labels)
        return x[pool], y[pool], x[test], y[test]
    if task == "word_class":
        from engines.data.text import load_sentences

        ds = load_sentences("wordnet")
        order = np.random.default_rng(seed).permutation(len(ds.train))[: max(LABEL_COUNTS["word_class"])]
        train = [ds.train.tokens[i] for i in order]
        return ids(train), _word_class(ds.train.doc[order]), ids(ds.test.tokens), _word_class(ds.test.doc)
    raise ValueError(f"unknown task '{task}' (polarity, word_class)")


def train_classifier(
    sa: SentenceModel,
    x: torch.Tensor,
    y: torch.Tensor,
    pretrained: bool,
    classes: int = 2,
    steps: int = 200,
    lr: float = 1e-3,
    seed: int = 0,
) -> SentenceClassifier:
    """Fine-tune Dai & Le's LSTM classifier on (x, y); ``pretrained`` copies ``sa``'s embedding and LSTM."""
    torch.manual_seed(seed)
    cfg = sa.cfg
    clf = SentenceClassifier(len(cfg.vocab), cfg.emb, cfg.hidden, classes)
    if pretrained:
        clf.load_pretrained(sa)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    clf.train()
    for _ in range(steps):
        check_cancelled()
        idx = torch.randperm(len(x), generator=gen)[:32]
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
    task: str = "polarity",
    label_counts: tuple[int, ...] | None = None,
    seeds: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    steps: int = 200,
) -> dict[str, Any]:
    """Test accuracy (mean over ``seeds`` draws of the labels) of the classifier with and without the
    sequence autoencoder's weights, for each number of labelled training sentences."""
    label_counts = tuple(label_counts or LABEL_COUNTS[task])
    seeds = seeds or SEEDS[task]
    vocab = Vocab(sa.cfg.vocab)
    acc = {"pretrained": np.zeros((seeds, len(label_counts))), "random": np.zeros((seeds, len(label_counts)))}
    done, total = 0, seeds * len(label_counts) * 2
    for s in range(seeds):
        x_pool, y_pool, x_test, y_test = classification_task(task, vocab, sa.cfg.max_len, s)
        classes = int(max(y_pool.max(), y_test.max())) + 1
        for j, n in enumerate(label_counts):
            for key in ("pretrained", "random"):
                clf = train_classifier(sa, x_pool[:n], y_pool[:n], key == "pretrained", classes, steps, seed=s)
                acc[key][s, j] = accuracy(clf, x_test, y_test)
                done += 1
                if progress:
                    progress(done, total)
    return {
        "task": task,
        "label_counts": list(label_counts),
        "pretrained": acc["pretrained"].mean(0).round(4).tolist(),
        "random": acc["random"].mean(0).round(4).tolist(),
        "pretrained_std": acc["pretrained"].std(0).round(4).tolist(),
        "random_std": acc["random"].std(0).round(4).tolist(),
        "test_sentences": len(y_test),
        "majority": round(float(torch.bincount(y_test).max()) / len(y_test), 4),
        "seeds": seeds,
        "steps": steps,
    }


# Words a sentence cannot end on (issue 19's fluency measure): articles and determiners, prepositions, conjunctions,
# auxiliaries and the possessive determiners. A homotopy step that ends on one ("the children were in the") is cut
# mid-phrase. (Prepositions can end an English clause, "the house he lived in"; WordNet's examples almost never do.)
CLOSED_CLASS = frozenset(
    """
    the a an every each either neither several such this these those
    my your its our their whose
    of in on at to for with from by into onto about over under through between among against during without within
    upon toward towards across behind beyond despite except than via after before around along near since until
    and or but nor because although though if while whereas unless so
    is are was were be been being am has have had do does did will would shall should can could may might must
""".split()
)


def dangling(words: list[str], max_len: int) -> bool:
    """A decode that ends on a closed-class word, or was cut at the decoder's maximum length."""
    return len(words) >= max_len or (bool(words) and words[-1] in CLOSED_CLASS) or not words


def homotopy_fluency(vae, lm, test: SentenceSplit, pairs: int = 100, steps: int = 8, seed: int = 0) -> dict[str, Any]:
    """Bowman et al.'s homotopies judged by a machine: ``pairs`` fixed pairs of test sentences (5-12 words), each
    decoded greedily at ``steps`` points from μ(A) to μ(B); ``dangling_rate``, the fraction of decodes :func:`dangling`
    calls cut mid-phrase, and ``lm_nll_per_word``, the shipped LSTM-LM's NLL per word (</s> included) of those
    decodes, beside ``test_lm_nll_per_word``, the same LM on the test sentences. ``prior_dangling_rate``: 100 greedy
    decodes of z ~ N(0, I), judged the same way."""
    from engines.data.text import detokenize
    from engines.sentences.engine import latent_path

    rng = np.random.default_rng(seed)
    pool = [i for i, t in enumerate(test.tokens) if 5 <= len(t) <= 12]
    picks = rng.choice(pool, size=(pairs, 2), replace=False)
    texts = [detokenize(test.tokens[i]) for i in picks.flatten()]
    mu = vae.encode_texts(texts).reshape(pairs, 2, -1)
    z = latent_path(mu[:, 0], mu[:, 1], steps).reshape(pairs * steps, -1)
    words = deque(vae.decode(z), maxlen=1)[0].words
    prior = deque(vae.decode(vae.prior(100, seed)), maxlen=1)[0].words
    max_len = vae.config.max_len

    def nll_per_word(tokens: list[list[str]]) -> float:
        split = SentenceSplit(tokens, np.arange(len(tokens)))
        return float(np.log(lm.evaluate(split)["ppl"]))

    return {
        "pairs": pairs, "steps": steps,
        "dangling_rate": round(float(np.mean([dangling(w, max_len) for w in words])), 4),
        "lm_nll_per_word": round(nll_per_word([w for w in words if w]), 4),
        "test_lm_nll_per_word": round(nll_per_word(test.tokens), 4),
        "prior_dangling_rate": round(float(np.mean([dangling(w, max_len) for w in prior])), 4),
        "examples": [detokenize(w) for w in words[:steps]],
    }  # fmt: skip


def evaluate_all(samples: int = 4) -> dict[str, Any]:
    """The ``eval sentences --json`` object (see the issue's "Figures for scripts")."""
    from engines.resources import resource_path
    from engines.sentences.engine import SentencesEngine

    _, _, test = SentencesEngine.load_data("wordnet")
    out: dict[str, Any] = {"test_sentences": len(test), "test_words": test.num_tokens(), "z_samples": samples}
    for resource, key in ((r, s.key) for r, s in SentencesEngine.shipped.items()):
        engine = SentencesEngine.from_checkpoint(resource_path(resource))
        dataset = engine.meta.get("dataset", "wordnet")  # each model on its own corpus's test split
        m = engine.evaluate(SentencesEngine.load_data(dataset)[2], samples=samples)  # corpora are parsed once
        out[key] = {k: round(float(m[k]), 4) for k in ("nll", "ppl", "kl", "recon")}
        out[key]["active_units"] = int(m["active_units"])
        out[key]["steps"] = engine.meta.get("trained_steps")
        out[key]["dataset"] = dataset
    default_vae = next(iter(SentencesEngine.shipped))  # the tab's default model
    out["homotopy"] = homotopy_fluency(
        SentencesEngine.from_checkpoint(resource_path(default_vae)),
        SentencesEngine.from_checkpoint(resource_path("sentences-lstm-lm")), test,
    )  # fmt: skip
    out["homotopy"]["model"] = default_vae
    sa = SentencesEngine.from_checkpoint(resource_path("sentences-sa-lstm"))
    out["sa_lstm"] = {task: sa_lstm_experiment(sa.model, task) for task in LABEL_COUNTS}
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
