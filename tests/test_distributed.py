"""Training beyond one process: torchrun + DDP on the CPU (gloo), resuming, refusals, TensorBoard files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_cli

from engines.checkpoint import CheckpointError
from engines.docnade import DocNadeEngine
from engines.draw import DrawEngine
from engines.statistician import StatisticianEngine
from engines.train import TrainConfig, Trainer


def torchrun(root, nproc: int, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "engines", "train", *args, "--json", "--threads", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout, env=env)


def said(proc: subprocess.CompletedProcess) -> str:
    """A failed run's stderr for the assertion message: its start too (a rank's own error comes before
    torchrun's long summary of which rank failed, which alone filled the last 2,000 characters)."""
    err = proc.stderr
    return err if len(err) <= 8000 else f"{err[:4000]}\n[...]\n{err[-4000:]}"


def curve(logdir) -> np.ndarray:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir))
    ea.Reload()
    return np.array([e.value for e in ea.Scalars("train/loss")])


@pytest.mark.parametrize(
    "name, args, rtol_step, rtol_mean",
    [
        # DocNADE has no noise in its forward pass: the curves agree to float rounding
        ("docnade", ["--preset", "tiny", "--batch-size", "16"], 1e-4, 1e-5),
        # DRAW draws z per rank (its own stream), so each step's bound differs by that noise alone
        ("draw", ["--preset", "tiny", "--batch-size", "32"], 0.04, 0.01),
    ],
)
def test_two_processes_give_the_loss_curve_of_one(root, tmp_path, name, args, rtol_step, rtol_mean):
    runs = {}
    for n in (1, 2):
        run_args = (name, *args, "--steps", "20", "--logdir", str(tmp_path / f"log{n}"))
        if n == 1:  # the one-process reference in this process (the same sampler path, no launcher start-up)
            proc = run_cli(root, "train", *run_args, "--json", "--threads", "1")
        else:
            proc = torchrun(root, n, *run_args)
        assert proc.returncode == 0, said(proc)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["world_size"] == n and out["steps"] == 20
        runs[n] = (out, curve(tmp_path / f"log{n}"))
    (_, one), (_, two) = runs[1], runs[2]
    assert len(one) == len(two) == 20
    rel = np.abs(one - two) / np.abs(one)
    assert rel.max() < rtol_step and rel.mean() < rtol_mean, rel


def train_to(engine_cls, data, steps, cfg_kw, checkpoint=None, resume=None, stop_after=None):
    """Run the trainer (one process, the sampler path); ``stop_after``: abandon the run after that step's
    checkpoint, as a crash would. Returns the step losses seen."""
    torch.manual_seed(0)
    engine = engine_cls(engine_cls.presets()["tiny"], device="cpu")
    cfg = TrainConfig(steps=steps, seed=3, sampler=True, eval_every=10, checkpoint=checkpoint, **cfg_kw)
    losses = []
    for ev in Trainer(engine, data[0], cfg, data[1], resume=resume).run():
        if ev.kind == "step":
            losses.append(ev.metrics["loss"])
        if stop_after is not None and ev.kind == "eval" and ev.step == stop_after:
            break  # killed: nothing after the step-10 checkpoint happens
    return losses


@pytest.mark.parametrize(
    "engine_cls, kw",
    [
        (DrawEngine, {"batch_size": 16, "lr": 3e-3}),
        (DocNadeEngine, {"batch_size": 16, "lr": 1e-2, "lr_schedule": "cosine"}),
        (StatisticianEngine, {"batch_size": 8, "lr": 3e-3}),  # set sizes drawn per batch (min_sample_size)
    ],
)
def test_a_killed_run_resumes_to_the_same_final_loss(tmp_path, engine_cls, kw):
    data = engine_cls.load_data(engine_cls.datasets[0])[:2]
    whole = train_to(engine_cls, data, 20, kw)
    ck = tmp_path / "run.pt"
    first = train_to(engine_cls, data, 20, kw, checkpoint=str(ck), stop_after=10)
    assert len(first) == 10 and first == whole[:10]
    second = train_to(engine_cls, data, 20, kw, checkpoint=str(ck), resume=ck)
    assert len(second) == 10
    assert second == pytest.approx(whole[10:], rel=1e-6)  # RNG streams and data position continue exactly
    back = engine_cls.from_checkpoint(ck)  # and the app loads the same file
    assert back.meta["trained_steps"] == 20


