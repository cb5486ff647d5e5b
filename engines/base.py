"""The engine contract every model follows (no Qt here: the GUI, CLI, tests and benchmarks share it).

An engine is built from a config dataclass and wraps one ``torch.nn.Module`` whose ``forward(batch)``
returns a dict of loss terms with a scalar ``"loss"`` (so DistributedDataParallel can wrap it). Around
that module an engine offers:

- ``save(path)`` / ``load(path)``: atomic checkpoint files that carry their config; a corrupt or
  mismatched file raises :class:`CheckpointError` and leaves the engine as it was;
- ``sample(...)``: a generator of intermediate states (a UI animates, throttles and cancels it);
- ``batches(data, batch_size, rng)``: an endless iterator of training batches;
- ``train_step(batch, optimizer)``: one optimiser step, returning the loss terms as floats/lists;
- ``evaluate(data)``: named metrics; ``bench()``: speed figures.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn

from engines.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from engines.device import pick_device


def _fits(value: Any, kind: Any) -> bool:
    """Whether a JSON-like value is of a config field's declared type (int is not bool; float takes int)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, list | tuple) and all(_fits(v, args[0]) for v in value if args and args[0] is not ...)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if kind is type(None):
        return value is None
    return True  # a type this check does not know: the model builder decides


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass from a checkpoint. Unknown fields, a value of the wrong type, or one
    outside the config's ``limits`` (min, max) or choices raise :class:`CheckpointError` with one line."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise CheckpointError(f"config has fields this version does not know: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    limits = getattr(cls, "limits", {})
    for key, value in data.items():
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        if not _fits(value, hints[key]):
            kind = getattr(hints[key], "__name__", str(hints[key]))
            raise CheckpointError(f"config {key} = {shown} is not {kind}")
        spec = limits.get(key)
        if spec and all(isinstance(v, str) for v in spec):
            if value not in spec:
                raise CheckpointError(f"config {key} = {shown} is not one of {', '.join(spec)}")
        elif spec and not spec[0] <= value <= spec[1]:
            raise CheckpointError(f"config {key} = {shown} is outside [{spec[0]}, {spec[1]}]")
    try:
        return cls(**data)
    except TypeError as e:
        raise CheckpointError(f"config does not fit {cls.__name__}: {e}") from e


def _file_config(cls: type, payload: dict[str, Any], path: str | Path) -> Any:
    """A checkpoint's config, its problems named with the file."""
    try:
        return config_from_dict(cls.config_class, payload["config"])
    except CheckpointError as e:
        raise CheckpointError(f"{Path(path).name}: {e}") from None


