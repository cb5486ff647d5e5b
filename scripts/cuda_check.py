"""Check every torch engine's CUDA path against its CPU path: ``python scripts/cuda_check.py``.

For each engine: the shipped checkpoint's loss on one fixed validation batch, on CPU and on CUDA (they
must agree to float tolerance), then a few training steps of the tiny preset on CUDA and a sample
drawn there. Prints one JSON object per engine and a summary line; exits non-zero on a mismatch or
an error. Needs no Qt, no gensim and no bm25s (DESM is numpy-only and skipped).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.registry import ENGINES  # noqa: E402
from engines.resources import resource_path  # noqa: E402
from engines.train import TrainConfig, Trainer  # noqa: E402


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _cpu_noise(fn, gen: torch.Generator):
    """torch.randn / torch.rand drawing on the CPU from ``gen`` and moving to the asked device, so a VAE's
    z is the same noise on both devices (CUDA's generator gives other numbers for the same seed)."""

    def wrapped(*size, generator=None, device=None, dtype=None, **kw):
        t = fn(*size, generator=gen, dtype=dtype, **kw)
        return t.to(device) if device is not None else t

    return wrapped


def loss_on(engine, batch) -> float:
    engine.model.eval()
    gen = torch.Generator().manual_seed(0)
    randn, rand = torch.randn, torch.rand
    torch.randn, torch.rand = _cpu_noise(randn, gen), _cpu_noise(rand, gen)
    try:
        with torch.no_grad():
            return float(engine.model(to_device(batch, engine.device))["loss"])
    finally:
        torch.randn, torch.rand = randn, rand


DEVICE = sys.argv[1] if len(sys.argv) > 1 else "cuda"  # "cpu" dry-runs the script itself


def check(name: str, cls) -> dict:
    out: dict = {"engine": name}
    shipped = next(iter(getattr(cls, "shipped", {})))
    cpu = cls.from_checkpoint(resource_path(shipped), device="cpu")
    gpu = cls.from_checkpoint(resource_path(shipped), device=DEVICE)
    train, valid, _ = cls.load_data(cpu.meta.get("dataset") or cls.datasets[0])
    rng = np.random.default_rng(0)
    batch = next(cpu.batches(valid if valid is not None else train, 8, rng))
    a, b = loss_on(cpu, batch), loss_on(gpu, batch)
    out.update(checkpoint=shipped, loss_cpu=a, loss_cuda=b, rel_diff=abs(a - b) / max(abs(a), 1e-9))
    tiny = cls(cls.presets()["tiny"], device=DEVICE)
    t = time.perf_counter()
    losses = [
        ev.metrics["loss"]
        for ev in Trainer(tiny, train, TrainConfig(steps=20, batch_size=8, lr=1e-3, seed=0)).run()
        if ev.kind == "step"
    ]
    out.update(tiny_losses=[round(x, 3) for x in losses[:: max(1, len(losses) // 5)]], train_s=time.perf_counter() - t)
    gen = gpu.sample() if name != "wavenet" else gpu.sample(seconds=0.05)
    states = [s for _, s in zip(range(5), gen)]
    out["sample_states"] = len(states)
    out["ok"] = bool(out["rel_diff"] < 1e-3 and all(np.isfinite(losses)) and states)
    return out


def main() -> int:
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("error: CUDA is not available", file=sys.stderr)
        return 1
    gpu = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "none (dry run)"
    print(json.dumps({"torch": torch.__version__, "gpu": gpu}), flush=True)
    failed = []
    for name, cls in ENGINES.items():
        if not cls.trainable_in_panel:
            continue
        try:
            r = check(name, cls)
        except Exception as e:  # report and go on with the next engine
            r = {
                "engine": name,
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc()[-1500:],
            }
        print(json.dumps(r), flush=True)
        if not r["ok"]:
            failed.append(name)
    print("cuda check:", "all engines agree" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
