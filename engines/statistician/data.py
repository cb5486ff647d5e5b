"""Sets for the Neural Statistician: images grouped by class (a glyph's character, a digit, a garment), or the
paper's synthetic 1-D sets. Every source draws sets the same way, ``draw(n_sets, size, rng)``, so the engine
trains, evaluates and classifies without knowing which it has.

Images are binarised by a threshold at half intensity: glyphs are binary already (like Omniglot), and a
user's drawing or photo is read the same way every time it is shown (a set must not change on redraw).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.data.images import ImageDataError, ImageSplit
from engines.statistician.synthetic import FAMILIES, sample_sets


def binarise(images: np.ndarray) -> np.ndarray:
    """uint8 images (..., 28, 28) -> float32 {0, 1} vectors (..., 784): ink where intensity >= 128."""
    x = (np.asarray(images) >= 128).astype(np.float32)
    return x.reshape(*x.shape[:-2], -1)


def turn(items: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Square images flattened as (..., side²), each turned by ``quarter_turns`` x 90° (anticlockwise)."""
    side = round(items.shape[-1] ** 0.5)
    if side * side != items.shape[-1]:
        raise ValueError(f"only square images turn: {items.shape[-1]} values is not a square")
    if quarter_turns % 4 == 0:
        return items
    img = items.reshape(*items.shape[:-1], side, side)
    return np.ascontiguousarray(np.rot90(img, quarter_turns, axes=(-2, -1)).reshape(items.shape))


@dataclass
class ImageSets:
    """Images grouped by label; a set is ``size`` images of one label. ``class_names[label]`` names it."""

    name: str
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int
    class_names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self):
        order = np.argsort(self.labels, kind="stable")
        classes, starts = np.unique(self.labels[order], return_index=True)
        self.classes = classes
        self.members = np.split(order, starts[1:])  # indices of each class, in the order of ``classes``
        if len(self.classes) < 2:
            raise ImageDataError(f"{self.name}: sets need images of at least two classes, found {len(self.classes)}")

    @classmethod
    def from_split(cls, name: str, split: ImageSplit, class_names: dict[int, str] | None = None) -> ImageSets:
        return cls(name, split.images, split.labels, class_names or {})

    def __len__(self) -> int:
        return len(self.classes)

    def label_name(self, label: int) -> str:
        return self.class_names.get(int(label), str(int(label)))

    def set_of(self, class_index: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` images (with repeats only if the class has fewer) of the class at ``class_index``."""
        m = self.members[class_index]
        return self.images[rng.choice(m, size=size, replace=len(m) < size)]

    def episode(self, way: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
        """A few-shot episode's image indices (way, per_class): ``way`` distinct classes, ``per_class`` distinct
        images of each (the caller splits them into supports and queries)."""
        return np.stack([rng.choice(self.members[c], size=per_class, replace=False)
                         for c in rng.choice(len(self.classes), size=way, replace=False)])  # fmt: skip

    def draw(self, n_sets: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(x (n_sets, size, 784) float32, each set's label)."""
        pick = rng.integers(len(self.classes), size=n_sets)
        x = np.stack([binarise(self.set_of(int(c), size, rng)) for c in pick])
        return x, self.classes[pick]

    def sets_per_epoch(self, size: int) -> int:
        """How many sets of ``size`` a sampler's epoch deals: as many items as there are images."""
        return max(len(self.classes), len(self.images) // size)

    def item_set(self, item: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """The training set of sampler item ``item``: a set of class ``item`` modulo the number of classes."""
        return binarise(self.set_of(item % len(self.classes), size, rng))


@dataclass
class SyntheticSets:
    """The paper's 1-D sets (Section 5.1), drawn fresh each time; ``size`` items per set."""

    name: str = "synthetic"
    epoch_sets: int = 4096  # how many sets a sampler's epoch holds (the source itself is endless)
    class_names: dict[int, str] = field(default_factory=lambda: dict(enumerate(FAMILIES)))

    def __len__(self) -> int:
        return self.epoch_sets

    def label_name(self, label: int) -> str:
        return FAMILIES[int(label)]

    def draw(self, n_sets: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x, fam, _ = sample_sets(n_sets, size, rng)
        return x, fam

    def sets_per_epoch(self, size: int) -> int:
        return self.epoch_sets

    def item_set(self, item: int, size: int, rng: np.random.Generator) -> np.ndarray:
        return sample_sets(1, size, rng)[0][0]


# ----------------------------------------------------------------------------- a user's sets on disk

SETS_FORMAT = "genplay-statistician-sets"


def encode_images(images: np.ndarray) -> str:
    """uint8 images (k, 28, 28) -> base64 text (for JSON: saved sets, tab state)."""
    import base64

    return base64.b64encode(np.ascontiguousarray(images, np.uint8).tobytes()).decode("ascii")


def decode_images(text: str, side: int = 28) -> np.ndarray:
    import base64
    import binascii

    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError(f"images are not base64 text ({e})") from None
    if len(raw) % (side * side):
        raise ValueError(f"{len(raw)} bytes are not a whole number of {side} x {side} images")
    return np.frombuffer(raw, np.uint8).reshape(-1, side, side).copy()


def sets_to_json(sets: list[tuple[str, np.ndarray]]) -> dict:
    return {"format": SETS_FORMAT, "version": 1, "sets": [{"name": n, "images": encode_images(x)} for n, x in sets]}


def sets_from_json(obj: dict) -> list[tuple[str, np.ndarray]]:
    """The inverse of :func:`sets_to_json`; anything malformed raises ValueError naming the problem."""
    if not isinstance(obj, dict) or obj.get("format") != SETS_FORMAT:
        raise ValueError("not a file of image sets saved by this app")
    out = []
    for i, s in enumerate(obj.get("sets", [])):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("images"), str):
            raise ValueError(f"set {i + 1} has no name or images")
        try:
            out.append((s["name"], decode_images(s["images"])))
        except ValueError as e:
            raise ValueError(f"set {i + 1} ('{s['name']}'): {e}") from None
    return out


def save_sets(path, sets: list[tuple[str, np.ndarray]]) -> None:
    """Write sets atomically as JSON (a failed write leaves any earlier file whole)."""
    import json

    from engines.checkpoint import atomic_write_bytes

    text = json.dumps(sets_to_json(sets))
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def load_sets(path) -> list[tuple[str, np.ndarray]]:
    """Read sets saved by :func:`save_sets`; a missing, corrupt or foreign file raises ValueError."""
    import json
    from pathlib import Path

    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p.name}: cannot read it as saved sets ({e})") from None
    try:
        return sets_from_json(obj)
    except ValueError as e:
        raise ValueError(f"{p.name}: {e}") from None


def demo_sets(data: ImageSets, n_sets: int = 3, size: int = 5, seed: int = 3):
    """The tab's first view: ``n_sets`` sets of ``size`` drawings of different characters and, as the query,
    a typical other drawing of the last set's character (median ink among those not in the set).
    Returns ([(name, images (size, 28, 28))], query (28, 28))."""
    rng = np.random.default_rng(seed)
    sets = []
    for c in rng.choice(len(data), size=n_sets, replace=False):
        sets.append((data.label_name(data.classes[c]), data.set_of(int(c), size, rng)))
        last = int(c)
    shown = sets[-1][1]
    others = [i for i in data.members[last] if not any((data.images[i] == x).all() for x in shown)]
    ink = [int((data.images[i] > 0).sum()) for i in others]
    return sets, data.images[others[int(np.argsort(ink)[len(ink) // 2])]]
