"""The Neural Statistician engine: glyph data, sets, few-shot episodes, the baseline, saved sets, the CLI."""

import json

import numpy as np
import pytest
import torch
from conftest import run_cli

from engines.data.glyphs import load_glyphs
from engines.statistician import StatisticianEngine
from engines.statistician.data import ImageSets, SyntheticSets, binarise, load_sets, save_sets, turn


@pytest.fixture(scope="module")
def glyph_splits():
    return StatisticianEngine.load_data("glyphs")


@pytest.fixture(scope="module")
def shipped():
    from engines.resources import resource_path

    return StatisticianEngine.from_checkpoint(resource_path("statistician-glyphs"), device="cpu")


def test_glyph_scripts_are_held_out_whole_and_each_character_has_twenty_drawings():
    g = load_glyphs()
    by_split = {s: {g.scripts[i] for i, sp in enumerate(g.script_split) if sp == s} for s in ("train", "valid", "test")}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["valid"] & by_split["test"])
    assert {"Glagolitic", "Tibetan", "Malayalam"} <= by_split["test"] and "Latin" in by_split["train"]
    counts = np.bincount(g.char, minlength=len(g.chars))
    assert (counts == 20).all() and len(g.chars) > 1500
    assert set(np.unique(g.images)) == {0, 255}  # binary, like Omniglot
    test = g.split("test")
    assert {g.script_of(c) for c in np.unique(test.labels)} == by_split["test"]
    # the drawings of one character differ (different hands), on average less than two characters do
    within = [(g.images[g.char == c][0] != g.images[g.char == c][1]).sum() for c in range(0, 1500, 30)]
    between = [(g.images[g.char == c][0] != g.images[g.char == c + 1][1]).sum() for c in range(0, 1500, 30)]
    assert 0 < min(within) and np.mean(within) < 0.9 * np.mean(between)


def test_sets_hold_one_class_each(glyph_splits):
    train = glyph_splits[0]
    x, labels = train.draw(8, 5, np.random.default_rng(0))
    assert x.shape == (8, 5, 784) and set(np.unique(x)) <= {0.0, 1.0}
    for xs, lab in zip(x, labels):
        members = binarise(train.images[train.labels == lab])
        assert all(any((m == item).all() for m in members) for item in xs)
    with pytest.raises(ValueError, match="at least two classes"):
        ImageSets("one", np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.int64))


def test_context_is_order_free_and_defined_for_any_set_size(glyph_splits):
    torch.manual_seed(0)
    engine = StatisticianEngine(StatisticianEngine.presets()["default"], device="cpu")
    items = glyph_splits[2].set_of(0, 12, np.random.default_rng(1))
    mu, lv = engine.context(items)
    mu_p, lv_p = engine.context(items[::-1].copy())
    np.testing.assert_allclose(mu, mu_p, atol=1e-5)
    np.testing.assert_allclose(lv, lv_p, atol=1e-5)
    assert engine.context(items[:1])[0].shape == (64,)
    with pytest.raises(ValueError, match="empty set"):
        engine.context(items[:0])


def test_tiny_model_learns_and_collate_is_deterministic(glyph_splits):
    torch.manual_seed(0)
    engine = StatisticianEngine(StatisticianEngine.presets()["tiny"], device="cpu")
    train = glyph_splits[0]
    opt = torch.optim.Adam(engine.model.parameters(), lr=3e-3)
    batches = engine.batches(train, 16, np.random.default_rng(0))
    losses = [engine.train_step(next(batches), opt)["loss"] for _ in range(60)]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:3])
    a, b = engine.collate(train, [3, 900], 0, 1), engine.collate(train, [3, 900], 0, 1)
    assert torch.equal(a, b) and a.shape[0] == 2 and 1 <= a.shape[1] <= 3  # tiny: set sizes 1-3 per batch
    sizes = {engine.collate(train, [i, 900], 0, 1).shape[1] for i in range(12)}
    assert sizes == {1, 2, 3}


