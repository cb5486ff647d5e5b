"""Training on several processes with PyTorch's own stack: torchrun, DistributedDataParallel, a
DistributedSampler. Nothing here is home-made beyond wiring.

``python -m engines train NAME`` is a single process unless it was started by ``torchrun``, which sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; then :func:`setup` joins the process group (gloo on the
CPU, nccl on CUDA) and the trainer:

- cuts the data with a :class:`torch.utils.data.DistributedSampler` over the engine's items (images,
  documents, sentences, audio crop slots): each rank sees its own items, and the union of the ranks'
  batches at a step is the batch a single process would take, so the global batch size stays
  ``--batch-size`` whatever the world size (each rank takes ``batch_size / world_size``);
- wraps the model in DDP, which averages gradients, so the update equals the single-process one for a
  loss that is a mean over the batch;
- averages the logged loss terms across ranks, and validates, logs and writes checkpoints on rank 0.

Randomness that belongs to an item (DRAW's binarisation, DocNADE's word order, a WaveNet crop) is drawn
from a generator seeded by (seed, epoch, item), so it does not depend on which rank holds the item.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""  # "" when not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1 and dist.is_initialized()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str | None = None) -> tuple[DistEnv, str | None]:
    """Join the process group torchrun prepared; returns the environment and the device to use
    (``cuda:LOCAL_RANK`` on CUDA). Without torchrun: a single process and the device as given."""
    if not launched_by_torchrun():
        return DistEnv(), device
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistEnv(rank, world, local, backend), device


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def item_rng(seed: int, epoch: int, item: int) -> np.random.Generator:
    """The generator for one item's randomness in one epoch, the same on every rank."""
    return np.random.default_rng([seed, epoch, int(item)])


class _Items(torch.utils.data.Dataset):
    """Only the length matters: the sampler hands out indices, the engine's ``collate`` makes batches."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def sampled_batches(
    engine: Any, data: Any, global_batch: int, seed: int, env: DistEnv, start_step: int = 0
) -> Iterator[Any]:
    """This rank's batches, step ``start_step`` onwards: a DistributedSampler (shuffled with ``seed`` and
    the epoch, last partial batch dropped) over the engine's items, ``global_batch / world_size`` a rank.
    The data position is a function of the step alone, so a resumed run continues where it stopped."""
    n = engine.num_items(data)
    if global_batch % env.world_size:
        raise ValueError(f"--batch-size {global_batch} does not divide among {env.world_size} processes")
    local = global_batch // env.world_size
    sampler = torch.utils.data.DistributedSampler(
        _Items(n), num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=seed, drop_last=True
    )
    per_epoch = len(sampler) // local
    if per_epoch < 1:
        raise ValueError(f"{n} training items are fewer than one batch of {global_batch}")
    step, epoch, order = start_step, -1, None
    while True:
        e, offset = divmod(step, per_epoch)
        if e != epoch:
            sampler.set_epoch(e)
            epoch, order = e, np.fromiter(iter(sampler), np.int64)
        yield engine.collate(data, order[offset * local : (offset + 1) * local], seed, epoch)
        step += 1


def mean_across_ranks(metrics: dict[str, Any], env: DistEnv) -> dict[str, Any]:
    """Average the scalar loss terms over the ranks (vectors are kept from this rank)."""
    if not env.active:
        return metrics
    keys = [k for k, v in metrics.items() if isinstance(v, float | int)]
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    out = dict(metrics)
    out.update({k: float(v) / env.world_size for k, v in zip(keys, t.cpu().tolist())})
    return out


def gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj`` (e.g. RNG states), in rank order."""
    if not env.active:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()
