"""The command line, the resources manifest and the data readers."""

import json
import shutil

import numpy as np
import pytest
from conftest import run_cli

from engines.data.images import ImageDataError, images_from_idx, read_idx, write_idx
from engines.resources import ResourceError, load_manifest, resource_path, sha256_file, verify_all


def test_manifest_entries_are_complete_and_match(root):
    entries = load_manifest()
    from engines.sentences import SentencesEngine
    from engines.statistician import StatisticianEngine

    shipped = {"mnist5k", "fashion-mnist-7k", "draw-attention", "draw-no-attention", "speech8k", "wavenet-speech",
               "sentences", "sentences-sa-lstm", "sentences-hier-ae", *SentencesEngine.shipped,
               "glyphs", *StatisticianEngine.shipped}  # fmt: skip
    assert shipped <= set(entries)
    # every file in resources/ is listed (nothing unaccounted for ships)
    listed = {e["path"] for e in entries.values()}
    on_disk = {str(p.relative_to(root / "resources")) for p in (root / "resources").rglob("*.*")
               if p.parent.name in ("data", "weights", "lessons")}  # fmt: skip
    assert on_disk == listed
    for name, e in entries.items():
        for key in ("path", "kind", "source", "licence", "size", "sha256", "command", "metrics"):
            assert e.get(key) not in (None, ""), f"{name} lacks {key}"
        assert (root / "resources" / e["path"]).stat().st_size == e["size"]
    assert verify_all() == []
    assert entries["draw-attention"]["command"].startswith("python -m engines train draw")


def test_tampered_resource_is_refused(tmp_path, root):
    res = tmp_path / "res"
    shutil.copytree(root / "resources" / "data", res / "data")
    shutil.copy(root / "resources" / "manifest.json", res / "manifest.json")
    assert resource_path("mnist5k", root=res).is_file()
    with open(res / "data" / "mnist5k.npz", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ResourceError, match="sha256"):
        resource_path("mnist5k", root=res)
    with pytest.raises(ResourceError, match="not in"):
        resource_path("nothing-like-this", root=res)


def test_verify_refuses_a_shipped_checkpoint_that_carries_a_training_state(tmp_path, root):
    import torch

    from engines.checkpoint import atomic_write_bytes
    from engines.resources import register

    res = tmp_path / "res"
    (res / "weights").mkdir(parents=True)
    shutil.copy(root / "resources" / "weights" / "docnade-wiki.pt", res / "weights" / "a.pt")
    shutil.copy(root / "resources" / "manifest.json", res / "manifest.json")
    (res / "manifest.json").write_text('{"artifacts": {}}')
    register("a", res / "weights" / "a.pt", kind="checkpoint", source="s", licence="l", command="c", root=res)
    assert verify_all(res) == []
    payload = torch.load(res / "weights" / "a.pt", map_location="cpu", weights_only=True)
    payload["train_state"] = {"step": 3}  # what a keep-best file under runs/ holds beside its weights
    atomic_write_bytes(res / "weights" / "a.pt", lambda f: torch.save(payload, f))
    register("a", res / "weights" / "a.pt", kind="checkpoint", source="s", licence="l", command="c", root=res)
    assert verify_all(res) == ["a: carries a training state (re-save the weights alone, or quantize it)"]


def test_idx_round_trip_and_errors(tmp_path):
    imgs = np.arange(20 * 28 * 28, dtype=np.uint32).reshape(20, 28, 28).astype(np.uint8)
    p = tmp_path / "x.idx"
    write_idx(p, imgs)
    np.testing.assert_array_equal(read_idx(p), imgs)
    ds = images_from_idx(p)
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 20
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ImageDataError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(p.read_bytes()[:500])
    with pytest.raises(ImageDataError, match="truncated"):
        read_idx(tmp_path / "short")
    write_idx(tmp_path / "small.idx", np.zeros((20, 10, 10), np.uint8))
    with pytest.raises(ImageDataError, match="28x28"):
        images_from_idx(tmp_path / "small.idx")