def test_turned_training_sets_turn_whole_and_the_bound_averages_the_four_turns(glyph_splits):
    """augment="turns": each training set is one character turned as a whole (a per-item turn would mix four
    characters in a set); the bound rule then averages the query's bound over the four turns of the episode, so
    turning every image of the data by 90° leaves its few-shot accuracy and a classification's bounds unchanged."""
    img = np.arange(784, dtype=np.float32).reshape(1, 784)
    assert np.array_equal(turn(img, 1).reshape(28, 28), np.rot90(img.reshape(28, 28)))
    assert np.array_equal(turn(turn(img, 1), 3), img) and turn(img, 4) is img
    torch.manual_seed(0)
    cfg = StatisticianEngine.presets()["tiny"]
    cfg.augment = "turns"
    engine = StatisticianEngine(cfg, device="cpu")
    test = glyph_splits[2]
    x = engine.collate(test, list(range(40)), 0, 1).numpy()  # item i: a set of class i
    seen = set()
    for i, s in enumerate(x):
        members = binarise(test.images[test.members[i]])
        t = [q for q in range(4) if all(any((turn(item, -q) == m).all() for m in members) for item in s)]
        assert t, f"set {i} is not one turn of its character"
        seen.add(t[0])
    assert seen == {0, 1, 2, 3}
    from engines.resources import resource_path

    engine = StatisticianEngine.from_checkpoint(resource_path("statistician-glyphs"), device="cpu")
    engine.config.augment = "turns"  # trained weights (their bounds tell sets apart), scored as a turned model's
    turned_data = ImageSets("turned", np.ascontiguousarray(np.rot90(test.images, 1, axes=(1, 2))), test.labels)
    a = engine.few_shot(test, 5, 1, episodes=40, bound=True)
    b = engine.few_shot(turned_data, 5, 1, episodes=40, bound=True)
    assert a["bound_acc"] == b["bound_acc"] and engine.turns == 4
    sets = [test.images[test.members[c][:3]] for c in (0, 5, 9)]
    query = test.images[test.members[5][4]]
    r = engine.classify(query, sets)
    r90 = engine.classify(np.rot90(query).copy(), [np.rot90(s, 1, axes=(1, 2)).copy() for s in sets])
    np.testing.assert_allclose(r.bound, r90.bound, atol=1e-3)
    assert np.ptp(r.bound) > 1  # nats: the sets' contexts matter
    engine.config.augment = "none"  # the same weights, one turn: the average is of the four one-turn bounds
    one = [engine.classify(np.rot90(query, t).copy(), [np.rot90(s, t, axes=(1, 2)).copy() for s in sets]).bound
           for t in range(4)]  # fmt: skip
    np.testing.assert_allclose(r.bound, np.mean(one, 0), atol=1e-3)


def test_nearest_neighbour_baseline_and_episode_rules():
    rng = np.random.default_rng(0)
    protos = (rng.random((6, 28, 28)) < 0.3).astype(np.uint8) * 255
    images = np.repeat(protos, 4, axis=0)  # each class: four identical images
    flip = rng.random(images.shape) < 0.03  # a little noise
    images = np.where(flip, 255 - images, images).astype(np.uint8)
    data = ImageSets("toy", images, np.repeat(np.arange(6), 4))
    engine = StatisticianEngine(StatisticianEngine.presets()["tiny"], device="cpu")
    r = engine.few_shot(data, 5, 1, episodes=40)
    assert r["nn_acc"] == 1.0 and 0 <= r["acc"] <= 1
    assert engine.few_shot(data, 10, 1, episodes=5) == {"acc": None, "nn_acc": None}  # only 6 classes
    assert engine.few_shot(data, 5, 4, episodes=5) == {"acc": None, "nn_acc": None}  # 4 items: no 5th to query


