"""Sentence models: corpora, the paper pieces (word dropout, annealing, causal CNN context), decoding
paths against the training forward pass, the engine contract, SA-LSTM and the hierarchical AE."""

import json

import numpy as np
import pytest
import torch

from engines.checkpoint import CheckpointError
from engines.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SentenceSplit,
    TextDataError,
    Vocab,
    detokenize,
    load_polarity,
    load_sentences,
    load_text_file,
    tokenize,
)
from engines.sentences import SentenceConfig, SentenceModel, SentencesEngine
from engines.sentences.experiments import _split_polarity, classification_task, sa_lstm_experiment
from engines.sentences.model import gaussian_kl, pad_batch, shift_right, word_dropout
from engines.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def wordnet():
    return load_sentences("wordnet")


@pytest.fixture(scope="module")
def small(wordnet):
    """2,000 training and 200 test sentences of WordNet."""
    tr, te = wordnet.train, wordnet.test
    return SentenceSplit(tr.tokens[:2000], tr.doc[:2000]), SentenceSplit(te.tokens[:200], te.doc[:200])


def tiny_engine(**kw) -> SentencesEngine:
    torch.manual_seed(0)
    cfg = SentencesEngine.presets()["tiny"]
    return SentencesEngine(SentenceConfig(**{**cfg.__dict__, **kw}))


def trained(small, steps=60, **kw) -> SentencesEngine:
    engine = tiny_engine(**kw)
    for _ in Trainer(engine, small[0], TrainConfig(steps=steps, batch_size=32, lr=3e-3)).run():
        pass
    return engine


# -- data ------------------------------------------------------------------------------------------------
def test_tokens_vocab_and_text_round_trip():
    assert tokenize("It's a Dog-eat-dog world, isn't it?") == [
        "it's", "a", "dog", "-", "eat", "-", "dog", "world", ",", "isn't", "it", "?"
    ]  # fmt: skip
    assert detokenize(["he", "said", ",", "no", "(", "twice", ")", "."]) == "he said, no (twice)."
    v = Vocab.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2)
    assert v.words == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"]
    assert v.encode(["a", "c"]) == [4, UNK_ID]
    assert v.decode([BOS_ID, 4, 5, EOS_ID, 4]) == ["a", "b"]
    with pytest.raises(TextDataError):
        Vocab(["a", "b"])


def test_shipped_corpora_have_fixed_disjoint_splits(wordnet):
    assert len(wordnet.train) > 20_000 and 1000 < len(wordnet.valid) < 2000 and 1000 < len(wordnet.test) < 2000
    # a closed vocabulary: every word of every split is in the training split's vocabulary, so no <unk> anywhere
    index = wordnet.vocab.index
    for split in (wordnet.train, wordnet.valid, wordnet.test):
        assert all(w in index for t in split.tokens for w in t)
    assert 10_000 < len(wordnet.vocab) < 12_000 and "-" not in index
    # split by synset: no synset has examples on both sides
    assert not set(wordnet.train.doc.tolist()) & set(wordnet.test.doc.tolist())
    assert max(len(t) for t in wordnet.train.tokens) <= 30
    kjv = load_sentences("kjv")
    assert kjv.test.tokens[0][:4] == ["in", "the", "beginning", "god"]  # Genesis 1: chapter 0 is test
    assert len(kjv.test.passages(3)) > 300
    pol = load_polarity()
    assert len(pol) == 200 and pol.labels.sum() == 100


def test_closed_vocabulary_filters_until_the_training_vocabulary_covers_every_kept_sentence():
    from engines.data.text import closed_vocabulary

    t = lambda text: (0, text.split())  # noqa: E731
    splits = {
        "train": [t("a b"), t("a b"), t("a c zebra"), t("c d"), t("d d")],  # zebra once; without that sentence, c once
        "test": [t("a b"), t("c d"), t("a zebra")],
    }
    kept = closed_vocabulary(splits)
    assert [" ".join(w) for _, w in kept["train"]] == ["a b", "a b", "d d"]  # "c d" goes in the second pass
    assert [" ".join(w) for _, w in kept["test"]] == ["a b"]
    vocab = Vocab.build([w for _, w in kept["train"]]).index
    assert all(w in vocab for split in kept.values() for _, s in split for w in s)


