"""The DRAW engine: the contract of :mod:`engines.base` around :class:`engines.draw.model.Draw`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from engines.base import Engine, Shipped
from engines.data.images import ImageSplit, binarize, fixed_binarized, load_dataset
from engines.distributed import item_rng
from engines.draw.model import Draw, DrawConfig, gaussian_kl


@dataclass
class DrawFrame:
    """What the canvas looks like after glimpse ``t`` (0-based) of ``total``, for every image."""

    t: int
    total: int
    canvas: np.ndarray  # (n, H, W) Bernoulli means σ(c_t) in [0, 1]
    write_boxes: np.ndarray | None  # (n, 4) x0, y0, x1, y1 in pixels; None without attention
    read_boxes: np.ndarray | None  # (n, 4) in reconstruction mode with attention, else None
    kl: np.ndarray | None = None  # (n,) KL of this glimpse's z_t (reconstruction mode)
    target: np.ndarray | None = None  # (n, H, W) the binarized input (reconstruction mode)
    ink: np.ndarray | None = None  # (n,) ink this glimpse added, Σ|σ(c_t) - σ(c_{t-1})| over pixels


def _with_ink(frames: Iterator[DrawFrame], start: np.ndarray | float = 0.5) -> Iterator[DrawFrame]:
    """Fill each frame's ``ink`` from the canvas before it (computed once here, not per redraw in a view);
    ``start`` is σ(c_0)."""
    prev = None
    for f in frames:
        prev = np.broadcast_to(start, f.canvas.shape) if prev is None else prev
        f.ink = np.abs(f.canvas - prev).sum(axis=(1, 2))
        prev = f.canvas
        yield f


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """Centres (..., 2) of boxes (..., 4) given as x0, y0, x1, y1."""
    return np.stack([boxes[..., 0] + boxes[..., 2], boxes[..., 1] + boxes[..., 3]], axis=-1) / 2


def write_motion(boxes: np.ndarray, width: int, height: int) -> dict[str, float]:
    """``boxes`` (T, n, 4) x0, y0, x1, y1 per glimpse: the mean side of the boxes clipped to the image over the
    glimpses T/2..T (``write_box_px_late``) and the mean step of their centres (``write_travel_px``)."""
    T = len(boxes)
    clipped = np.stack([np.clip(boxes[..., 0], 0, width), np.clip(boxes[..., 1], 0, height),
                        np.clip(boxes[..., 2], 0, width), np.clip(boxes[..., 3], 0, height)], axis=-1)  # fmt: skip
    side = ((clipped[..., 2] - clipped[..., 0]) + (clipped[..., 3] - clipped[..., 1])) / 2  # (T, n)
    steps = np.linalg.norm(np.diff(box_centres(boxes), axis=0), axis=-1)  # (T-1, n)
    return {
        "write_box_px_late": round(float(side[(T - 1) // 2 :].mean()), 2),
        "write_travel_px": round(float(steps.mean()), 2) if T > 1 else 0.0,
    }


def _boxes(p) -> np.ndarray | None:
    return None if p is None else p.boxes().detach().cpu().numpy()


class DrawEngine(Engine):
    name = "draw"
    title = "DRAW"
    config_class = DrawConfig
    selection_metric = "nll"
    datasets = ("mnist", "fashion")
    metric_labels = {"kl_per_step": "KL per glimpse (nats, latest step)"}
    shipped = {
        "draw-attention": Shipped("With attention, 5×5 write (shipped)", "nll_attention"),
        "draw-attention-12x12": Shipped("With attention, 12×12 grids (shipped)", "nll_attention_12x12"),
        "draw-no-attention": Shipped("Without attention (shipped)", "nll_no_attention"),
    }

    def build_model(self, config: DrawConfig) -> Draw:
        return Draw(config)

    @classmethod
    def presets(cls) -> dict[str, DrawConfig]:
        return {
            "default": DrawConfig(),
            "no-attention": DrawConfig(attention=False),
            "paper": DrawConfig(glimpses=64, read_n=2, write_n=5),
            # the paper's 5x5 write grid (a 2x2 read collapsed here: a 12x12 read), c_0 learned
            "write-5x5": DrawConfig(read_n=12, write_n=5, learned_canvas=True),
            # the shipped default: the same with the write box bounded to 9 px (DrawConfig.write_max_px), fine-tuned
            # from write-5x5
            "write-5x5-local": DrawConfig(read_n=12, write_n=5, learned_canvas=True, write_max_px=9.0),
            "small": DrawConfig(glimpses=16, enc_size=128, dec_size=128, z_size=32),
            "tiny": DrawConfig(glimpses=4, enc_size=32, dec_size=32, z_size=8),
        }

    @classmethod
    def load_data(cls, name: str) -> tuple[ImageSplit, ImageSplit, ImageSplit]:
        ds = load_dataset(name)
        return ds.train, ds.valid, ds.test

    @classmethod
    def evaluate_shipped(cls, samples: int = 4) -> dict[str, float]:
        """Both shipped MNIST checkpoints on the same test images: ``nll_attention`` and
        ``nll_no_attention`` (plus their reconstruction and KL terms), nats per image; and the attention
        models' :meth:`write_motion` over 100 prior samples (``write_box_px_late`` and ``write_travel_px`` for the
        default attention model, suffixed ``_12x12`` for the other)."""
        from engines.resources import resource_path

        _, _, test = cls.load_data("mnist")
        out: dict[str, float] = {"test_images": len(test), "z_samples": samples}
        for resource, key in ((r, s.key) for r, s in cls.shipped.items()):
            engine = cls.from_checkpoint(resource_path(resource))
            m = engine.evaluate(test, samples=samples)
            suffix = key.removeprefix("nll")
            out[key] = m["nll"]
            out["recon" + suffix] = m["recon"]
            out["kl" + suffix] = m["kl"]
            # how each attention model's write window moves (issue 19's figures are the default model's)
            out.update({k + key.removeprefix("nll_attention"): v for k, v in engine.write_motion().items()})
        return out

    # -- data -------------------------------------------------------------------------------------
    def batches(self, data: ImageSplit, batch_size: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
        """Endless shuffled batches, binarized afresh each time (dynamic binarization)."""
        n = len(data)
        batch_size = min(batch_size, n)
        while True:
            order = rng.permutation(n)
            for i in range(0, n - batch_size + 1, batch_size):
                x = binarize(data.images[order[i : i + batch_size]], rng)
                yield torch.from_numpy(x).to(self.device)

    def num_items(self, data: ImageSplit) -> int:
        return len(data)

    def collate(self, data: ImageSplit, indices, seed: int, epoch: int) -> torch.Tensor:
        """The images, each binarised by its own generator (the same on any rank)."""
        x = np.stack([binarize(data.images[i], item_rng(seed, epoch, i)) for i in indices])
        return torch.from_numpy(x).to(self.device)

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: ImageSplit, samples: int = 1, batch_size: int = 500, seed: int = 0) -> dict[str, float]:
        """Test bound on -log p(x) in nats per image (eq. 12), averaged over ``samples`` draws of z,
        on the fixed binarization of ``data``."""
        self.model.eval()
        x_all = torch.from_numpy(fixed_binarized(data)).to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        totals = {"recon": 0.0, "kl": 0.0}
        for _ in range(samples):
            for i in range(0, len(x_all), batch_size):
                x = x_all[i : i + batch_size]
                out = self.model(x, generator=gen)  # batch means of eqs. 9-10
                for k in totals:
                    totals[k] += out[k].item() * len(x)
        count = samples * len(x_all)
        metrics = {k: v / count for k, v in totals.items()}
        metrics["nll"] = metrics["recon"] + metrics["kl"]
        return metrics

    def blank_canvas(self) -> np.ndarray | float:
        """σ(c_0): the canvas before the first glimpse (½ everywhere unless c_0 is learned)."""
        if not self.config.learned_canvas:
            return 0.5
        return torch.sigmoid(self.model.canvas0.detach().float()).cpu().numpy()

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int = 16, seed: int = 0, temperature: float = 1.0) -> Iterator[DrawFrame]:
        """Generate ``n`` images from the prior (eqs. 13-15), one :class:`DrawFrame` per glimpse."""
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(seed)
        total = self.config.glimpses
        steps = self.model.steps(n=n, temperature=temperature, generator=gen)
        yield from _with_ink(
            (
                DrawFrame(s["t"], total, torch.sigmoid(s["canvas"]).cpu().numpy(), _boxes(s["write"]), None)
                for s in steps
            ),
            self.blank_canvas(),
        )

    @torch.no_grad()
    def reconstruct(self, images: np.ndarray, seed: int = 0) -> Iterator[DrawFrame]:
        """Encode and redraw ``images`` (n, H, W) uint8, showing where DRAW reads and writes."""
        self.model.eval()
        x = torch.from_numpy(binarize(images, np.random.default_rng(seed))).to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        total = self.config.glimpses
        target = x.cpu().numpy()
        frames = (
            DrawFrame(s["t"], total, torch.sigmoid(s["canvas"]).cpu().numpy(), _boxes(s["write"]), _boxes(s["read"]),
                      gaussian_kl(s["mu"], s["log_sigma"]).cpu().numpy(), target)
            for s in self.model.steps(x, generator=gen)
        )  # fmt: skip
        yield from _with_ink(frames, self.blank_canvas())

    @torch.no_grad()
    def write_motion(self, n: int = 100, seed: int = 0, temperature: float = 1.0) -> dict[str, float]:
        """How the write window moves in ``n`` prior samples: ``write_box_px_late``, the mean side (pixels) of
        the write box clipped to the image as the tab draws it, over glimpses T/2..T, and ``write_travel_px``,
        the mean distance between consecutive glimpses' box centres (the unclipped N·δ square's). Issue 19."""
        if not self.config.attention:
            return {}
        boxes = np.stack([f.write_boxes for f in self.sample(n=n, seed=seed, temperature=temperature)])  # (T, n, 4)
        return write_motion(boxes, self.config.width, self.config.height)

    # -- speed --------------------------------------------------------------------------------------
    def bench(self, repeats: int = 5, batch_size: int = 64) -> dict[str, float]:
        """By the benchmark protocol (engines/benchmark.py; threads pinned by the caller, one by default):
        ``ms_per_glimpse_16``, one glimpse of 16 prior samples (a whole sample of T glimpses, divided by T;
        median of ``repeats``), and ``train_images_per_s``, optimiser steps on random binary images, each per
        wall second and per CPU second."""
        from engines.benchmark import measure

        T = self.config.glimpses
        bench_engine = DrawEngine(replace(self.config), device=self.device)
        opt = torch.optim.Adam(bench_engine.model.parameters(), lr=1e-4)
        x = (torch.rand(batch_size, self.config.height, self.config.width, device=self.device) < 0.2).float()

        def sample_16() -> int:
            for _ in self.sample(n=16, seed=0):
                pass
            return T  # glimpses

        def train_step() -> int:
            bench_engine.train_step(x, opt)
            return batch_size  # images

        m = measure({"sample_16": sample_16, "train_step": train_step}, repeats=repeats)
        return {
            "ms_per_glimpse_16": round(m["sample_16_wall_ms_median"] / T, 3),
            "ms_per_glimpse_16_min": round(m["sample_16_wall_ms_min"] / T, 3),
            "cpu_ms_per_glimpse_16": round(m["sample_16_cpu_ms_median"] / T, 3),
            "train_images_per_s": m["train_step_per_s"],
            "train_images_per_cpu_s": m["train_step_per_cpu_s"],
            "glimpses": T,
            "batch_size": batch_size,
            "device": str(self.device),
        }
