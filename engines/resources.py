"""Shipped artifacts in ``resources/`` and their manifest (``resources/manifest.json``).

Every dataset and checkpoint has an entry: path, kind, source, licence, size, sha256, the command
that rebuilt it, and its measured metrics. :func:`resource_path` verifies the sha256 before use.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from engines.checkpoint import atomic_write_bytes

RESOURCES_DIR = Path(os.environ.get("GENPLAY_RESOURCES", Path(__file__).resolve().parent.parent / "resources"))
MANIFEST = "manifest.json"

_verified: dict[tuple[str, int, int], str] = {}


class ResourceError(RuntimeError):
    """A shipped artifact is missing, unlisted, or does not match its manifest sha256."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(root: Path | None = None) -> dict[str, dict[str, Any]]:
    root = root or RESOURCES_DIR
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            artifacts = json.load(f)["artifacts"]
        if not isinstance(artifacts, dict) or not all(isinstance(e, dict) for e in artifacts.values()):
            raise TypeError("'artifacts' is not an object of entries")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ResourceError(f"{path} is damaged ({reason}); restore it from the repository") from None
    return artifacts


def save_manifest(artifacts: dict[str, dict[str, Any]], root: Path | None = None) -> None:
    root = root or RESOURCES_DIR
    text = json.dumps({"artifacts": dict(sorted(artifacts.items()))}, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(root / MANIFEST, lambda f: f.write(text.encode("utf-8")))


def resource_path(name: str, verify: bool = True, root: Path | None = None) -> Path:
    """The path of shipped artifact ``name``, after checking it against its manifest sha256."""
    root = root or RESOURCES_DIR
    entries = load_manifest(root)
    if name not in entries:
        raise ResourceError(f"'{name}' is not in {root / MANIFEST}")
    entry = entries[name]
    path = root / entry["path"]
    if not path.is_file():
        raise ResourceError(f"{entry['path']} is missing from resources/ (rebuild with: {entry.get('command')})")
    if verify:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        digest = _verified.get(key) or sha256_file(path)
        if digest != entry["sha256"]:
            raise ResourceError(
                f"{entry['path']} does not match its manifest sha256 (file changed or corrupt); "
                f"rebuild with: {entry.get('command')}"
            )
        _verified[key] = digest
    return path


def register(
    name: str,
    path: Path,
    *,
    kind: str,
    source: str,
    licence: str,
    command: str,
    metrics: dict[str, Any] | None = None,
    root: Path | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Add or refresh a manifest entry for a file under ``resources/`` (size and sha256 are measured)."""
    root = root or RESOURCES_DIR
    artifacts = load_manifest(root)
    old = artifacts.get(name, {})
    entry = {
        "path": str(Path(path).resolve().relative_to(root.resolve())),
        "kind": kind,
        "source": source,
        "licence": licence,
        "size": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "command": command,
        "metrics": metrics if metrics is not None else old.get("metrics", {}),
        **extra,
    }
    artifacts[name] = entry
    save_manifest(artifacts, root)
    return entry


def set_metrics(name: str, metrics: dict[str, Any], root: Path | None = None) -> None:
    artifacts = load_manifest(root)
    artifacts[name]["metrics"] = metrics
    save_manifest(artifacts, root)


def verify_all(root: Path | None = None) -> list[str]:
    """Check every manifest entry; return a list of problems (empty when all match)."""
    problems = []
    for name, entry in load_manifest(root).items():
        try:
            path = resource_path(name, verify=True, root=root)
        except ResourceError as e:
            problems.append(f"{name}: {e}")
            continue
        if entry.get("kind") == "checkpoint":  # a run's state copied in by hand: optimiser moments, several MB
            if "train_state" in torch.load(path, map_location="cpu", weights_only=True):
                problems.append(f"{name}: carries a training state (re-save the weights alone, or quantize it)")
    return problems
