"""Crafted and damaged inputs (checkpoints, manifests, runs) and the bugs a user would see or hear that no
other test caught: each test here was checked to fail on the mutation its docstring names."""

import json
import logging
import shutil
import threading

import numpy as np
import pytest
import torch
from conftest import flip_a_byte_in_a_tensor

from engines.__main__ import main as cli
from engines.cancel import Cancelled, use_token
from engines.checkpoint import CheckpointError, payload_sha256, read_checkpoint, stale_temporaries
from engines.draw import DrawEngine


@pytest.fixture
def tiny_draw(tmp_path):
    engine = DrawEngine(DrawEngine.presets()["tiny"])
    engine.save(tmp_path / "tiny.pt")
    return tmp_path / "tiny.pt"


def rewrite(path, out, **config):
    """The checkpoint with config entries changed and its checksum recomputed (as an attacker could)."""
    p = torch.load(path, weights_only=True)
    p["config"].update(config)
    p["meta"]["payload_sha256"] = payload_sha256(p["config"], p["state_dict"])
    torch.save(p, out)
    return out


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_a_flipped_byte_in_a_tensor_is_refused(tiny_draw, tmp_path, capsys):
    """Mutation: read_checkpoint without the payload check. A flipped bit then loads silently."""
    bad = flip_a_byte_in_a_tensor(tiny_draw, tmp_path / "flipped.pt")
    with pytest.raises(CheckpointError, match="flipped.pt: its weights or config do not match the checksum"):
        DrawEngine.from_checkpoint(bad)
    engine = DrawEngine.from_checkpoint(tiny_draw)  # the engine keeps its model when a load is refused
    before = {k: v.clone() for k, v in engine.model.state_dict().items()}
    with pytest.raises(CheckpointError):
        engine.load(bad)
    assert all(torch.equal(before[k], v) for k, v in engine.model.state_dict().items())
    assert cli(["eval", "draw", "--checkpoint", str(bad)]) == 1
    assert "checksum" in one_line_error(capsys)


def test_checkpoints_without_a_checksum_still_load_with_a_note(tiny_draw, tmp_path, caplog):
    p = torch.load(tiny_draw, weights_only=True)
    del p["meta"]["payload_sha256"]
    torch.save(p, tmp_path / "old.pt")
    with caplog.at_level(logging.INFO, logger="engines.checkpoint"):
        DrawEngine.from_checkpoint(tmp_path / "old.pt")
    assert "old.pt has no payload checksum" in caplog.text


def test_every_shipped_checkpoint_carries_its_checksum():
    from engines.resources import load_manifest, resource_path

    for name, entry in load_manifest().items():
        if entry["kind"] == "checkpoint":
            read_checkpoint(resource_path(name), entry.get("engine") or _engine_of(name))  # verifies it
            stored = torch.load(resource_path(name), weights_only=True)  # as stored (int8 matrices included)
            assert stored["meta"]["payload_sha256"] == payload_sha256(stored["config"], stored["state_dict"])


def _engine_of(name: str) -> str:
    return {"desm": "desm", "docnade": "docnade", "draw": "draw", "sentences": "sentences",
            "statistician": "statistician", "wavenet": "wavenet"}[name.split("-")[0]]  # fmt: skip


@pytest.mark.parametrize(
    "change, said",
    [({"glimpses": -3}, "config glimpses = -3 is outside [1, 256]"),
     ({"glimpses": "many"}, "glimpses = 'many' is not int"),
     ({"glimpses": 2.5}, "is not int"), ({"attention": 1}, "attention = 1 is not bool"),
     ({"read_n": 0}, "outside"), ({"enc_size": 10**9}, "outside"), ({"colour": "red"}, "does not know: colour")],
)  # fmt: skip
def test_a_checkpoint_with_an_impossible_config_gets_one_line(tiny_draw, tmp_path, capsys, change, said):
    """Mutation: config_from_dict without the type and range checks (a 27-line traceback from the model)."""
    bad = rewrite(tiny_draw, tmp_path / "bad.pt", **change)
    assert cli(["eval", "draw", "--checkpoint", str(bad)]) == 1
    err = one_line_error(capsys)
    assert "bad.pt" in err and said in err