def test_shipped_model_beats_the_baseline_and_classifies_held_out_characters(shipped, glyph_splits):
    test = glyph_splits[2]
    r = shipped.few_shot(test, 5, 1, episodes=200)
    assert r["acc"] > r["nn_acc"] + 0.05 and r["acc"] > 0.8
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(20):
        classes = rng.choice(len(test), 5, replace=False)
        sets = [test.set_of(int(c), 5, rng) for c in classes]
        truth = int(rng.integers(5))
        query = test.images[[i for i in test.members[classes[truth]]
                             if not any((test.images[i] == s).all() for s in sets[truth])][0]]  # fmt: skip
        res = shipped.classify(query, sets)
        assert res.probs.sum() == pytest.approx(1.0) and res.best == int(np.argmax(res.probs))
        hits += res.best == truth
    assert hits >= 15


def test_the_query_bound_rule_classifies_held_out_characters_better_than_the_kl(shipped, glyph_splits):
    """p(query | set), approximated by the query's bound under each set's context mean: a sign or a context
    mix-up in item_bound drops it to chance (20 %)."""
    r = shipped.few_shot(glyph_splits[2], 5, 1, episodes=200, bound=True)
    assert r["bound_acc"] > 0.85 and r["bound_acc"] > r["acc"] and r["bound_acc"] > r["nn_acc"] + 0.2
    rng = np.random.default_rng(1)
    test = glyph_splits[2]
    sets = [test.set_of(int(c), 5, rng) for c in rng.choice(len(test), 4, replace=False)]
    query = sets[1][0]
    by_bound, by_kl = shipped.classify(query, sets), shipped.classify(query, sets, rule="kl")
    assert by_bound.rule == "bound" and by_bound.best == int(np.argmax(by_bound.bound)) == 1
    assert by_kl.best == int(np.argmin(by_kl.kl)) and np.allclose(by_kl.kl, by_bound.kl)
    assert by_bound.probs.sum() == pytest.approx(1.0) and int(np.argmax(by_bound.probs)) == 1
    with pytest.raises(ValueError, match="unknown rule"):
        shipped.classify(query, sets, rule="nearest")


def test_generated_samples_follow_the_set(shipped, glyph_splits):
    """Samples from a set's context are closer (in pixels) to that set than to another set."""
    test = glyph_splits[2]
    rng = np.random.default_rng(2)
    a, b = (test.set_of(int(c), 5, rng) for c in rng.choice(len(test), 2, replace=False))
    frames = list(shipped.sample(sets=[a, b], n=16, seed=0))
    assert [f.index for f in frames] == [0, 1] and frames[0].samples.shape == (16, 28, 28)

    def dist(samples, s):
        return np.abs(samples.mean(0) - binarise(s).reshape(-1, 28, 28).mean(0)).mean()

    assert dist(frames[0].samples, a) < dist(frames[0].samples, b)
    assert dist(frames[1].samples, b) < dist(frames[1].samples, a)


def test_sample_fidelity_tells_samples_of_the_set_from_a_blur(shipped, glyph_splits, monkeypatch):
    test = glyph_splits[2]
    r = shipped.sample_fidelity(test, episodes=40)
    assert r["nn_acc"] > 0.5 and r["entropy_bits"] < 0.4  # chance is 0.2
    # a generator that ignores the set and draws grey: at chance, and undecided everywhere
    monkeypatch.setattr(shipped.model, "generate", lambda c, n, g=None: torch.full((c.shape[0], n, 784), 0.45))
    r = shipped.sample_fidelity(test, episodes=40)
    assert r["nn_acc"] < 0.35 and r["entropy_bits"] > 0.95


