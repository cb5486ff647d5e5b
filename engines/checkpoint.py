"""Checkpoint files: one format for every engine, written atomically, checked before use.

A checkpoint is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    {"format": "genplay-checkpoint", "version": 1, "engine": "draw",
     "config": {...dataclass fields...}, "state_dict": {...}, "meta": {...}}

The config travels with the weights (nanoGPT's habit), so a model is rebuilt from the file alone.
Weights may be stored in fp16 to keep ``resources/`` small; they are cast back on load.

``meta["payload_sha256"]`` is a sha256 of the config and every tensor's name, dtype, shape and bytes
(:func:`payload_sha256`): torch's zip format keeps no checksum of its own, so a flipped byte inside a tensor
loaded silently and changed the results. Reading verifies it; files saved before it existed load with a note
in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

FORMAT = "genplay-checkpoint"
VERSION = 2  # 2: int8 matrices (with per-row scales) may appear; a file without them is written as version 1
INT8_SCALE = ".int8_scale"  # state_dict key suffix of an int8 matrix's per-row scales (fp16)
INT8_MIN_NUMEL = 16384  # smaller tensors (biases, small layers) stay fp16: little to gain, more to lose


def quantize_int8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per row (output unit): ``v ≈ q * scale[:, None]``, |q| ≤ 127."""
    rows = v.detach().float().reshape(v.shape[0], -1)
    scale = rows.abs().amax(1).clamp_min(1e-12) / 127
    q = (rows / scale[:, None]).round().clamp(-127, 127).to(torch.int8).reshape(v.shape)
    return q, scale.half()


def dequantize(state_dict: dict[str, torch.Tensor], name: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict with every int8 matrix back in float32 (its scales folded in)."""
    out = {}
    for k, v in state_dict.items():
        if k.endswith(INT8_SCALE):
            if k[: -len(INT8_SCALE)] not in state_dict:
                raise CheckpointError(f"{name}: int8 scales for a tensor it does not hold ({k})")
            continue
        scale = state_dict.get(k + INT8_SCALE)
        if scale is None:
            out[k] = v
            continue
        if v.dtype != torch.int8 or v.dim() < 1 or scale.numel() != v.shape[0]:
            raise CheckpointError(f"{name}: {k} is not an int8 matrix with one scale per row")
        out[k] = v.float() * scale.float().reshape(-1, *[1] * (v.dim() - 1))
    return out


log = logging.getLogger(__name__)
# files whose payload checksum was verified, by (path, size, mtime): loading one checkpoint reads it more than once
# (from_checkpoint, then load; a resumed run three times), and the checksum need not be recomputed each time
# (as resources.py's sha256 cache: a file rewritten takes a new mtime)
_verified: dict[tuple[str, int, int], str] = {}


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


def stale_temporaries(path: str | os.PathLike, older_than_s: float = 0.0) -> list[Path]:
    """The temporary files :func:`atomic_write_bytes` leaves beside ``path`` when its process is killed
    mid-write (``.NAME.XXXXXXXX.tmp``), at least ``older_than_s`` seconds old."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[A-Za-z0-9_]{6,}\.tmp")
    if not path.parent.is_dir():
        return []
    now = time.time()
    found = []
    for p in path.parent.iterdir():
        try:
            if pattern.fullmatch(p.name) and p.is_file() and now - p.stat().st_mtime >= older_than_s:
                found.append(p)
        except OSError:  # gone meanwhile
            continue
    return sorted(found)


def remove_stale_temporaries(path: str | os.PathLike, older_than_s: float = 0.0) -> int:
    """Remove what :func:`stale_temporaries` finds; returns how many were removed."""
    n = 0
    for p in stale_temporaries(path, older_than_s):
        p.unlink(missing_ok=True)
        n += 1
    return n


def payload_sha256(config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 of the config (as sorted JSON) and of each tensor's name, dtype, shape and raw bytes."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode("utf-8"))
    for name in sorted(state_dict):
        v = state_dict[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{v.dtype}\0{tuple(v.shape)}\0".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(
    path: str | os.PathLike,
    engine: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    meta: dict[str, Any] | None = None,
    half: bool = False,
    extra: dict[str, Any] | None = None,
    int8: bool = False,
) -> None:
    """Write a checkpoint atomically. ``half=True`` stores floating tensors as fp16; ``int8=True`` also stores
    each floating matrix of at least ``INT8_MIN_NUMEL`` values as int8 with per-row scales (a quarter of fp32;
    loading gives float32 back). ``extra`` adds top-level entries (a run's ``train_state``: optimiser, step, RNG
    states)."""
    sd = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if int8 and v.is_floating_point() and v.dim() >= 2 and v.numel() >= INT8_MIN_NUMEL:
            sd[k], sd[k + INT8_SCALE] = quantize_int8(v)
            continue
        if (half or int8) and v.is_floating_point():
            v = v.half()
        sd[k] = v.clone()
    payload = {
        "format": FORMAT,
        "version": 2 if any(k.endswith(INT8_SCALE) for k in sd) else 1,
        "engine": engine,
        "config": dict(config),
        "state_dict": sd,
        "meta": {**(meta or {}), "payload_sha256": payload_sha256(dict(config), sd)},
        **(extra or {}),
    }
    atomic_write_bytes(path, lambda f: torch.save(payload, f))


def _torch_reason(e: Exception) -> str:
    """torch.load's multi-line messages as one short reason (its weights-only advice to load untrusted
    files unsafely is not for our users)."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        detail = [line.strip() for line in text.split("WeightsUnpickler error:", 1)[1].splitlines() if line.strip()]
        return "not a checkpoint, or one holding more than tensors and plain data" + (
            f": {detail[0]}" if detail else ""
        )
    first = (text.splitlines() or [type(e).__name__])[0]
    return first.split(". ")[0][:160] or type(e).__name__


def read_checkpoint(path: str | os.PathLike, engine: str) -> dict[str, Any]:
    """Read and validate a checkpoint's envelope. Raises :class:`CheckpointError` with a clear reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    st = path.stat()
    file_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses anyway
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types, with several lines, for truncated or garbage files
        raise CheckpointError(f"{path.name}: not a readable checkpoint ({_torch_reason(e)})") from e
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
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["state_dict"].items()):
        raise CheckpointError(f"{path.name}: checkpoint's state_dict holds something other than named tensors")
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path.name}: checkpoint's meta is not a dict")
    stored = meta.get("payload_sha256")
    if stored is None:
        log.info("%s has no payload checksum (saved by an older version): loaded unchecked", path.name)
    elif _verified.get(file_key) != stored:
        if stored != payload_sha256(payload["config"], payload["state_dict"]):
            raise CheckpointError(
                f"{path.name}: its weights or config do not match the checksum saved with them (the file was altered "
                "or damaged)"
            )
        _verified[file_key] = stored
    if any(k.endswith(INT8_SCALE) for k in payload["state_dict"]):
        payload["state_dict"] = dequantize(payload["state_dict"], path.name)
    return payload