def test_fashion_idx_files_as_debian_ships_them_read_like_the_shipped_subset(tmp_path):
    """Debian's dataset-fashion-mnist layout (gzipped idx3 images and idx1 labels), written here from the
    shipped subset so that CI reads the format without the package."""
    import gzip

    from engines.data.images import load_dataset

    shipped = load_dataset("fashion").test
    for name, array in (("t10k-images-idx3-ubyte", shipped.images), ("t10k-labels-idx1-ubyte", shipped.labels)):
        write_idx(tmp_path / name, np.asarray(array).astype(np.uint8))
        with gzip.open(tmp_path / f"{name}.gz", "wb") as f:
            f.write((tmp_path / name).read_bytes())
        (tmp_path / name).unlink()
    x = read_idx(tmp_path / "t10k-images-idx3-ubyte.gz")
    assert x.shape == (1000, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, shipped.images)
    ds = images_from_idx(tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 1000
    assert sorted(np.bincount(ds.train.labels).tolist() + [0])[-1] < 100  # labels travel with their images
    i = int(np.flatnonzero((shipped.images == ds.test.images[0]).all(axis=(1, 2)))[0])
    assert ds.test.labels[0] == shipped.labels[i]


def test_eval_draw_json(root):
    proc = run_cli(root, "eval", "draw", "--json", "--samples", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    m = json.loads(lines[0])
    assert m["nll_attention"] < m["nll_no_attention"]
    assert 60 < m["nll_attention"] < 200 and m["test_images"] == 500


def test_eval_episodes_is_refused_where_there_are_none(root):
    proc = run_cli(root, "eval", "draw", "--episodes", "5")
    assert proc.returncode != 0 and "statistician" in proc.stderr.strip().splitlines()[-1]


def test_bench_draw_json(root):
    proc = run_cli(root, "bench", "draw", "--json")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert m["ms_per_glimpse_16"] > 0 and m["train_images_per_s"] > 0


def test_train_tiny_json_and_checkpoint(root, tmp_path):
    out = tmp_path / "tiny.pt"
    proc = run_cli(root, "train", "draw", "--preset", "tiny", "--steps", "5", "--batch-size", "8", "--json",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["steps"] == 5 and res["world_size"] == 1 and res["checkpoint"] == str(out)
    assert res["final_loss"] > 0 and out.is_file()
    ev = run_cli(root, "eval", "draw", "--checkpoint", str(out), "--json", "--samples", "1")
    assert ev.returncode == 0 and json.loads(ev.stdout)["nll"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "drw"], "unknown model 'drw'"),
        (["train", "draw", "--steps", "x"], "invalid int value"),
        (["train", "draw", "--preset", "huge"], "unknown preset 'huge'"),
        (["train", "draw", "--steps", "0"], "must be positive"),
        (["eval", "draw", "--checkpoint", "/nonexistent.pt"], "no such checkpoint"),
        (["train", "draw", "--dataset", "/nonexistent.idx", "--steps", "1"], "unknown dataset"),
        (["frobnicate"], "invalid choice"),
        (["train", "draw", "--out", "/tmp/x.pt", "--register", "x"], "--register needs --out inside"),
        (["train", "sentences", "--option", "nope=1"], "sentences's options are kl_anneal, anneal_steps, word_dropout"),
        (["train", "sentences", "--option", "kl_anneal=cubic"], "must be one of none, sigmoid, linear"),
        (["train", "draw", "--resume", "auto"], "--resume auto needs --out"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(root, args, message):
    proc = run_cli(root, *args, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_corrupt_checkpoint_on_the_command_line(root, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04garbage")
    proc = run_cli(root, "eval", "draw", "--checkpoint", str(bad))
    assert proc.returncode == 1 and proc.stderr.startswith("error: bad.pt: not a readable checkpoint")
    assert proc.stderr.count("\n") == 1


def test_sha256_helper(tmp_path):
    p = tmp_path / "a"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_verify_command(root):
    proc = run_cli(root, "verify", separate_process=True)  # one real process: the console entry end to end
    assert proc.returncode == 0 and "match" in proc.stdout
