"""One benchmark protocol for every ``bench``: warm-up, the compared methods interleaved, several repeats,
min and median, the thread count pinned and reported, CPU time beside wall time, the load average at the start.

On a shared machine wall-clock time measures the neighbours as much as the code: CPU time (``time.process_time``,
all of this process's threads) is what the code cost, wall time what a user waited; both are reported for every
figure, as ``*_per_s`` (per wall second) and ``*_per_cpu_s`` (per CPU second), from the median repeat.

    info = pin_threads(1)
    figures = measure({"fused": lambda: run(8000), "torch": lambda: run_torch(1000)}, repeats=5)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def pin_threads(threads: int = 1) -> dict[str, Any]:
    """Set torch's thread count; returns what the report says about the machine:
    the threads used and the 1-minute load average now (a loaded machine stretches wall times)."""
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    # (numba is left alone: the fused WaveNet kernel is one thread, and numba.set_num_threads starts its
    # thread pool, whose idle workers spin: measured, it doubled the CPU time of a DRAW sample)
    return {"threads": threads, "load_average_1m": round(os.getloadavg()[0], 2)}


def measure(methods: dict[str, Callable[[], float]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Run each method ``warmup`` times, then ``repeats`` rounds in which every method runs once in turn
    (interleaved: a burst of load hits them all alike). A method returns how many items it made (samples,
    images, queries). For each method ``name``: ``name_wall_ms_min``, ``name_wall_ms_median``,
    ``name_cpu_ms_min``, ``name_cpu_ms_median`` per call, and ``name_per_s`` / ``name_per_cpu_s``: items per
    wall / CPU second of the median call."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        for fn in methods.values():
            fn()
    walls: dict[str, list[float]] = {k: [] for k in methods}
    cpus: dict[str, list[float]] = {k: [] for k in methods}
    items: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            w0, c0 = time.perf_counter(), time.process_time()
            items[name] = float(fn())
            cpus[name].append(time.process_time() - c0)
            walls[name].append(time.perf_counter() - w0)
    out: dict[str, float] = {}
    for name in methods:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        out[f"{name}_wall_ms_min"] = round(min(walls[name]) * 1000, 3)
        out[f"{name}_wall_ms_median"] = round(wall * 1000, 3)
        out[f"{name}_cpu_ms_min"] = round(min(cpus[name]) * 1000, 3)
        out[f"{name}_cpu_ms_median"] = round(cpu * 1000, 3)
        out[f"{name}_per_s"] = round(items[name] / wall, 2) if wall > 0 else float("inf")
        out[f"{name}_per_cpu_s"] = round(items[name] / cpu, 2) if cpu > 0 else float("inf")
    return out
