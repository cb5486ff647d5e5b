"""The training loop shared by every engine, as a generator of :class:`TrainEvent` s.

The GUI's training panel, ``python -m engines train`` (one process or several under torchrun, see
:mod:`engines.distributed`) and the tests all drive this same loop. It yields after every optimiser
step, so a caller can pause (stop pulling), cancel (close the generator) and plot. Its checkpoints
carry, beside the weights the app loads, the training state a run resumes from: optimiser, step,
every rank's RNG states, the data position (a function of the step) and the run's settings.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engines import distributed
from engines.base import Engine
from engines.checkpoint import CheckpointError, read_checkpoint, remove_stale_temporaries

# must match to resume
RESUME_FIELDS = ("batch_size", "seed", "lr", "lr_schedule", "grad_clip", "sampler", "amp", "only")


def split_parts(only: str) -> list[str]:
    """``--only``'s parts, joined by commas ("": none, the whole model trains)."""
    return [p for p in only.split(",") if p]


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    grad_clip: float = 10.0
    seed: int = 0
    eval_every: int = 0  # steps between validation passes; 0 = only at the end
    checkpoint: str | None = None  # written (atomically) after each validation pass and at the end
    half: bool = False  # store the checkpoint in fp16
    keep_best: bool = False  # write the checkpoint only when the validation metric improves
    lr_schedule: str = "constant"  # or "cosine": from lr down to lr / 10 over the run
    # items dealt by a DistributedSampler (always under torchrun; one process can use it too, so that its run
    # matches a multi-process one); False: the engine's own batch generator, as the panel uses
    sampler: bool = False
    amp: str = ""  # "bf16": autocast the forward pass to bfloat16
    compile: bool = False  # torch.compile the model
    logdir: str | None = None  # TensorBoard event files go here (rank 0)
    # parts of the model trained alone, the rest frozen (an engine's ``trainable_parts``, e.g. WaveNet's
    # "prosody": its frame prior; several joined by commas); "" = the whole model
    only: str = ""

    @property
    def parts(self) -> list[str]:
        return split_parts(self.only)

    def lr_at(self, step: int) -> float:
        """The learning rate for optimiser step ``step`` (0-based)."""
        if self.lr_schedule == "constant":
            return self.lr
        if self.lr_schedule == "cosine":
            frac = min(1.0, step / max(1, self.steps - 1))
            return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        raise ValueError(f"unknown learning-rate schedule '{self.lr_schedule}' (choose from: constant, cosine)")