def test_saved_sets_round_trip_and_bad_files_are_refused(tmp_path):
    sets = [("alpha", np.full((2, 28, 28), 255, np.uint8)), ("beta", np.zeros((3, 28, 28), np.uint8))]
    path = tmp_path / "sets.json"
    save_sets(path, sets)
    back = load_sets(path)
    assert [n for n, _ in back] == ["alpha", "beta"] and all((x == y).all() for (_, x), (_, y) in zip(sets, back))
    bad = {"format": "genplay-statistician-sets", "sets": [{"name": "x", "images": "@@"}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="bad.json: set 1 .'x'.: images are not base64"):
        load_sets(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a file of image sets"):
        load_sets(tmp_path / "other.json")
    with pytest.raises(ValueError, match="cannot read"):
        load_sets(tmp_path / "missing.json")


def test_synthetic_sets_and_family_accuracy():
    engine = StatisticianEngine(StatisticianEngine.presets()["synthetic"], device="cpu")
    x, fam = SyntheticSets().draw(6, 200, np.random.default_rng(0))
    assert x.shape == (6, 200, 1) and set(fam) <= {0, 1, 2, 3}
    m = engine.evaluate(SyntheticSets(), n_sets=32)
    assert np.isfinite(m["loss"]) and 0 <= m["family_acc"] <= 1


def test_the_generative_side_trains_alone_and_the_statistic_stays(tmp_path):
    from engines.train import TrainConfig, Trainer

    torch.manual_seed(0)
    engine = StatisticianEngine(StatisticianEngine.presets()["synthetic"], device="cpu")
    before = {k: v.clone() for k, v in engine.model.state_dict().items()}
    cfg = TrainConfig(steps=3, batch_size=4, only="decoder,prior,posterior")
    list(Trainer(engine, SyntheticSets(), cfg).run())
    after = engine.model.state_dict()
    moved = {k.split(".")[0] for k in after if not torch.equal(after[k], before[k])}
    assert moved == {"decoder", "prior", "posterior"}  # the encoder and statistic network: untouched
    with pytest.raises(ValueError, match="no part 'encoder'"):
        Trainer(engine, SyntheticSets(), TrainConfig(steps=1, only="decoder,encoder"))


def test_cli_bench_and_train(root, tmp_path):
    r = run_cli(root, "bench", "statistician", "--json", "--threads", "1")
    assert r.returncode == 0, r.stderr
    bench = json.loads(r.stdout)
    assert 0 < bench["summarise_set_of_5_ms"] < 1000 and 0 < bench["generate_16_ms"] < 1000
    out = tmp_path / "s.pt"
    r = run_cli(root, "train", "statistician", "--preset", "tiny", "--dataset", "mnist", "--steps", "6",
                "--out", str(out), "--json", "--logdir", str(tmp_path / "tb"), "--threads", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["item_unit"] == "sets" and "acc_5way_1shot" in res["test"] and out.is_file()
    r = run_cli(root, "train", "statistician", "--preset", "tiny", "--dataset", str(tmp_path / "nope.npz"),
                "--steps", "2")  # fmt: skip
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "nope" in r.stderr


def test_eval_keys(shipped):
    out = StatisticianEngine.evaluate_shipped(episodes=20)
    assert out["model"] == "statistician-glyphs-conv"  # the tab's default model and rule make the keys
    for prefix in ("", "mnist_", "fashion_"):
        for way, shot in ((5, 1), (5, 5), (20, 1), (20, 5)):
            for key in (f"{prefix}acc_", f"{prefix}kl_acc_", f"nn_{prefix}acc_"):
                assert f"{key}{way}way_{shot}shot" in out
    assert out["mnist_acc_20way_1shot"] is None and 0 <= out["mnist_acc_10way_1shot"] <= 1
    assert 0 <= out["acc_20way_5shot"] <= 1 and out["test_scripts"] == 12
    assert 0 <= out["synthetic_family_acc"] <= 1
    assert 0 <= out["sample_nn_acc_5way"] <= 1 and 0 <= out["sample_entropy_bits"] <= 1
    # the MLP-decoder model: a worse bound and blurrier samples than the default's
    assert out["test_bound"] < out["mlp_test_bound"]
    assert out["sample_entropy_bits"] < out["mlp_sample_entropy_bits"]
    assert 0 <= out["mlp_acc_5way_1shot"] <= 1 and 0 <= out["mlp_kl_acc_20way_1shot"] <= 1
    assert (out["turns"] > 1) == ("one_turn_acc_5way_1shot" in out)