def test_limits_cover_every_numeric_and_choice_field():
    """A new config field cannot be forgotten by the checks: every int, float and str field has limits."""
    import dataclasses
    import typing

    from engines.registry import ENGINES

    for cls in ENGINES.values():
        config = cls.config_class
        hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            if hints[f.name] in (int, float, str):
                assert f.name in config.limits, f"{config.__name__}.{f.name} has no limits"
        for preset in cls.presets().values():  # every preset is itself within them
            from engines.base import config_from_dict

            config_from_dict(config, dataclasses.asdict(preset))


def test_random_bytes_and_other_files_get_one_line(tmp_path, capsys):
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04\x95" + bytes(100))
    torch.save({"format": "genplay-checkpoint", "version": 1, "engine": "draw", "config": {}, "state_dict": {},
                "meta": "x"}, tmp_path / "meta.pt")  # fmt: skip
    for name in ("noise.pt", "pickle.pt", "meta.pt", "missing.pt"):
        assert cli(["eval", "draw", "--checkpoint", str(tmp_path / name)]) == 1
        err = one_line_error(capsys)
        assert name in err and "weights_only" not in err


def test_exit_codes_follow_the_readme(capsys):
    """2 for a bad argument, 1 for an unusable file."""
    assert cli(["eval", "no-such-model"]) == 2
    assert "unknown model" in one_line_error(capsys)
    assert cli(["train", "draw", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in one_line_error(capsys)
    assert cli(["train", "draw", "--steps", "0"]) == 2
    one_line_error(capsys)
    with pytest.raises(SystemExit) as e:
        cli(["train"])
    assert e.value.code == 2


def test_bench_refuses_tampered_shipped_weights(tmp_path, root, monkeypatch, capsys):
    """Mutation: bench falling back to an untrained model when the shipped file fails its sha256."""
    import engines.resources as resources

    res = tmp_path / "res"
    (res / "weights").mkdir(parents=True)
    shutil.copy(root / "resources" / "manifest.json", res / "manifest.json")
    flip_a_byte_in_a_tensor(root / "resources" / "weights" / "draw-attention.pt", res / "weights" / "draw-attention.pt")
    monkeypatch.setattr(resources, "RESOURCES_DIR", res)
    assert cli(["bench", "draw", "--json"]) == 1
    assert "does not match its manifest sha256" in one_line_error(capsys)


def test_a_damaged_manifest_is_named(tmp_path):
    from engines.resources import ResourceError, load_manifest

    (tmp_path / "manifest.json").write_text('{"artifacts": {"a": {"path": "da', encoding="utf-8")
    with pytest.raises(ResourceError, match=r"manifest.json is damaged \(Unterminated string"):
        load_manifest(tmp_path)


def test_stale_temporaries_are_removed_and_a_finished_run_resumes_to_exit_0(tmp_path, capsys):
    """A run killed mid-write leaves .NAME.pt.*.tmp files: the next start of that run removes them; and
    ``--resume auto`` after the last step (torchrun --max-restarts after a late crash) exits 0."""
    out = tmp_path / "run" / "draw.pt"
    out.parent.mkdir()
    stale = [out.parent / ".draw.pt.k2j4h5_x.tmp", out.parent / ".draw.last.pt.abcdef12.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = out.parent / ".other.pt.abcdef12.tmp"  # another file's: not this run's to remove
    keep.write_bytes(b"x")
    args = ["train", "draw", "--preset", "tiny", "--steps", "2", "--batch-size", "4", "--keep-best",
            "--out", str(out), "--resume", "auto", "--logdir", str(tmp_path / "tb")]  # fmt: skip
    assert cli(args) == 0
    assert not any(p.exists() for p in stale) and keep.exists()
    assert stale_temporaries(out) == []
    capsys.readouterr()
    assert cli([*args, "--json"]) == 0
    captured = capsys.readouterr()
    assert "already finished (step 2 of --steps 2)" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1]) == {"finished": True, "steps": 2, "checkpoint": str(out)}


def test_numpy_mu_law_pair_is_signed_and_matches_the_model():
    """Mutation: mu_decode without np.sign (every sample the app plays or saves comes out rectified)."""
    from engines.data.audio import mu_decode, mu_encode
    from engines.wavenet.model import mu_law_decode, mu_law_encode

    x = np.sin(np.linspace(0, 20, 2000)).astype(np.float32) * 0.8
    q = mu_encode(x)
    y = mu_decode(q)
    assert np.corrcoef(x, y)[0, 1] > 0.999 and np.abs(x - y).max() < 0.02
    assert y.min() < -0.75 and abs(float(y.mean() - x.mean())) < 0.01  # a rectified signal has no negative half
    assert mu_decode(np.array([0, 255], np.uint8)).tolist() == pytest.approx([-1.0, 1.0])
    tq = mu_law_encode(torch.from_numpy(x)).numpy()
    assert np.abs(tq.astype(int) - q.astype(int)).max() <= 1
    assert np.allclose(mu_law_decode(torch.from_numpy(q.astype(np.int64))).numpy(), y, atol=1e-5)


def test_draw_forward_stops_within_a_glimpse_of_a_cancel():
    """Mutation: DRAW's per-glimpse check_cancelled() removed (cancel then waits for backward: 140-425 ms)."""
    engine = DrawEngine(DrawEngine.presets()["tiny"])
    token = threading.Event()
    calls = []

    def count(*_):
        calls.append(1)
        if len(calls) == 2:
            token.set()  # the user presses Cancel during glimpse 2

    engine.model.decoder.register_forward_hook(count)
    x = torch.zeros(3, 28, 28)
    use_token(token)
    try:
        with pytest.raises(Cancelled):
            engine.model(x)
    finally:
        use_token(None)
    assert len(calls) == 2  # glimpse 3 never started


def test_int8_checkpoints_load_within_half_a_step_and_refuse_broken_scales(tmp_path):
    from engines.checkpoint import INT8_SCALE

    engine = DrawEngine(DrawEngine.presets()["small"])  # matrices above INT8_MIN_NUMEL, biases below it
    engine.save(tmp_path / "q.pt", int8=True)
    raw = torch.load(tmp_path / "q.pt", weights_only=True)
    assert raw["version"] == 2
    quantized = [k for k, v in raw["state_dict"].items() if v.dtype == torch.int8]
    assert quantized and all(k + INT8_SCALE in raw["state_dict"] for k in quantized)
    assert raw["state_dict"]["encoder.bias_ih"].dtype == torch.float16  # small tensors: fp16
    back = DrawEngine.from_checkpoint(tmp_path / "q.pt")
    for k in quantized:
        w, q = engine.model.state_dict()[k], back.model.state_dict()[k]
        step = w.abs().amax(1, keepdim=True) / 127  # one int8 step of each row
        # half a step of rounding, plus the fp16 scale's own rounding (2^-11 relative) times up to 127 steps
        assert q.dtype == torch.float32 and bool(((q - w).abs() <= step * (0.5 + 127 / 2048)).all()), k
    # a scale vector of the wrong length (checksum recomputed, as an attacker could) is one clear refusal
    k = quantized[0]
    raw["state_dict"][k + INT8_SCALE] = raw["state_dict"][k + INT8_SCALE][:-1]
    raw["meta"]["payload_sha256"] = payload_sha256(raw["config"], raw["state_dict"])
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="one scale per row"):
        DrawEngine.from_checkpoint(tmp_path / "bad.pt")
    plain = DrawEngine(DrawEngine.presets()["tiny"])
    plain.save(tmp_path / "plain.pt", half=True)
    assert torch.load(tmp_path / "plain.pt", weights_only=True)["version"] == 1  # older apps still read these
