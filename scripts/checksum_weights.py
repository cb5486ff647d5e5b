"""Add the payload checksum (``meta["payload_sha256"]``, engines/checkpoint.py) to every shipped checkpoint
that lacks one, re-saving it with nothing else changed, and refresh its manifest size and sha256.

    python scripts/checksum_weights.py

Then rebuild the shipped lessons (they name shipped checkpoints by sha256):
``python main.py --build-lessons resources/lessons``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.checkpoint import atomic_write_bytes, payload_sha256  # noqa: E402
from engines.resources import RESOURCES_DIR, load_manifest, save_manifest, sha256_file  # noqa: E402


def main() -> int:
    artifacts = load_manifest()
    for name, entry in artifacts.items():
        if entry.get("kind") != "checkpoint":
            continue
        path = RESOURCES_DIR / entry["path"]
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if "payload_sha256" in payload["meta"]:
            continue
        payload["meta"]["payload_sha256"] = payload_sha256(payload["config"], payload["state_dict"])
        atomic_write_bytes(path, lambda f, p=payload: torch.save(p, f))
        entry["size"], entry["sha256"] = path.stat().st_size, sha256_file(path)
        entry["checksum"] = "meta.payload_sha256 added by python scripts/checksum_weights.py"
        print(f"{name}: {entry['sha256'][:12]}…")
    save_manifest(artifacts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