def test_passages_stay_within_a_document():
    split = SentenceSplit([["a"], ["b"], ["c"], ["d"], ["e"], ["f"], ["g"]], np.array([0, 0, 0, 0, 1, 1, 1]))
    assert split.passages(3) == [[["a"], ["b"], ["c"]], [["e"], ["f"], ["g"]]]


def test_a_users_text_file_is_split_or_refused(tmp_path):
    good = tmp_path / "mine.txt"
    good.write_text("\n".join(f"line number {i} is here." for i in range(40)), encoding="utf-8")
    ds = load_text_file(good)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (36, 2, 2)
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(TextDataError, match="2 sentences; at least 20"):
        load_text_file(short)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00abc" * 10)
    with pytest.raises(TextDataError, match="not UTF-8"):
        load_text_file(binary)


# -- model pieces ----------------------------------------------------------------------------------------
def test_decoder_inputs_word_dropout_and_kl():
    x = pad_batch([[5, 6, 7], [8]])
    assert x.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]]
    inp = shift_right(x)
    assert inp.tolist() == [[BOS_ID, 5, 6, 7], [BOS_ID, 8, PAD_ID, PAD_ID]]
    big = shift_right(pad_batch([[9] * 30] * 200))
    dropped = word_dropout(big, 0.3, torch.Generator().manual_seed(0))
    assert (dropped[:, 0] == BOS_ID).all()  # <s> is never dropped
    rate = (dropped[:, 1:] == UNK_ID).float().mean().item()
    assert 0.27 < rate < 0.33
    mu, logvar = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, np.log(4.0)]])
    # KL(N(1, 4) || N(0, 1)) = ½ (1 + 4 - ln 4 - 1)
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([[0.0, 0.5 * (4 - np.log(4))]]))


def test_kl_annealing_schedules():
    sig = SentenceConfig(kl_anneal="sigmoid", anneal_steps=1000)
    assert sig.kl_weight(0) < 0.01 and abs(sig.kl_weight(500) - 0.5) < 1e-6 and sig.kl_weight(1000) > 0.99
    lin = SentenceConfig(kl_anneal="linear", anneal_steps=1000)
    assert lin.kl_weight(250) == 0.25 and lin.kl_weight(5000) == 1.0
    assert SentenceConfig().kl_weight(0) == 1.0


@pytest.mark.parametrize("size,context", [("small", 2), ("medium", 4), ("large", 32)])
def test_cnn_decoder_is_causal_with_the_stated_context(size, context):
    torch.manual_seed(0)
    cfg = SentenceConfig(
        decoder=f"cnn-{size}", emb=8, hidden=8, latent=2, cnn_channels=64, vocab=[str(i) for i in range(20)]
    )
    cfg.vocab[:4] = ["<pad>", "<s>", "</s>", "<unk>"]
    assert cfg.context == context
    m = SentenceModel(cfg).eval()
    T = 40
    x = torch.randint(4, 20, (1, T))
    z = torch.randn(1, 2)
    j = 3
    x2 = x.clone()
    x2[0, j] = 4 if x[0, j] != 4 else 5
    with torch.no_grad():
        a, _ = m.decode_states(x, z)
        b, _ = m.decode_states(x2, z)
    changed = ((a - b).abs().amax(-1) > 1e-6)[0].nonzero()[:, 0].tolist()
    # input j reaches outputs j .. j + context - 1, and nothing before j
    assert changed == list(range(j, min(T, j + context)))


def test_greedy_decoding_follows_the_training_forward_pass(small):
    """The step-by-step decoder (LSTM state carried, CNN prefix recomputed) picks the argmax of the
    teacher-forced logits of its own output, for both decoder kinds."""
    for decoder in ("lstm", "cnn-medium"):
        engine = trained(small, steps=20, decoder=decoder)
        z = engine.prior(3, seed=1)
        texts = engine.decode_all(z)
        ids = engine.ids_of(texts)
        with torch.no_grad():
            h, _ = engine.model.decode_states(shift_right(ids), torch.as_tensor(z))
            logits = engine.model.out(h)
        logits[..., PAD_ID] = logits[..., BOS_ID] = -float("inf")
        for i, text in enumerate(texts):
            n = len(engine.vocab.encode(tokenize(text)))
            if n + 1 < engine.config.max_len:  # the sentence ended with </s>: all n + 1 choices agree
                assert logits[i, : n + 1].argmax(-1).tolist() == ids[i, : n + 1].tolist(), decoder


