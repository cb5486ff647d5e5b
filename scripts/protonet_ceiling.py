"""How far few-shot accuracy on the held-out glyph scripts can go with the statistician's own encoder when
the objective is discriminative: a prototypical network (Snell et al. 2017) trained here, for comparison
with the Neural Statistician, whose encoder learns from the generative bound alone.

The same instance encoder (``ConvEncoder``: three stride-2 3 x 3 convolutions and a linear layer), the same
training scripts and binarisation; training episodes of 20 classes, one support and four queries each, the
query scored by its squared Euclidean distance to each class's mean encoding (Adam, 1e-3 cosine to 1e-4).
Test episodes are drawn exactly as ``StatisticianEngine.few_shot`` draws them (same seed, same order), so
the figures sit beside ``eval statistician``'s ``acc_*`` keys. Not a shipped model and not the paper's
method: a yardstick that separates "the data or the encoder cannot tell these characters apart" from "the
generative objective does not make the context do it". Prints one JSON object.

    python scripts/protonet_ceiling.py [--steps 4000] [--threads 1] [--episodes 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.statistician.data import ImageSets, binarise  # noqa: E402
from engines.statistician.engine import StatisticianEngine  # noqa: E402
from engines.statistician.model import ConvEncoder  # noqa: E402


def episode(data: ImageSets, way: int, shot: int, queries: int, rng: np.random.Generator) -> torch.Tensor:
    """(way, shot + queries, 784) binarised images of one episode, drawn as ``few_shot`` draws its episodes."""
    idx = data.episode(way, shot + queries, rng)
    return torch.from_numpy(binarise(data.images[idx.ravel()])).float().reshape(way, shot + queries, -1)


@torch.no_grad()
def accuracy(encoder: ConvEncoder, data: ImageSets, way: int, shot: int, episodes: int, seed: int = 0) -> float:
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(episodes):
        f = encoder(episode(data, way, shot, 1, rng))
        nearest = torch.cdist(f[:, shot], f[:, :shot].mean(1)).argmin(-1)
        hits += int((nearest == torch.arange(way)).sum())
    return round(hits / (episodes * way), 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=1000, help="test episodes per cell (eval statistician: 1000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, valid, test = StatisticianEngine.load_data("glyphs")
    hidden = StatisticianEngine.presets()["default"].hidden
    encoder = ConvEncoder(28, hidden)
    opt = torch.optim.Adam(encoder.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, 1e-4)
    rng, way, queries = np.random.default_rng(args.seed), 20, 4
    target = torch.arange(way).repeat_interleave(queries)
    start, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        f = encoder(episode(train, way, 1, queries, rng))
        logits = -(torch.cdist(f[:, 1:].reshape(way * queries, -1), f[:, 0]) ** 2)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    encoder.eval()
    out = {"steps": args.steps, "train_cpu_s": round(time.process_time() - cpu0, 1)}
    out["train_wall_s"] = round(time.perf_counter() - start, 1)
    out["valid_acc_5way_1shot"] = accuracy(encoder, valid, 5, 1, args.episodes // 5)
    for way in (5, 20):
        for shot in (1, 5):
            out[f"protonet_acc_{way}way_{shot}shot"] = accuracy(encoder, test, way, shot, args.episodes)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
