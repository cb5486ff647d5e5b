"""The training panel: train or fine-tune any engine live, with loss curves, the ELBO's terms, a
per-glimpse KL plot, progress with ETA, pause/resume/stop and checkpoints.

It runs :class:`engines.train.Trainer` (the same loop as ``python -m engines train``) on the shared
:class:`app.worker.Worker`. Plots are redrawn by a 10 Hz timer from the points received, never per
step, so fast training cannot flood the GUI.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.presentation import okabe_rgb
from app.widgets import add_and_select, ask_path_from_combo
from app.worker import Worker
from engines.checkpoint import CheckpointError
from engines.progress import format_eta
from engines.registry import ENGINES
from engines.resources import ResourceError, resource_path
from engines.train import TrainConfig, Trainer, TrainEvent

# Okabe-Ito (colour-blind safe, named in the legends)
CURVE_COLORS = {"loss": okabe_rgb("black"), "recon": okabe_rgb("blue"), "kl": okabe_rgb("vermillion"),
                "kl_z": okabe_rgb("vermillion"), "kl_c": okabe_rgb("bluish green")}  # fmt: skip
OTHER_COLORS = [okabe_rgb(n) for n in ("blue", "vermillion", "bluish green", "reddish purple")]
VECTOR_AXES = {"kl_per_step": "glimpse t"}  # what a per-step vector's position counts
SMOOTHING = 0.9  # the exponential moving average of "Smooth curves"


def smoothed(ys: np.ndarray, beta: float = SMOOTHING) -> np.ndarray:
    """An exponential moving average with the start-up bias corrected (TensorBoard's smoothing)."""
    out, acc = np.empty(len(ys)), 0.0
    for i, y in enumerate(ys):
        acc = beta * acc + (1 - beta) * y
        out[i] = acc / (1 - beta ** (i + 1))
    return out


def is_kl_term(key: str) -> bool:
    """KL terms are a few nats beside a reconstruction of hundreds: they get their own axis."""
    return key == "kl" or key.startswith("kl_")


class TrainingPanel(QWidget):
    weights_ready = Signal(str, object, str)  # engine name, engine, label
    error = Signal(str)
    status = Signal(str)
    event_received = Signal(object)  # every TrainEvent, for tests and scripting

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker: Worker | None = None
        self.engine = None
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.valid_history: list[tuple[int, float]] = []
        self.last_vector: list[float] = []
        self.last_event: TrainEvent | None = None
        self.run_count = 0
        self.autosave_path: Path | None = None
        self._dirty = False
        self._build()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.timeout.connect(self._redraw)
        self.redraw_timer.start(100)

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        row = QHBoxLayout(self)
        box = QGroupBox("Run")
        form = QFormLayout(box)
        self.model_box = QComboBox()
        for name, cls in ENGINES.items():
            if cls.trainable_in_panel:  # DESM's vectors come from gensim's word2vec (python -m engines train desm)
                self.model_box.addItem(cls.title or name, name)
        self.preset_box = QComboBox()
        self.data_box = QComboBox()
        self.init_box = QComboBox()
        self.steps_box = QSpinBox()
        self.steps_box.setRange(1, 1_000_000)
        self.steps_box.setValue(500)
        self.batch_box = QSpinBox()
        self.batch_box.setRange(1, 4096)
        self.batch_box.setValue(64)
        self.lr_box = QDoubleSpinBox()
        self.lr_box.setDecimals(5)
        self.lr_box.setRange(1e-5, 1.0)
        self.lr_box.setSingleStep(1e-4)
        self.lr_box.setValue(1e-3)
        self.sched_box = QComboBox()
        self.sched_box.addItem("constant", "constant")
        self.sched_box.addItem("cosine, down to a tenth", "cosine")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.eval_box = QSpinBox()
        self.eval_box.setRange(0, 1_000_000)
        self.eval_box.setValue(100)
        self.eval_box.setSpecialValueText("only at the end")
        form.addRow("Model", self.model_box)
        form.addRow("Config", self.preset_box)
        form.addRow("Dataset", self.data_box)
        form.addRow("Start from", self.init_box)
        form.addRow("Steps", self.steps_box)
        form.addRow("Batch size", self.batch_box)
        form.addRow("Learning rate", self.lr_box)
        form.addRow("LR schedule", self.sched_box)
        form.addRow("Seed", self.seed_box)
        form.addRow("Validate every", self.eval_box)
        self.smooth_check = QCheckBox(f"Smooth curves (moving average {SMOOTHING})")
        self.smooth_check.toggled.connect(lambda _: (setattr(self, "_dirty", True), self._redraw()))
        form.addRow(self.smooth_check)
        self.options_box = QGroupBox("Model options")  # the engine's train_options, e.g. KL annealing
        self.options_form = QFormLayout(self.options_box)
        self.option_widgets: dict[str, QWidget] = {}
        form.addRow(self.options_box)
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        self.save_btn = QPushButton("Save checkpoint…")
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        form.addRow(buttons)
        form.addRow(self.save_btn)
        self.elsewhere_btn = QPushButton("Run elsewhere…")
        self.elsewhere_btn.setToolTip("torchrun command, Slurm script, or a multi-process run on this machine")
        self.open_log_btn = QPushButton("Open run log…")
        self.open_log_btn.setToolTip("plot a finished or running run's TensorBoard log folder")
        more = QHBoxLayout()
        more.addWidget(self.elsewhere_btn)
        more.addWidget(self.open_log_btn)
        form.addRow(more)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        form.addRow(self.progress)
        self.rate_label = QLabel("")
        form.addRow(self.rate_label)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        form.addRow(self.log)
        box.setMaximumWidth(360)
        row.addWidget(box)

        plots = QVBoxLayout()
        self.loss_plot = pg.PlotWidget(title="Training loss terms")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.setLabel("bottom", "step")
        self.curves: dict[str, pg.PlotDataItem] = {}  # made per run, one per scalar loss term
        self.valid_curve = self.loss_plot.plot(
            [], [], pen=None, symbol="o", symbolBrush=(20, 160, 60), name="validation"
        )
        self.kl_plot = pg.PlotWidget(title="KL terms (nats)")  # on their own axis: beside ~500 nats they were flat
        self.kl_plot.addLegend(offset=(-10, 10))
        self.kl_plot.setLabel("bottom", "step")
        self.kl_plot.getAxis("left").enableAutoSIPrefix(False)
        self.vec_plot = pg.PlotWidget(title="Per-step terms (latest step)")
        self.vec_plot.setLabel("bottom", "position")
        self.vec_plot.getAxis("left").enableAutoSIPrefix(False)
        self.vec_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=(230, 90, 30))
        self.vec_plot.addItem(self.vec_bars)
        self.sched_plot = pg.PlotWidget(title="Schedule (dashed: planned)")
        self.sched_plot.setLabel("bottom", "step")
        self.sched_plot.setYRange(0, 1.05)
        self.sched_plot.addLegend(offset=(-10, 10))
        self.sched_curves: dict[str, pg.PlotDataItem] = {}
        self.sched_preview = self.sched_plot.plot(  # the plan: grey dashes drawn over the run's curve
            [], [], pen=pg.mkPen((120, 120, 120), width=3, style=Qt.PenStyle.DashLine), name="planned"
        )
        self.sched_preview.setZValue(10)
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.kl_plot, 2)
        plots.addWidget(self.vec_plot, 2)
        plots.addWidget(self.sched_plot, 2)
        row.addLayout(plots, 1)

        self.model_box.currentIndexChanged.connect(self._on_model)
        self.preset_box.currentIndexChanged.connect(self._on_preset)
        self.steps_box.valueChanged.connect(self._preview_schedule)
        self.data_box.activated.connect(self._on_data_chosen)
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.stop_btn.clicked.connect(self.stop)
        self.save_btn.clicked.connect(self._ask_save)
        self.elsewhere_btn.clicked.connect(self.show_run_elsewhere)
        self.open_log_btn.clicked.connect(self._ask_open_log)
        self.log_timer = QTimer(self)  # re-reads a followed run's log while it runs
        self.log_timer.timeout.connect(self._reload_log)
        self.followed_log: str | None = None
        self.elsewhere = None
        self._on_model()
        self._set_running(False)

    def _on_model(self, *_):
        cls = ENGINES[self.model_box.currentData()]
        self.vec_plot.setVisible(bool(cls.metric_labels))  # per-step vectors, e.g. DRAW's KL per glimpse
        self.kl_plot.setVisible(any(is_kl_term(t) for t in (cls.plot_terms or ("kl",))))
        self.sched_plot.setVisible(bool(cls.schedule_terms))
        self._build_options(cls)
        self.batch_box.setValue(cls.default_batch_size)
        self.preset_box.clear()
        for name in cls.presets():
            self.preset_box.addItem(name, name)
        self.data_box.clear()
        for name in cls.datasets:
            self.data_box.addItem(name, name)
        if cls.data_folder:  # audio: a folder of WAV files; documents: a folder of text files
            self.data_box.addItem(cls.data_folder, "__folder__")
        if cls.data_file_filter:
            self.data_box.addItem("Open a file…", "__open__")
        self.init_box.clear()
        self.init_box.addItem("scratch (the chosen config)", None)
        for res in getattr(cls, "shipped", {}):
            self.init_box.addItem(f"fine-tune shipped '{res}'", res)

    def _build_options(self, cls) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_widgets = {}
        for name, (label, spec) in cls.train_options.items():
            if all(isinstance(v, str) for v in spec):  # choices
                w = QComboBox()
                for v in spec:
                    w.addItem(v, v)
                w.currentIndexChanged.connect(self._preview_schedule)
            else:  # a (min, max) range
                w = QDoubleSpinBox() if isinstance(spec[0], float) else QSpinBox()
                w.setRange(*spec)
                w.setSingleStep(0.05 if isinstance(spec[0], float) else 500)
                w.valueChanged.connect(self._preview_schedule)
            self.options_form.addRow(label, w)
            self.option_widgets[name] = w
        self.options_box.setVisible(bool(self.option_widgets))

    @staticmethod
    def _set_option(w: QWidget, value: Any) -> None:
        w.setCurrentIndex(w.findData(value)) if isinstance(w, QComboBox) else w.setValue(value)

    def _on_preset(self, *_) -> None:
        """Show the chosen config's values of the model options."""
        config = ENGINES[self.model_box.currentData()].presets().get(self.preset_box.currentData())
        if config is None:
            return
        for name, w in self.option_widgets.items():
            w.blockSignals(True)
            self._set_option(w, getattr(config, name))
            w.blockSignals(False)
        self._preview_schedule()

    def option_values(self) -> dict[str, Any]:
        return {n: w.currentData() if isinstance(w, QComboBox) else w.value() for n, w in self.option_widgets.items()}

    def _with_options(self, config: Any) -> Any:
        """``config`` with the model options set (they never change the architecture)."""
        for name, value in self.option_values().items():
            setattr(config, name, value)
        return config

    def _preview_schedule(self, *_) -> None:
        cls = ENGINES[self.model_box.currentData()]
        config = cls.presets().get(self.preset_box.currentData())
        if config is None or not cls.schedule_terms:
            self.sched_preview.setData([], [])
            return
        pts = cls.schedules(self._with_options(config), self.steps_box.value()).get(cls.schedule_terms[0], [])
        xs, ys = (np.array(v) for v in zip(*pts)) if pts else ([], [])
        self.sched_preview.setData(xs, ys)

    def _on_data_chosen(self, _index: int) -> None:
        choice = self.data_box.currentData()
        if choice not in ("__open__", "__folder__"):
            return
        cls = ENGINES[self.model_box.currentData()]
        caption, filters = cls.data_file_filter
        path = ask_path_from_combo(self.data_box, None, self, caption, filters if choice == "__open__" else "")
        if path:
            self.add_dataset_file(path)

    def add_dataset_file(self, path: str) -> None:
        """Offer a user's file as training data (checked when training starts)."""
        add_and_select(self.data_box, Path(path).name, path)

    def _set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running)
        self.stop_btn.setEnabled(running)
        for w in (self.model_box, self.preset_box, self.data_box, self.init_box, self.steps_box, self.batch_box,
                  self.lr_box, self.sched_box, self.seed_box, self.eval_box, self.options_box):  # fmt: skip
            w.setEnabled(not running)
        self.save_btn.setEnabled(self.engine is not None and (not running or self.is_paused))
        self.pause_btn.setText("Resume" if self.is_paused else "Pause")

    @property
    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    @property
    def is_paused(self) -> bool:
        return self.worker is not None and self.worker.is_paused

    def _say(self, text: str) -> None:
        self.log.appendPlainText(text)

    # -- running ------------------------------------------------------------------------------------
    def configure(self, **values: Any) -> None:
        """Set fields from code (scripts, tests): model, preset, dataset, init, steps, batch, lr, seed, eval_every,
        options (a dict of the engine's train_options)."""
        boxes = {"model": self.model_box, "preset": self.preset_box, "dataset": self.data_box, "init": self.init_box}
        spins = {"steps": self.steps_box, "batch": self.batch_box, "lr": self.lr_box, "seed": self.seed_box,
                 "eval_every": self.eval_box}  # fmt: skip
        for key in ("model", "preset", "dataset", "init"):
            if key in values:
                i = boxes[key].findData(values[key])
                if i < 0:
                    raise ValueError(f"no {key} '{values[key]}'")
                boxes[key].setCurrentIndex(i)
        for key, box in spins.items():
            if key in values:
                box.setValue(values[key])
        for name, value in values.get("options", {}).items():  # the engine's train_options
            if name not in self.option_widgets:
                raise ValueError(f"no model option '{name}'")
            self._set_option(self.option_widgets[name], value)

    def _make_trainer(self) -> Trainer:
        name = self.model_box.currentData()
        cls = ENGINES[name]
        init = self.init_box.currentData()
        if init:
            engine = cls.from_checkpoint(resource_path(init), device=None)
        else:
            engine = cls(cls.presets()[self.preset_box.currentData()])
        self._with_options(engine.config)  # the model holds this same config object
        dataset = self.data_box.currentData()
        train, valid, _ = cls.load_data(dataset)
        engine.meta.update({"dataset": dataset, "init": init, "preset": self.preset_box.currentData()})
        # every run is kept: written atomically at each validation and when the run ends or is stopped
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
        stamp = f"{engine.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.autosave_path = folder / "checkpoints" / f"{stamp}.pt"
        cfg = TrainConfig(
            steps=self.steps_box.value(), batch_size=self.batch_box.value(), lr=self.lr_box.value(),
            seed=self.seed_box.value(), eval_every=self.eval_box.value(), checkpoint=str(self.autosave_path),
            lr_schedule=self.sched_box.currentData(), logdir=str(folder / "runs" / stamp),
        )  # fmt: skip
        self.engine = engine
        return Trainer(engine, train, cfg, valid)

    def start(self) -> None:
        if self.is_running:
            return
        try:
            trainer = self._make_trainer()
        except (ResourceError, CheckpointError, ValueError, OSError) as e:  # ImageDataError is a ValueError
            self.error.emit(f"Training: {e}")
            return
        self.log_timer.stop()  # a followed log gives the plot back to this run
        self._reset_run_views()
        self.run_count += 1
        self.worker = Worker(trainer.run, name="train")
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(lambda msg: self.error.emit(f"Training stopped: {msg}"))
        self.worker.paused.connect(lambda _: self._set_running(True))
        self.worker.finished.connect(self._on_finished)
        self.worker.start()
        self._say(f"run {self.run_count}: {self.engine.name}, {self.engine.num_parameters():,} parameters")
        self.progress.setRange(0, trainer.config.steps)
        self._set_running(True)
        self.status.emit("Training started")

    # -- runs elsewhere and their logs -------------------------------------------------------------------
    def run_spec(self):
        """The panel's configuration as a command-line run (for torchrun and Slurm)."""
        from engines.launch import RunSpec

        name = self.model_box.currentData()
        stamp = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        init = self.init_box.currentData()
        dataset = self.data_box.currentData()
        return RunSpec(
            name=name, preset=self.preset_box.currentData(), dataset=None if dataset in (None, "__open__", "__folder__")
            else dataset, steps=self.steps_box.value(), batch_size=self.batch_box.value(), lr=self.lr_box.value(),
            lr_schedule=self.sched_box.currentData(), seed=self.seed_box.value(), eval_every=self.eval_box.value(),
            init=str(resource_path(init)) if init else None, out=f"runs/{stamp}/checkpoint.pt", logdir=f"runs/{stamp}",
            options=self.option_values(),
        )  # fmt: skip

    def show_run_elsewhere(self):
        from app.run_elsewhere import RunElsewhereDialog

        try:
            spec = self.run_spec()
        except (ResourceError, ValueError) as e:
            self.error.emit(f"Training: {e}")
            return None
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
        self.elsewhere = RunElsewhereDialog(spec, local_root=folder, parent=self)
        self.elsewhere.launched.connect(self.follow_log)
        self.elsewhere.finished_run.connect(lambda code: self._stop_following(code))
        self.elsewhere.show()
        return self.elsewhere

    def _ask_open_log(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self, "Open a run's log folder (TensorBoard event files)")
        if path and self.open_log(path):
            self.follow_log(path)  # a running run's curves keep growing

    def open_log(self, logdir: str) -> bool:
        """Plot a run's TensorBoard scalars (train/* as curves, valid/<selection metric> as points)."""
        from engines.launch import read_scalars

        try:
            series = read_scalars(logdir)
        except (OSError, ValueError) as e:
            self.error.emit(f"Could not open the run log: {e}")
            return False
        self.history = {t.removeprefix("train/"): pts for t, pts in series.items() if t.startswith("train/")}
        name = Path(logdir).name.split("-")[0]
        if name in ENGINES:  # the run's engine: its plotted terms and validation metric
            cls = ENGINES[name]
            self.valid_history = series.get(f"valid/{cls.selection_metric}", [])
            self.loss_plot.setTitle(f"Run log {Path(logdir).name} ({cls.loss_unit})")
            terms = cls.plot_terms
        else:
            self.valid_history = []
            self.loss_plot.setTitle(f"Run log {Path(logdir).name}")
            terms = None
        self._clear_curves()
        self.valid_curve.setData([], [])
        self._draw_history(terms)
        steps = max((p[-1][0] for p in self.history.values() if p), default=0)
        self.progress.setFormat(f"log: step {steps}")
        return True

    def follow_log(self, logdir: str) -> None:
        """Plot a running run's log, re-read every 2 s until it ends."""
        self.followed_log = logdir
        self.log_timer.start(2000)
        self._say(f"following {logdir}")

    def _reload_log(self) -> None:
        if self.followed_log and Path(self.followed_log).is_dir():
            try:
                self.open_log(self.followed_log)
            except Exception:  # a log being written can be read half-way: try again on the next tick
                pass

    def _stop_following(self, code: int) -> None:
        self._reload_log()
        self.log_timer.stop()
        self._say(f"run elsewhere finished (exit code {code})")

    def _reset_run_views(self) -> None:
        """Forget the previous run's points and curves (the title names the new run's engine's unit)."""
        self.history, self.valid_history, self.last_vector = {}, [], []
        self._clear_curves()
        for curve in self.sched_curves.values():
            self.sched_plot.removeItem(curve)
        self.sched_curves = {}
        self.loss_plot.setTitle(f"Training loss terms ({self.engine.loss_unit})" if self.engine else "Training loss")
        if self.engine is not None:
            self.valid_curve.opts["name"] = f"validation {self.engine.selection_metric}"

    def _plot_of(self, key: str) -> pg.PlotWidget:
        return self.kl_plot if is_kl_term(key) else self.loss_plot

    def _clear_curves(self) -> None:
        for key, curve in self.curves.items():
            self._plot_of(key).removeItem(curve)
        self.curves = {}

    def _curve(self, key: str) -> pg.PlotDataItem:
        if key not in self.curves:
            color = CURVE_COLORS.get(key) or OTHER_COLORS[len(self.curves) % len(OTHER_COLORS)]
            plot = self._plot_of(key)
            style = Qt.PenStyle.DashLine if key == "loss" else Qt.PenStyle.SolidLine  # loss ≈ recon: dashes show both
            self.curves[key] = plot.plot([], [], pen=pg.mkPen(color, width=2, style=style), name=key)
            self.curves[key].setZValue(5 if key == "loss" else 0)
        return self.curves[key]

    def state(self) -> dict[str, Any]:
        return {"model": self.model_box.currentData(), "options": self.option_values()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Pick the model (and its options), then run the tiny demo (``main.py --tab training --state``)."""
        self.configure(model=state.get("model", self.model_box.currentData()))
        self.run_demo_blocking(options=state.get("options") or {})

    def run_demo_blocking(self, steps: int = 60, options: dict[str, Any] | None = None) -> None:
        """Train the tiny preset for a few steps on the calling thread (for screenshots)."""
        batch = 32 if ENGINES[self.model_box.currentData()].default_batch_size >= 32 else 4
        self.configure(preset="tiny", init=None, steps=steps, batch=batch, eval_every=20, options=options or {})
        trainer = self._make_trainer()
        self._reset_run_views()
        self.progress.setRange(0, steps)
        for ev in trainer.run():
            self._on_event(ev)
        self._dirty = True
        self._redraw()
        self._set_running(False)

    def toggle_pause(self) -> None:
        if not self.worker:
            return
        if self.worker.is_paused:
            self.worker.resume()
            self._say("resumed")
        else:
            self.worker.pause()
            self._say("paused")

    def stop(self) -> None:
        if self.worker:
            self.worker.cancel()
            self._say("stopped by user")

    def _on_event(self, ev: TrainEvent) -> None:
        self.last_event = ev
        if ev.kind == "step":
            for key, value in ev.metrics.items():
                if isinstance(value, float):
                    self.history.setdefault(key, []).append((ev.step, value))
                elif isinstance(value, list):
                    if not self.last_vector:  # first vector of this run: title it once
                        self.vec_plot.setTitle(self.engine.metric_labels.get(key, key))
                        self.vec_plot.setLabel("bottom", VECTOR_AXES.get(key, "position"))
                    self.last_vector = value
        else:
            main = ev.metrics.get(self.engine.selection_metric)
            if main is not None:
                self.valid_history.append((ev.step, main))
                self._say(f"step {ev.step}: validation {self.engine.selection_metric} {main:.2f}")
        self.progress.setValue(ev.step)
        self.progress.setFormat(f"step {ev.step} / {ev.total} · ETA {format_eta(ev.eta)}")
        unit = self.engine.item_unit if self.engine is not None else "items"
        self.rate_label.setText(f"{ev.items_per_s:,.0f} {unit}/s · {format_eta(ev.elapsed)} elapsed")
        self._dirty = True
        self.event_received.emit(ev)

    def _on_finished(self) -> None:
        worker = self.worker
        self._set_running(False)
        self._redraw()
        if worker is not None and worker.error is None and self.engine is not None and self.last_event is not None:
            label = f"trained in app, run {self.run_count} ({self.last_event.step} steps)"
            self.engine.meta["trained_steps"] = self.last_event.step
            try:
                if self.last_event.kind != "done":  # a finished run was written by the Trainer already
                    self.engine.save(self.autosave_path)
                self._say(f"finished: {label}; kept in {self.autosave_path}")
            except OSError as e:
                self.error.emit(f"Could not keep the trained weights in {self.autosave_path}: {e}")
            self.weights_ready.emit(self.engine.name, self.engine, label)
            self.status.emit(f"Training finished; the {self.engine.title} tab now uses the new weights")

    def save_checkpoint(self, path: str | Path) -> None:
        if self.engine is None:
            raise ValueError("nothing trained yet")
        self.engine.save(path)
        self._say(f"saved {path}")

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", f"{self.engine.name}.pt", "Checkpoints (*.pt)")
        if path:
            try:
                self.save_checkpoint(path)
            except (OSError, ValueError) as e:
                self.error.emit(f"Could not save: {e}")

    # -- plots --------------------------------------------------------------------------------------
    def _draw_history(self, terms: tuple[str, ...] | None, skip: tuple[str, ...] = ()) -> None:
        """The loss curves of ``self.history`` (those in ``terms``; all when None) and the validation points."""
        for key, pts in self.history.items():
            if pts and key not in skip and (terms is None or key in terms):
                xs, ys = zip(*pts)
                ys = smoothed(np.array(ys)) if self.smooth_check.isChecked() else np.array(ys)
                self._curve(key).setData(np.array(xs), ys)
        if self.valid_history:
            xs, ys = zip(*self.valid_history)
            self.valid_curve.setData(np.array(xs), np.array(ys))

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        terms = self.engine.plot_terms if self.engine is not None else None
        sched = self.engine.schedule_terms if self.engine is not None else ()
        for key in sched:
            pts = self.history.get(key)
            if pts:
                if key not in self.sched_curves:
                    self.sched_curves[key] = self.sched_plot.plot(
                        [], [], pen=pg.mkPen(okabe_rgb("reddish purple"), width=2.5), name=f"{key} (this run)"
                    )
                xs, ys = zip(*pts)
                self.sched_curves[key].setData(np.array(xs), np.array(ys))
        self._draw_history(terms, skip=sched)
        if self.last_vector:
            self.vec_bars.setOpts(x=np.arange(1, len(self.last_vector) + 1), height=np.array(self.last_vector))
