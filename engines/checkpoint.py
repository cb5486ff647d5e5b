"""Checkpoint files: one format for every engine, written atomically, checked before use.

A checkpoint is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    {"format": "genplay-checkpoint", "version": 1, "engine": "draw",
     "config": {...dataclass fields...}, "state_dict": {...}, "meta": {...}}

The config travels with the weights (nanoGPT's habit), so a model is rebuilt from the file alone.
Weights may be stored in fp16 to keep ``resources/`` small; they are cast back on load.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "genplay-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupt, from another engine, or mismatched."""


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename over ``path``.

    A crash or error mid-write leaves the old file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; checkpoints are ordinary user files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | os.PathLike,
    engine: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    meta: dict[str, Any] | None = None,
    half: bool = False,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically. ``half=True`` stores floating tensors as fp16. ``extra`` adds
    top-level entries (a run's ``train_state``: optimiser, step, RNG states)."""
    sd = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        sd[k] = v.clone()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "engine": engine,
        "config": dict(config),
        "state_dict": sd,
        "meta": dict(meta or {}),
        **(extra or {}),
    }
    atomic_write_bytes(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike, engine: str) -> dict[str, Any]:
    """Read and validate a checkpoint's envelope. Raises :class:`CheckpointError` with a clear reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated/garbage files
        raise CheckpointError(f"{path.name}: not a readable checkpoint (corrupt or truncated): {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a genplay checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path.name}: checkpoint version {payload.get('version')} is newer than this app ({VERSION})"
        )
    if payload.get("engine") != engine:
        raise CheckpointError(f"{path.name}: checkpoint is for '{payload.get('engine')}', not '{engine}'")
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path.name}: checkpoint has no {key}")
    return payload
