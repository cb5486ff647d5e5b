"""Running a training configuration elsewhere: the exact ``torchrun`` command, a Slurm batch script, and
reading a run's TensorBoard event files back (for the training panel; no Qt here)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunSpec:
    """What ``python -m engines train`` needs, as the training panel holds it."""

    name: str
    preset: str = "default"
    dataset: str | None = None
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "constant"
    seed: int = 0
    eval_every: int = 0
    init: str | None = None  # a shipped checkpoint's path to fine-tune from
    out: str = "run.pt"
    logdir: str = "runs/run"
    options: dict[str, object] = field(default_factory=dict)  # the engine's train_options (--option K=V)
    bf16: bool = False

    def train_args(self) -> list[str]:
        args = ["-m", "engines", "train", self.name, "--preset", self.preset]
        if self.dataset:
            args += ["--dataset", self.dataset]
        args += ["--steps", str(self.steps), "--batch-size", str(self.batch_size), "--lr", f"{self.lr:g}",
                 "--lr-schedule", self.lr_schedule, "--seed", str(self.seed), "--eval-every", str(self.eval_every),
                 "--out", self.out, "--logdir", self.logdir, "--resume", "auto", "--json"]  # fmt: skip
        if self.init:
            args += ["--init", self.init]
        if self.bf16:
            args += ["--bf16"]
        for k, v in self.options.items():
            args += ["--option", f"{k}={v}"]
        return args


def torchrun_command(
    spec: RunSpec, nproc: int = 2, nnodes: int = 1, rdzv_endpoint: str = "", python: str = "python"
) -> list[str]:
    """``torchrun`` for one node (standalone rendezvous) or several (c10d rendezvous at ``rdzv_endpoint``,
    run the same command on every node). ``--max-restarts 3`` restarts crashed workers, and ``--resume auto``
    makes them continue from the last checkpoint written."""
    cmd = [python, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes > 1:
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint or 'HOST:29500'}",
                f"--rdzv-id={spec.name}-{spec.seed}"]  # fmt: skip
    else:
        cmd += ["--standalone"]
    return cmd + ["--max-restarts=3"] + spec.train_args()


def shell(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def slurm_script(spec: RunSpec, nodes: int = 1, gpus_per_node: int = 1, hours: int = 4) -> str:
    """A ready ``sbatch`` script: one task per node, torchrun on each with a c10d rendezvous at the first
    node, resuming from the checkpoint when a requeued job finds one."""
    train = shell(spec.train_args())
    return f"""#!/bin/bash
#SBATCH --job-name=genplay-{spec.name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus_per_node}
#SBATCH --cpus-per-task={max(4, 4 * gpus_per_node)}
#SBATCH --time={hours:02d}:00:00
#SBATCH --requeue
#SBATCH --output=genplay-{spec.name}-%j.log
# Written by the genplay training panel for this configuration. Submit from the repository root with its
# virtual environment active; a requeued or restarted job continues from its last checkpoint (--resume auto).
set -euo pipefail
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun python -m torch.distributed.run --nnodes="$SLURM_JOB_NUM_NODES" --nproc-per-node={gpus_per_node} \\
    --rdzv-backend=c10d --rdzv-endpoint="$HEAD_NODE:29500" --rdzv-id="$SLURM_JOB_ID" --max-restarts=3 \\
    {train}
"""


def local_command(spec: RunSpec, nproc: int) -> list[str]:
    """The command the panel launches on this machine (this interpreter, gloo on the CPU)."""
    return torchrun_command(spec, nproc=nproc, python=sys.executable)


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in a run's TensorBoard event files (``train/loss``, ``valid/nll``, ...)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = Path(logdir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder")
    ea = EventAccumulator(str(path), size_guidance={"scalars": 0})
    ea.Reload()
    tags = ea.Tags().get("scalars", [])
    if not tags:
        raise ValueError(f"{path} holds no TensorBoard scalars (no event files from a training run)")
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in tags}