@dataclass
class TrainEvent:
    kind: str  # "step", "eval" or "done"
    step: int
    total: int
    metrics: dict[str, Any]
    elapsed: float
    eta: float | None
    items_per_s: float
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    def __init__(
        self,
        engine: Engine,
        train_data: Any,
        config: TrainConfig,
        valid_data: Any = None,
        env: distributed.DistEnv | None = None,
        resume: str | Path | None = None,
    ):
        self.engine, self.train_data, self.valid_data, self.config = engine, train_data, valid_data, config
        self.env = env or distributed.DistEnv()
        if self.env.world_size > 1:
            config.sampler = True
        torch.manual_seed(config.seed + self.env.rank)  # noise in the forward pass differs per rank
        # the engine's own batches (one process) draw from this; seeded as before multi-process training existed,
        # so the shipped weights' commands still see the batches they were trained on
        self.rng = np.random.default_rng(config.seed if self.env.rank == 0 else [config.seed, self.env.rank])
        engine.fit_data(train_data)
        engine.check_parts(config.parts)
        engine.train_only = config.only
        for name, p in engine.model.named_parameters():
            p.requires_grad_(not config.parts or any(name.startswith(part + ".") for part in config.parts))
        self.optimizer = torch.optim.Adam(self._params(), lr=config.lr)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self._remove_stale_temporaries()
        if resume is not None:
            self._resume(resume)
        self.module: torch.nn.Module = engine.model
        if self.env.active:
            from torch.nn.parallel import DistributedDataParallel

            dev = torch.device(engine.device)
            self.module = DistributedDataParallel(
                self.module,
                device_ids=[dev.index] if dev.type == "cuda" else None,
                find_unused_parameters=engine.ddp_unused_parameters,
            )
        if config.compile:
            self.module = torch.compile(self.module)
        self.amp_dtype = {"": None, "bf16": torch.bfloat16}[config.amp]
        self.writer = None
        if config.logdir and self.env.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(config.logdir)

    def _params(self) -> list[torch.nn.Parameter]:
        """What the optimiser moves: every parameter, or with ``only`` that part's."""
        return [p for p in self.engine.model.parameters() if p.requires_grad]

    @property
    def selection_metric(self) -> str:
        """The validation metric that picks checkpoints: the engine's, or the trained part's own."""
        parts = self.config.parts
        return self.engine.trainable_parts[parts[0]] if parts else self.engine.selection_metric

    # -- the state a run resumes from ---------------------------------------------------------------
    def train_state(self) -> dict[str, Any]:
        """Collective: every rank must call it (the RNG states are gathered to all)."""
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.device(self.engine.device).type == "cuda" else None,
            "numpy": self.rng.bit_generator.state,
            "python": random.getstate(),
        }
        return {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng": distributed.gather_objects(rng, self.env),
            "world_size": self.env.world_size,
            "config": asdict(self.config),
            "best": self.best,
        }

    def _resume(self, path: str | Path) -> None:
        """Continue the run saved in ``path``: weights, optimiser, step, RNG states. A file of another model,
        another config or other run settings is refused (CheckpointError) before anything changes."""
        name = Path(path).name
        payload = read_checkpoint(path, self.engine.name)
        state = payload.get("train_state")
        if not isinstance(state, dict):
            raise CheckpointError(f"{name} holds weights only, no training state (use --init to fine-tune from it)")
        # a field added since the file was written holds its default there
        own, theirs = self.engine.config_dict(), {**asdict(self.engine.config_class()), **payload["config"]}
        fitted = set(self.engine.data_fields)
        diff = sorted(k for k in set(own) | set(theirs) if k not in fitted and own.get(k) != theirs.get(k))
        if diff:
            shown = ", ".join(f"{k}={theirs.get(k)!r} (not {own.get(k)!r})" for k in diff[:3])
            raise CheckpointError(f"{name} was trained with another config: {shown}")
        mine = asdict(self.config)
        runs = [k for k in RESUME_FIELDS if state["config"].get(k) != mine.get(k)]
        if runs:
            shown = ", ".join(f"{k}={state['config'].get(k)!r} (not {mine.get(k)!r})" for k in runs)
            raise CheckpointError(f"{name} was trained with other settings: {shown}")
        if state["step"] >= self.config.steps:
            raise CheckpointError(f"{name} already reached step {state['step']} of --steps {self.config.steps}")
        self.engine.load(path)
        full = state.get("weights")  # fp32 weights when the file's own are fp16
        if full is not None:
            self.engine.model.load_state_dict(full)
        self.optimizer = torch.optim.Adam(self._params(), lr=self.config.lr)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.best = int(state["step"]), state.get("best")
        rngs = state["rng"]
        if state["world_size"] == self.env.world_size:  # the same ranks: each continues its own streams
            r = rngs[self.env.rank]
            torch.set_rng_state(r["torch"])
            if r["cuda"] is not None and torch.device(self.engine.device).type == "cuda":
                torch.cuda.set_rng_state(r["cuda"])
            self.rng.bit_generator.state = r["numpy"]
            random.setstate(r["python"])
        else:  # another world size: fresh streams, still a function of seed, rank and step
            torch.manual_seed(self.config.seed + 1000 * self.step + self.env.rank)

    # -- the loop ---------------------------------------------------------------------------------------
    def _remove_stale_temporaries(self) -> None:
        """A run killed while it wrote a checkpoint leaves ``.NAME.pt.*.tmp`` beside it (the checkpoint itself
        stays whole): rank 0 removes them when the run next starts or saves."""
        if not self.config.checkpoint or not self.env.is_main:
            return
        path = Path(self.config.checkpoint)
        for p in (path, path.with_name(path.stem + ".last" + path.suffix)):
            remove_stale_temporaries(p)

    def _validate(self) -> dict[str, float]:
        if not self.env.is_main:
            return {}
        return self.engine.evaluate(self.valid_data) if self.valid_data is not None else {}

    def _checkpoint(self, metrics: dict[str, Any]) -> str | None:
        """Rank 0 writes the checkpoint (with the training state) when there is one to write; collective."""
        if not self.config.checkpoint:
            return None
        state = self.train_state()  # every rank takes part in gathering the RNG states
        path = Path(self.config.checkpoint)
        key = self.selection_metric
        improved = True
        if self.config.keep_best and self.env.is_main and key in metrics:
            improved = self.best is None or metrics[key] < self.best[key]
            if improved:
                self.best = {**metrics, "step": self.step}
                state["best"] = self.best
        written = None
        if self.env.is_main:
            self._remove_stale_temporaries()
            if self.config.half:
                state["weights"] = {k: v.detach().cpu().clone() for k, v in self.engine.model.state_dict().items()}
            meta = {"trained_steps": self.step, "valid": metrics, "world_size": self.env.world_size}
            if improved:
                self.engine.save(path, meta=meta, half=self.config.half, extra={"train_state": state})
                written = str(path)
            if self.config.keep_best:  # the run's latest state, to resume from, beside the best weights
                last = path.with_name(path.stem + ".last" + path.suffix)
                self.engine.save(last, meta=meta, half=self.config.half, extra={"train_state": state})
        distributed.barrier(self.env)
        return written

    def _log(self, kind: str, metrics: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for k, v in metrics.items():
            if isinstance(v, float | int) and not isinstance(v, bool):
                self.writer.add_scalar(f"{kind}/{k}", v, self.step)
        self.writer.flush() if kind == "valid" else None

    def _batches(self) -> Iterator[Any]:
        cfg = self.config
        if cfg.sampler:
            return distributed.sampled_batches(
                self.engine, self.train_data, cfg.batch_size, cfg.seed, self.env, self.step
            )
        return self.engine.batches(self.train_data, cfg.batch_size, self.rng)

    def run(self) -> Iterator[TrainEvent]:
        cfg = self.config
        batches = self._batches()
        t0 = time.perf_counter()
        seen = 0
        start = self.step
        try:
            while self.step < cfg.steps:
                batch = next(batches)
                for group in self.optimizer.param_groups:
                    group["lr"] = cfg.lr_at(self.step)
                metrics = self.engine.train_step(
                    batch, self.optimizer, cfg.grad_clip, module=self.module, amp_dtype=self.amp_dtype
                )
                metrics = distributed.mean_across_ranks(metrics, self.env)
                if not math.isfinite(metrics["loss"]):
                    raise FloatingPointError(f"training diverged at step {self.step + 1} (loss is {metrics['loss']})")
                self.step += 1
                self._log("train", metrics)
                seen += self.engine.batch_items(batch) * self.env.world_size
                elapsed = time.perf_counter() - t0
                rate = seen / elapsed if elapsed > 0 else 0.0
                eta = elapsed / (self.step - start) * (cfg.steps - self.step)
                yield TrainEvent("step", self.step, cfg.steps, metrics, elapsed, eta, rate)
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    valid = self._validate()
                    self._log("valid", valid)
                    path = self._checkpoint(valid)
                    yield TrainEvent("eval", self.step, cfg.steps, valid, elapsed, eta, rate, {"checkpoint": path})
            valid = self._validate()
            self._log("valid", valid)
            path = self._checkpoint(valid)
            elapsed = time.perf_counter() - t0
            yield TrainEvent(
                "done", self.step, cfg.steps, valid, elapsed, 0.0, seen / max(elapsed, 1e-9), {"checkpoint": path}
            )
        finally:
            if self.writer is not None:
                self.writer.close()
