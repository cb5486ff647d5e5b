"""The training loop shared by every engine, as a generator of :class:`TrainEvent` s.

The GUI's training panel, ``python -m engines train`` and the tests all drive this same loop. It
yields after every optimiser step, so a caller can pause (stop pulling), cancel (close the
generator) and plot. It holds the optimiser, the step count and the data RNG, which is what a
resumable checkpoint needs (see ``state_dict``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engines.base import Engine


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
    def __init__(self, engine: Engine, train_data: Any, config: TrainConfig, valid_data: Any = None):
        self.engine, self.train_data, self.valid_data, self.config = engine, train_data, valid_data, config
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        engine.fit_data(train_data)
        self.optimizer = torch.optim.Adam(engine.model.parameters(), lr=config.lr)
        self.step = 0
        self.best: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "optimizer": self.optimizer.state_dict(), "config": asdict(self.config)}

    def _validate(self) -> dict[str, float]:
        return self.engine.evaluate(self.valid_data) if self.valid_data is not None else {}

    def _checkpoint(self, metrics: dict[str, Any]) -> str | None:
        if not self.config.checkpoint:
            return None
        key = self.engine.selection_metric
        if self.config.keep_best and key in metrics:
            if self.best is not None and metrics[key] >= self.best[key]:
                return None
            self.best = {**metrics, "step": self.step}
        self.engine.save(
            self.config.checkpoint, meta={"trained_steps": self.step, "valid": metrics}, half=self.config.half
        )
        return str(Path(self.config.checkpoint))

    def run(self) -> Iterator[TrainEvent]:
        cfg = self.config
        batches = self.engine.batches(self.train_data, cfg.batch_size, self.rng)
        t0 = time.perf_counter()
        seen = 0
        while self.step < cfg.steps:
            batch = next(batches)
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr_at(self.step)
            metrics = self.engine.train_step(batch, self.optimizer, cfg.grad_clip)
            if not math.isfinite(metrics["loss"]):
                raise FloatingPointError(f"training diverged at step {self.step + 1} (loss is {metrics['loss']})")
            self.step += 1
            seen += self.engine.batch_items(batch)
            elapsed = time.perf_counter() - t0
            rate = seen / elapsed if elapsed > 0 else 0.0
            eta = elapsed / self.step * (cfg.steps - self.step)
            yield TrainEvent("step", self.step, cfg.steps, metrics, elapsed, eta, rate)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                valid = self._validate()
                path = self._checkpoint(valid)
                yield TrainEvent("eval", self.step, cfg.steps, valid, elapsed, eta, rate, {"checkpoint": path})
        valid = self._validate()
        path = self._checkpoint(valid)
        elapsed = time.perf_counter() - t0
        yield TrainEvent(
            "done", self.step, cfg.steps, valid, elapsed, 0.0, seen / max(elapsed, 1e-9), {"checkpoint": path}
        )