def metrics_to_python(out: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Loss-term tensors to floats (scalars) and lists (vectors, e.g. KL per glimpse)."""
    res: dict[str, Any] = {}
    for k, v in out.items():
        v = v.detach()
        res[k] = v.item() if v.dim() == 0 else v.float().cpu().tolist()
    return res


@dataclasses.dataclass(frozen=True)
class Shipped:
    """A checkpoint shipped in resources/: how people see it (the tabs' model lists) and the key of its metrics
    in ``eval NAME --json``. ``menu=False``: used by a view of its own (SA-LSTM, paragraphs), not offered in the
    tab's model list."""

    label: str
    key: str
    menu: bool = True


class Engine(ABC):
    """Base class of every model engine. Subclasses set ``name``, ``config_class`` and implement the
    abstract methods; everything about checkpoints and the optimiser step is shared."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    title: ClassVar[str] = ""
    selection_metric: ClassVar[str] = "loss"  # the validation metric (lower is better) that picks checkpoints
    # parts of the model a run may train alone, the rest frozen (``train --only PART``): part (the prefix of its
    # parameters' names) -> the validation metric that then picks checkpoints
    trainable_parts: ClassVar[dict[str, str]] = {}
    train_only: str = ""  # set by the trainer while it trains one part alone: the engine's batches may shrink
    datasets: ClassVar[tuple[str, ...]] = ()  # shipped dataset names ``load_data`` accepts
    shipped: ClassVar[dict[str, Shipped]] = {}  # resource name → its record; the first is the tab's default
    metric_labels: ClassVar[dict[str, str]] = {}  # plot titles for vector metrics, e.g. KL per glimpse
    plot_terms: ClassVar[tuple[str, ...] | None] = None  # scalar loss terms the training panel plots (None: all)
    schedule_terms: ClassVar[tuple[str, ...]] = ()  # scalar terms in [0, 1] plotted apart, e.g. a KL weight
    # config fields a user may set for a run without changing the architecture: name → (label, choices or
    # (min, max)); the training panel shows them, and they apply to fresh and fine-tuned models alike
    train_options: ClassVar[dict[str, tuple[str, tuple]]] = {}
    # config sizes ``widen`` can grow in a trained model without changing what it computes (train --widen)
    widenable: ClassVar[tuple[str, ...]] = ()
    weights_licence: ClassVar[str] = "CC BY-SA 3.0 (trained on MNIST/Fashion-MNIST data); weights: MIT"
    default_batch_size: ClassVar[int] = 64
    data_fields: ClassVar[tuple[str, ...]] = ()  # config fields ``fit_data`` fills from the data (a vocabulary)
    ddp_unused_parameters: ClassVar[bool] = False  # some batches leave parameters unused (DDP must look for them)
    # False for an engine whose weights come from outside torch's optimiser (DESM: gensim's word2vec, through
    # ``fit(train, seed)``); the training panel leaves it out and ``train`` calls ``fit`` instead of the trainer
    trainable_in_panel: ClassVar[bool] = True
    item_unit: ClassVar[str] = "images"  # what a batch is made of, for rates ("images/s")
    loss_unit: ClassVar[str] = "nats per image"
    data_file_filter: ClassVar[tuple[str, str] | None] = ("Training data (MNIST-format IDX)", "All files (*)")
    data_folder: ClassVar[str] = ""  # the panel's entry for a folder of training data ("" = none)

    def __init__(self, config: Any = None, device: str | torch.device | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.config = config if config is not None else self.config_class()
        self.model = self.build_model(self.config).to(self.device)
        self.meta: dict[str, Any] = {}  # where the weights came from, their metrics, ...
        self.checkpoint_path: Path | None = None

    # -- to implement ---------------------------------------------------------------------------
    @abstractmethod
    def build_model(self, config: Any) -> nn.Module: ...

    @classmethod
    def check_parts(cls, parts: list[str]) -> None:
        """``--only``'s parts must be among ``trainable_parts``; a ValueError names the ones this engine has."""
        for part in parts:
            if part not in cls.trainable_parts:
                names = ", ".join(cls.trainable_parts) or "none"
                raise ValueError(f"{cls.name} has no part '{part}' to train alone (parts: {names})")

    @classmethod
    def presets(cls) -> dict[str, Any]:
        """Named configs; ``"tiny"`` must be small enough for tests."""
        return {"default": cls.config_class()}

    @classmethod
    @abstractmethod
    def load_data(cls, name: str) -> tuple[Any, Any, Any]:
        """(train, valid, test) for a shipped dataset name or a user's file path."""

    @classmethod
    def evaluate_shipped(cls, samples: int = 1) -> dict[str, float]:
        """Metrics of the shipped checkpoints on their test split (for ``eval NAME``)."""
        return {}

    def evaluate_checkpoint(self, dataset: str, samples: int = 1) -> dict[str, float]:
        """Metrics of this model on ``dataset``'s test split (for ``eval NAME --checkpoint FILE``). An engine
        whose ``eval NAME`` follows another protocol on its shipped dataset overrides this to follow it too,
        so a checkpoint's figures compare with the shipped model's."""
        _, _, test = self.load_data(dataset)
        return self.evaluate(test, samples=samples)

    @abstractmethod
    def batches(self, data: Any, batch_size: int, rng: Any) -> Iterator[Any]: ...

    def num_items(self, data: Any) -> int:
        """How many items (images, documents, sentences, crop slots) a DistributedSampler can hand out."""
        raise NotImplementedError(f"{self.name} cannot train on several processes")

    def collate(self, data: Any, indices: Any, seed: int, epoch: int) -> Any:
        """The batch of the given items (multi-process training). Randomness that belongs to an item comes
        from :func:`engines.distributed.item_rng` (seed, epoch, item), the same on whichever rank holds it."""
        raise NotImplementedError(f"{self.name} cannot train on several processes")

    @classmethod
    def schedules(cls, config: Any, steps: int) -> dict[str, list[tuple[int, float]]]:
        """(step, value) points of each of ``schedule_terms`` over a run of ``steps`` (the panel previews them)."""
        return {}

    def fit_data(self, train: Any) -> None:  # noqa: B027 (optional hook, not abstract)
        """Called by the trainer before it makes the optimiser: a fresh model may adapt to its training
        data here (the sentence models take the data's vocabulary). Default: nothing."""

    @abstractmethod
    def evaluate(self, data: Any) -> dict[str, float]: ...

    @abstractmethod
    def sample(self, **options: Any) -> Iterator[Any]: ...

    def bench(self) -> dict[str, float]:
        return {}

    def check_meta(self, meta: dict[str, Any], name: str) -> None:  # noqa: B027 (optional hook, not abstract)
        """Refuse (CheckpointError) a checkpoint whose meta holds a value the engine uses and cannot take
        (DESM's mixture weight). Default: nothing is used."""

    @classmethod
    def about(cls) -> str:
        """Markdown for the "About this model" panel: the docstring of the module that defines the
        model's config (the paper write-up with its equations), so code and panel share one source."""
        import sys

        return sys.modules[cls.config_class.__module__].__doc__ or ""

    # -- shared -----------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def config_summary(self) -> dict[str, Any]:
        """The config as the manifest records it (long lists, such as a vocabulary, shortened)."""
        return {
            k: f"{len(v)} entries" if isinstance(v, list) and len(v) > 20 else v for k, v in self.config_dict().items()
        }

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def batch_items(self, batch: Any) -> int:
        """How many items (images, samples, ...) a batch holds, for throughput figures."""
        return len(batch)

    def train_step(
        self,
        batch: Any,
        optimizer: torch.optim.Optimizer,
        grad_clip: float | None = 10.0,
        module: nn.Module | None = None,
        amp_dtype: torch.dtype | None = None,
    ):
        """One optimiser step on ``batch``; returns the model's loss terms as Python numbers. ``module`` is
        the model as the trainer wraps it (DistributedDataParallel, torch.compile); ``amp_dtype`` turns on
        autocast (bf16 mixed precision) for the forward pass."""
        self.model.train()
        device_type = torch.device(self.device).type
        with torch.autocast(device_type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            out = (module if module is not None else self.model)(batch)  # (a compiled module has no truth value)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        optimizer.step()
        return metrics_to_python(out)

    def save(
        self,
        path: str | Path,
        meta: dict[str, Any] | None = None,
        half: bool = False,
        extra: dict | None = None,
        int8: bool = False,
    ) -> None:
        """Atomic write of config + weights (+ meta). ``half=True`` stores fp16 weights, ``int8=True`` int8
        matrices (engines/checkpoint.py). ``extra``: more top-level entries (the trainer's ``train_state``),
        which loading the weights ignores."""
        save_checkpoint(
            path,
            self.name,
            self.config_dict(),
            self.model.state_dict(),
            {**self.meta, **(meta or {})},
            half,
            extra,
            int8,
        )

    def load(self, path: str | Path) -> None:
        """Replace config and weights with the file's. On any problem raise :class:`CheckpointError`
        and keep the current model untouched."""
        payload = read_checkpoint(path, self.name)
        config = _file_config(type(self), payload, path)
        try:
            model = self.build_model(config)
            sd = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
            model.load_state_dict(sd, strict=True)
        except Exception as e:  # any failure to build from a file's config is the file's problem: one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"{Path(path).name}: weights do not match the model's config: {first}") from e
        self.check_meta(payload["meta"], Path(path).name)
        self.config, self.model = config, model.to(self.device)
        self.meta = dict(payload["meta"])
        self.checkpoint_path = Path(path)

    def widen(self, sizes: dict[str, int], seed: int = 0) -> None:
        """Grow the sizes named in ``widenable`` of this (trained) model, keeping its function."""
        raise ValueError(f"{self.name} cannot be widened")

    def warm_start(self, path: str | Path) -> list[str]:
        """Copy into this (fresh) model every tensor of a checkpoint of the same engine whose name and shape
        match, e.g. DocNADE's weights into a DocNADE-LM; returns the names copied. Nothing is copied when
        the file is unusable or shares no tensor (CheckpointError)."""
        payload = read_checkpoint(path, self.name)
        own = self.model.state_dict()
        take = {k: v for k, v in payload["state_dict"].items() if k in own and own[k].shape == v.shape}
        if not set(take) & {name for name, _ in self.model.named_parameters()}:  # buffers alone are no start
            raise CheckpointError(f"{Path(path).name} shares no weights with this config")
        self.model.load_state_dict({k: v.to(own[k].dtype) for k, v in take.items()}, strict=False)
        return sorted(take)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None):
        payload = read_checkpoint(path, cls.name)
        config = _file_config(cls, payload, path)
        try:
            engine = cls(config, device=device)
        except Exception as e:  # a config within its limits that still cannot be built: the file's problem
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"{Path(path).name}: its config cannot be built: {first}") from e
        engine.load(path)
        return engine