# -- engine --------------------------------------------------------------------------------------------
def test_training_takes_the_vocabulary_learns_and_reports_every_term(small):
    engine = tiny_engine()
    assert len(engine.vocab) == 4
    events = list(Trainer(engine, small[0], TrainConfig(steps=80, batch_size=32, lr=3e-3), small[1]).run())
    assert len(engine.vocab) == len(Vocab.build(small[0].tokens)) > 500
    steps = [e.metrics for e in events if e.kind == "step"]
    assert {"loss", "recon", "kl", "kl_weight", "nll"} <= set(steps[0])
    assert np.mean([m["recon"] for m in steps[-10:]]) < 0.85 * np.mean([m["recon"] for m in steps[:10]])
    assert steps[-1]["kl_weight"] > steps[0]["kl_weight"]  # annealing goes up with the step count
    assert int(engine.model.steps) == 80
    m = events[-1].metrics
    assert m["nll"] == pytest.approx(m["recon"] + m["kl"])
    assert 0 <= m["active_units"] <= engine.config.latent
    assert m["ppl"] == pytest.approx(np.exp(m["nll"] * len(small[1]) / small[1].num_tokens()), rel=1e-4)


def test_lm_nll_is_exact_and_vae_bound_above_recon(small):
    lm = trained(small, steps=30, kind="lm")
    m = lm.evaluate(small[1])
    assert m["kl"] == 0 and m["active_units"] == 0
    # the LM's NLL is the sum of per-word -log p: recompute it by hand for one sentence
    x = pad_batch([lm.vocab.encode(small[1].tokens[0])])
    with torch.no_grad():
        h, _ = lm.model.decode_states(shift_right(x), None)
        logp = torch.log_softmax(lm.model.out(h), -1)[0]
    by_hand = -logp[torch.arange(x.shape[1]), x[0]].sum().item()
    assert lm.evaluate(SentenceSplit(small[1].tokens[:1], small[1].doc[:1]))["nll"] == pytest.approx(by_hand, rel=1e-5)


def test_interpolation_beam_search_and_prior_samples(small):
    engine = trained(small, steps=40)
    a, b = "the dog barked at the cat", "she sold the old house"
    texts, z = engine.interpolate(a, b, steps=6)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    mu = engine.encode_texts([a, b])
    assert np.allclose(z[0], mu[0], atol=1e-6) and np.allclose(z[-1], mu[1], atol=1e-6)
    beam = engine.beam_decode(z[:2], width=4)
    assert len(beam) == 2
    frames = list(engine.sample(n=4, temperature=1.0, seed=3))
    assert frames[-1].done and len(frames[-1].texts) == 4
    assert all(len(f.words[0]) <= len(frames[-1].words[0]) for f in frames)  # grows word by word
    again = list(engine.sample(n=4, temperature=1.0, seed=3))[-1].texts
    assert again == frames[-1].texts
    toks, unknown = engine.in_vocab("the zzqx of")
    assert unknown == ["zzqx"]
    with pytest.raises(ValueError, match="latent"):
        trained(small, steps=1, kind="lm").encode_texts(["a"])


def test_checkpoint_round_trip_and_corrupt_file(small, tmp_path):
    engine = trained(small, steps=20)
    path = tmp_path / "s.pt"
    engine.save(path)
    again = SentencesEngine.from_checkpoint(path)
    assert again.vocab.words == engine.vocab.words and int(again.model.steps) == 20
    assert again.evaluate(small[1])["recon"] == pytest.approx(engine.evaluate(small[1])["recon"], rel=1e-5)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        again.load(bad)
    assert again.checkpoint_path == path  # still the old model