def test_resume_refuses_other_models_configs_and_settings(tmp_path):
    train, valid, _ = DrawEngine.load_data("mnist")
    ck = tmp_path / "draw.pt"
    train_to(DrawEngine, (train, valid), 10, {"batch_size": 16}, checkpoint=str(ck))
    docnade = DocNadeEngine(DocNadeEngine.presets()["tiny"], device="cpu")
    dtrain = DocNadeEngine.load_data("wiki+newsgroups")[0]
    with pytest.raises(CheckpointError, match="is for 'draw', not 'docnade'"):
        Trainer(docnade, dtrain, TrainConfig(steps=20, sampler=True), resume=ck)
    other = DrawEngine(DrawEngine.presets()["default"], device="cpu")
    with pytest.raises(CheckpointError, match="another config"):
        Trainer(other, train, TrainConfig(steps=20, batch_size=16, seed=3, sampler=True), resume=ck)
    tiny = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    with pytest.raises(CheckpointError, match=r"other settings: batch_size=16 \(not 32\)"):
        Trainer(tiny, train, TrainConfig(steps=20, batch_size=32, seed=3, sampler=True), resume=ck)
    with pytest.raises(CheckpointError, match="already reached step 10"):
        Trainer(tiny, train, TrainConfig(steps=10, batch_size=16, seed=3, sampler=True), resume=ck)
    tiny.save(tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="weights only"):
        Trainer(tiny, train, TrainConfig(steps=20, batch_size=16, seed=3, sampler=True), resume=tmp_path / "weights.pt")


def test_cli_resume_under_torchrun_and_a_one_line_refusal(root, tmp_path):
    run = tmp_path / "run"  # --out DIR: the checkpoint is DIR/docnade.pt and the event files go to DIR/tb
    args = ["docnade", "--preset", "tiny", "--batch-size", "16", "--eval-every", "10", "--out", str(run)]
    first = torchrun(root, 2, *args, "--steps", "10")
    assert first.returncode == 0, said(first)
    ck = run / "docnade.pt"
    assert json.loads(first.stdout.strip().splitlines()[-1])["checkpoint"] == str(ck)
    assert len(curve(run / "tb")) == 10
    again = torchrun(root, 2, *args, "--steps", "20", "--resume", "auto", "--logdir", str(tmp_path / "b"))
    assert again.returncode == 0, said(again)
    out = json.loads(again.stdout.strip().splitlines()[-1])
    assert out["steps"] == 20 and out["world_size"] == 2 and out["final_loss"] > 0
    assert len(curve(tmp_path / "b")) == 10  # only steps 11-20 were run
    bad = run_cli(root, "train", "draw", "--preset", "tiny", "--resume", str(ck))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "is for 'docnade', not 'draw'" in bad.stderr


def test_bf16_autocast_trains(tmp_path):
    train, valid, _ = DrawEngine.load_data("mnist")
    losses = train_to(DrawEngine, (train, valid), 5, {"batch_size": 16, "amp": "bf16"})
    assert len(losses) == 5 and all(np.isfinite(losses))


def test_panel_writes_commands_launches_a_local_two_process_run_and_plots_its_log(qtbot, tmp_path):
    from conftest import open_main_window

    w = open_main_window(qtbot, "training")
    panel = w.training
    panel.configure(model="docnade", preset="tiny", steps=20, batch=16, eval_every=10)
    dlg = panel.show_run_elsewhere()
    text = dlg.command.toPlainText()
    assert "torch.distributed.run --nproc-per-node=2 --standalone --max-restarts=3 -m engines train docnade" in text
    assert "--preset tiny --dataset wiki+newsgroups --steps 20 --batch-size 16" in text and "--resume auto" in text
    dlg.nnodes.setValue(3)
    dlg.endpoint.setText("head:29500")
    assert "--nnodes=3 --rdzv-backend=c10d --rdzv-endpoint=head:29500" in dlg.command.toPlainText()
    dlg.save_script(str(tmp_path / "job.sbatch"))
    script = (tmp_path / "job.sbatch").read_text()
    assert script.startswith("#!/bin/bash") and "#SBATCH --nodes=3" in script and "-m engines train docnade" in script
    dlg.nnodes.setValue(1)
    with qtbot.waitSignal(dlg.finished_run, timeout=240000) as done:
        dlg.launch()
    assert done.args == [0], dlg.output.toPlainText()[-2000:]
    assert '"world_size": 2' in dlg.output.toPlainText()
    assert panel.open_log(dlg.local_spec.logdir)
    xs, ys = panel.curves["ppl"].getData()
    assert list(xs) == list(range(1, 21)) and np.all(np.isfinite(ys))
    assert len(panel.valid_curve.getData()[0]) == 2  # validation at steps 10 and 20
    assert not panel.open_log(str(tmp_path))  # no event files: refused with a message
    assert "no TensorBoard scalars" in w.last_error
    dlg.close()
    w.close()
