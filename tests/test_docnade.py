"""DocNADE and DocNADE-LM: the equations, the tree softmax, training, the shipped weights, users' folders."""

import math

import numpy as np
import pytest
import torch

from engines.data import documents
from engines.docnade import DocNade, DocNadeConfig, DocNadeEngine, perplexity
from engines.docnade.engine import corpus_splits
from engines.docnade.experiments import precision_at_recall
from engines.resources import resource_path


def small_model(**kw) -> DocNade:
    torch.manual_seed(0)
    cfg = DocNadeConfig(vocab_size=37, hidden=6, **kw)
    m = DocNade(cfg, counts=np.arange(1, 38))
    for p in m.parameters():  # non-zero output weights, so every term matters
        torch.nn.init.normal_(p, std=0.3)
    return m


def test_docnade_sees_a_bag_and_docnade_lm_sees_the_order():
    v = torch.tensor([[3, 7, 9, 1, 30]])
    swapped = torch.tensor([[7, 3, 9, 1, 30]])  # the words before position 2 in another order
    bag = small_model()
    assert torch.allclose(bag.hidden(v)[0, 2:], bag.hidden(swapped)[0, 2:], atol=1e-6)
    lm = small_model(lm_order=3)
    assert not torch.allclose(lm.hidden(v)[0, 2], lm.hidden(swapped)[0, 2], atol=1e-4)
    assert torch.allclose(lm.hidden(v)[0, 4], lm.hidden(swapped)[0, 4], atol=1e-6)  # trigram window moved past


def test_perplexity_is_the_papers_per_document_average():
    nll, n = np.array([10.0, 40.0]), np.array([5, 10])
    assert math.isclose(perplexity(nll, n), math.exp((2.0 + 4.0) / 2))


def test_tiny_training_lowers_validation_perplexity_and_a_checkpoint_round_trips(tmp_path):
    from engines.train import TrainConfig, Trainer

    train, valid, _ = DocNadeEngine.load_data("wiki+newsgroups")
    e = DocNadeEngine(DocNadeEngine.presets()["tiny"], device="cpu")
    e.fit_data(train)
    before = e.evaluate(valid)["ppl"]
    for _ in Trainer(e, train, TrainConfig(steps=300, batch_size=32, lr=2e-2, seed=0), valid).run():
        pass
    after = e.evaluate(valid)["ppl"]
    assert after < 0.88 * before  # 274 -> 227 measured; a uniform start gives 274
    e.save(tmp_path / "d.pt")
    back = DocNadeEngine.from_checkpoint(tmp_path / "d.pt", device="cpu")
    assert back.vocab == e.vocab and back.evaluate(valid)["ppl"] == pytest.approx(after, rel=1e-5)


def test_shipped_docnade_beats_a_unigram_model_on_the_test_split():
    from collections import Counter

    train, _, test = corpus_splits(documents.load_corpus())
    e = DocNadeEngine.from_checkpoint(resource_path("docnade-wiki"), device="cpu")
    counts = Counter(w for d in e.encode(train) for w in d.tolist())
    total = sum(counts.values()) + len(e.vocab)
    docs = [d for d in e.encode(test) if len(d)]
    uni = [-sum(math.log((counts[w] + 1) / total) for w in d.tolist()) for d in docs]  # add-one unigram
    ppl_uni = perplexity(np.array(uni), np.array([len(d) for d in docs]))
    ppl = e.evaluate(test)["ppl"]
    assert ppl < 0.9 * ppl_uni, (ppl, ppl_uni)


def test_score_text_names_unknown_words_and_topics_are_words():
    e = DocNadeEngine.from_checkpoint(resource_path("docnade-wiki"), device="cpu")
    s = e.score_text("The space shuttle launched from Florida; zyxwv flurbs.")
    assert "space" in s.words and "shuttle" in s.words and {"zyxwv", "flurbs"} <= set(s.unknown)
    assert np.all(s.log_probs < 0) and s.perplexity > 1
    topics = e.topics(5)
    assert len(topics) == e.config.hidden and all(len(t) == 5 and set(t) <= set(e.vocab) for t in topics)


def test_precision_at_recall():
    labels = np.array([0, 0, 1, 1])
    db = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    perfect = precision_at_recall(db, labels, db, labels, levels=(0.5, 1.0))
    assert perfect == {"p@r0.5": 1.0, "p@r1": 1.0}
    flipped = precision_at_recall(db, 1 - labels, db, labels, levels=(1.0,))
    assert flipped["p@r1"] == 0.5  # both relevant items come last: 2 of 4


def test_a_users_folder_keeps_readable_files_and_lists_the_rest(tmp_path):
    (tmp_path / "good.txt").write_text("Rockets and orbits.\n\nThe shuttle flew to the station.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.md").write_text("# Notes\n\nAtheism and belief were discussed.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    passages, skipped = documents.read_folder(tmp_path)
    assert {p.title for p in passages} == {"good", "notes"}
    assert dict(skipped) == {"latin1.txt": "not UTF-8 text", "binary.txt": "binary content"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(documents.DocumentDataError, match="no .txt or .md"):
        documents.read_folder(tmp_path / "empty")
    with pytest.raises(documents.DocumentDataError, match="is not a folder"):
        documents.read_folder(tmp_path / "good.txt")


def test_warm_start_copies_the_shared_weights_and_refuses_other_models(tmp_path):
    from engines.checkpoint import CheckpointError

    train, valid, _ = DocNadeEngine.load_data("wiki+newsgroups")
    bag = DocNadeEngine(DocNadeEngine.presets()["tiny"], device="cpu")
    bag.fit_data(train)
    torch.nn.init.normal_(bag.model.W.weight)
    bag.save(tmp_path / "bag.pt")
    lm = DocNadeEngine(DocNadeConfig(vocab_size=300, hidden=8, lm_order=3), device="cpu")
    lm.fit_data(train)
    copied = lm.warm_start(tmp_path / "bag.pt")
    assert "W.weight" in copied and "U" not in copied
    assert torch.equal(lm.model.W.weight, bag.model.W.weight)
    with pytest.raises(CheckpointError):
        lm.warm_start(resource_path("draw-attention"))  # another engine's file
    wide = DocNadeEngine(DocNadeConfig(vocab_size=200, hidden=16), device="cpu")  # every shape differs
    wide.fit_data(train)
    with pytest.raises(CheckpointError, match="shares no weights"):
        wide.warm_start(tmp_path / "bag.pt")