def test_hierarchical_autoencoder_decodes_passages():
    kjv = load_sentences("kjv")
    train = SentenceSplit(kjv.train.tokens[:600], kjv.train.doc[:600])
    engine = tiny_engine(kind="hier", max_len=20)
    for _ in Trainer(engine, train, TrainConfig(steps=30, batch_size=16, lr=3e-3)).run():
        pass
    x = engine._tensor(engine.encode(train)[:4])
    assert x.shape[:2] == (4, 3)
    rec = engine.reconstruct_passage(x)
    # greedy reconstruction's first word of every sentence = argmax of the teacher-forced first logits
    # (the same decoder, reached through the other code path)
    with torch.no_grad():
        logits = engine.model.out(engine.model.hier_states(x)[:, 0])
    logits[:, PAD_ID] = logits[:, BOS_ID] = -float("inf")
    first = logits.argmax(-1).reshape(4, 3)
    for b in range(4):
        for s in range(3):
            if rec[b][s]:
                assert rec[b][s][0] == first[b, s].item()
            else:
                assert first[b, s].item() == EOS_ID
    out = engine.reconstruct_text(["in the beginning god created the heaven.", "and the earth was void."])
    assert len(out) == 2
    acc = engine.reconstruction_accuracy(train, limit=20)
    assert 0.0 <= acc <= 1.0


def test_sa_lstm_experiment_copies_pretrained_weights_and_reports_each_count(small):
    engine = trained(small, steps=10, kind="ae")
    pool, test = _split_polarity(load_polarity(), 0)
    assert len(test) == 60 and not set(pool) & set(test)
    assert sum(load_polarity().labels[pool[:10]]) == 5  # any even prefix of the pool is balanced
    res = sa_lstm_experiment(engine.model, label_counts=(10, 20), seeds=1, steps=20)
    assert res["label_counts"] == [10, 20] and len(res["pretrained"]) == len(res["random"]) == 2
    assert all(0 <= a <= 1 for a in res["pretrained"] + res["random"]) and res["test_sentences"] == 60
    x_pool, y_pool, x_test, y_test = classification_task("word_class", engine.vocab, 32, 0)
    n_test = len(load_sentences("wordnet").test)
    assert len(y_test) == n_test and set(y_pool.tolist()) == {0, 1, 2}  # noun, verb, adjective/adverb
    res = sa_lstm_experiment(engine.model, "word_class", label_counts=(30,), seeds=1, steps=20)
    assert res["test_sentences"] == n_test and 0.3 < res["majority"] < 0.6
    from engines.sentences.model import SentenceClassifier

    clf = SentenceClassifier(len(engine.vocab), engine.config.emb, engine.config.hidden)
    clf.load_pretrained(engine.model)
    assert torch.equal(clf.encoder.weight_hh_l0, engine.model.encoder.weight_hh_l0)


def test_cli_eval_checkpoint_and_bad_dataset(small, tmp_path, root):
    engine = trained(small, steps=5)
    path = tmp_path / "s.pt"
    engine.save(path)
    from conftest import run_cli

    out = run_cli(root, "eval", "sentences", "--checkpoint", str(path), "--json", "--samples", "1")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)
    assert {"nll", "ppl", "kl", "active_units"} <= set(m)
    missing = str(tmp_path / "none.txt")
    bad = run_cli(root, "train", "sentences", "--preset", "tiny", "--dataset", missing, "--steps", "1")
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_dangling_decodes_end_on_a_closed_class_word_or_at_the_length_limit():
    from engines.sentences.experiments import CLOSED_CLASS, dangling

    assert not dangling("the children played in the park".split(), 30)
    assert dangling("the children were in the".split(), 30)  # cut mid-phrase
    assert dangling("he was a good and".split(), 30) and dangling("it will".split(), 30)
    assert dangling(["park"] * 30, 30) and not dangling(["park"] * 29, 30)  # no </s> within the limit: cut
    assert dangling([], 30)
    assert {"the", "of", "and", "was", "their"} <= CLOSED_CLASS and not {"park", "it", "him"} & CLOSED_CLASS


def test_homotopy_fluency_scores_greedy_paths_between_fixed_test_pairs(small):
    from engines.sentences.experiments import homotopy_fluency

    train, test = small
    vae = tiny_engine()
    vae.fit_data(train)
    lm = tiny_engine(kind="lm")
    lm.fit_data(train)
    r = homotopy_fluency(vae, lm, test, pairs=6, steps=3)
    again = homotopy_fluency(vae, lm, test, pairs=6, steps=3)
    assert r == again and len(r["examples"]) == 3  # fixed pairs, greedy: the same figures every time
    assert 0 <= r["dangling_rate"] <= 1 and 0 <= r["prior_dangling_rate"] <= 1
    # an untrained LM gives every word about log |V| nats, decodes and test sentences alike
    V = len(lm.vocab.words)
    assert r["test_lm_nll_per_word"] == pytest.approx(np.log(V), rel=0.05)
