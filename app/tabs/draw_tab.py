"""The DRAW tab: a grid of images drawn glimpse by glimpse, with the read (sky blue) and write (vermillion)
boxes in the paper's style, an optional trail of the write box's centre, KL or ink per glimpse, playback
controls and export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.canvas import READ_COLOR, READ_NAME, WRITE_COLOR, WRITE_NAME, ImageGrid
from app.imageio import load_image_folder
from app.presentation import OKABE_ITO
from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import add_and_select, ask_path_from_combo, scale_plot_fonts
from engines.checkpoint import CheckpointError
from engines.data.images import ImageDataError, ImageSplit, images_from_idx, load_dataset
from engines.draw import DrawEngine, DrawFrame
from engines.draw.engine import box_centres
from engines.resources import ResourceError

DATASETS = {"mnist": "MNIST test digits", "fashion": "Fashion-MNIST test images"}


@dataclass
class DrawTabState:
    """Everything that decides what the tab shows (the same state gives the same pixels)."""

    mode: str = "sample"  # "sample" from the prior, or "reconstruct" test images
    model: str = "draw-attention"
    seed: int = 0
    temperature: float = 1.0
    count: int = 16
    dataset: str = "mnist"
    first_image: int = 0
    speed: float = 8.0  # glimpses per second during playback
    show_boxes: bool = True
    trail: bool = False  # the write box's centre over the glimpses so far, as a dotted line
    step: int = -1  # the glimpse on screen (-1: the last)


class DrawTab(ModelTab):
    title = "DRAW"
    engine_name = "draw"
    engine_class = DrawEngine
    legend = (
        f"{WRITE_NAME.capitalize()} boxes: where each glimpse writes (eq. 29), clipped to their image; the dotted "
        f"line (optional) joins the write box's centres glimpse by glimpse. {READ_NAME.capitalize()} boxes: where "
        "it reads (eq. 27, reconstruction mode). Grey level: the canvas σ(c_t). The plot shows the KL of each "
        "glimpse's z_t (reconstruction) or how much ink each glimpse adds (sampling)."
    )
    frame_shown = Signal(int)  # the glimpse index now on screen
    state_class = DrawTabState
    state_table = (
        Bind("mode", "mode_box"), Bind("model", "model_box"), Bind("dataset", "data_box"), Bind("seed", "seed_box"),
        Bind("temperature", "temp_box"), Bind("count", "count_box"), Bind("speed", "speed_box"),
        Bind("show_boxes", "boxes_check"), Bind("trail", "trail_check"),
    )  # fmt: skip

    def __init__(self, parent=None):
        super().__init__(parent)
        self.st = DrawTabState()
        self.user_sets: dict[str, ImageSplit] = {}
        self.frames: list[DrawFrame] = []
        self.t = -1
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._build()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        row, form = self.controls_row()
        self.mode_box = QComboBox()
        self.mode_box.addItem("Sample from the prior", "sample")
        self.mode_box.addItem("Reconstruct test images", "reconstruct")
        self.data_box = QComboBox()
        for key, label in DATASETS.items():
            self.data_box.addItem(label, key)
        self.data_box.addItem("Open image folder…", "__folder__")
        self.data_box.addItem("Open IDX file…", "__open__")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.temp_box = QDoubleSpinBox()
        self.temp_box.setRange(0.05, 3.0)
        self.temp_box.setSingleStep(0.1)
        self.temp_box.setValue(1.0)
        self.count_box = QSpinBox()
        self.count_box.setRange(1, 64)
        self.count_box.setValue(16)
        self.speed_box = QDoubleSpinBox()
        self.speed_box.setRange(0.5, 60.0)
        self.speed_box.setValue(8.0)
        self.speed_box.setSuffix(" glimpses/s")
        self.boxes_check = QCheckBox("Show read/write boxes")
        self.boxes_check.setChecked(True)
        self.trail_check = QCheckBox("Trail of the write box")
        self.new_seed_btn = QPushButton("New seed")
        self.next_images_btn = QPushButton("Next test images")
        form.addRow("Mode", self.mode_box)
        form.addRow("Model", self.model_box)
        form.addRow("Images", self.data_box)
        form.addRow("Seed", self.seed_box)
        form.addRow("", self.new_seed_btn)
        form.addRow("Temperature", self.temp_box)
        form.addRow("How many", self.count_box)
        form.addRow("Speed", self.speed_box)
        form.addRow(self.boxes_check)
        form.addRow(self.trail_check)
        form.addRow(self.next_images_btn)
        self.export_png_btn = QPushButton("Export grid (PNG)…")
        self.export_gif_btn = QPushButton("Export animation (GIF/MP4)…")
        form.addRow(self.export_png_btn)
        form.addRow(self.export_gif_btn)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        form.addRow(self.model_info)

        grids = QVBoxLayout()
        pair = QHBoxLayout()
        self.input_grid = ImageGrid(f"Input: where it reads ({READ_NAME})")
        self.canvas_grid = ImageGrid(f"Canvas: where it writes ({WRITE_NAME})")
        pair.addWidget(self.input_grid, 1)
        pair.addWidget(self.canvas_grid, 1)
        grids.addLayout(pair, 4)
        self.plot = pg.PlotWidget()
        self.plot.setMaximumHeight(170)
        self.plot.setMouseEnabled(False, False)
        self.plot.setLabel("bottom", "glimpse t")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=OKABE_ITO["blue"])
        self.bar_now = pg.BarGraphItem(x=[], height=[], width=0.8, brush=OKABE_ITO["vermillion"])
        self.plot.addItem(self.bars)
        self.plot.addItem(self.bar_now)
        grids.addWidget(self.plot, 1)
        row.addLayout(grids, 1)

        transport = QHBoxLayout()
        self.generate_btn = QPushButton("Generate")
        self.back_btn = QPushButton("◀ Back")
        self.play_btn = QPushButton("▶ Play")
        self.step_btn = QPushButton("Step ▶")
        self.reset_btn = QPushButton("Reset")
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setRange(0, 0)
        self.step_label = QLabel("Glimpse – / –")
        self.step_label.setMinimumWidth(130)
        for w in (self.generate_btn, self.back_btn, self.play_btn, self.step_btn, self.reset_btn):
            transport.addWidget(w)
        transport.addWidget(self.scrubber, 1)
        transport.addWidget(self.step_label)
        self.body_layout.addLayout(transport)

        self.mode_box.currentIndexChanged.connect(self._on_params)
        self.data_box.activated.connect(self._on_data_chosen)
        self.seed_box.valueChanged.connect(self._on_params)
        self.temp_box.valueChanged.connect(self._on_params)
        self.count_box.valueChanged.connect(self._on_params)
        self.speed_box.valueChanged.connect(self._on_speed)
        self.boxes_check.toggled.connect(lambda _: self._show(self.t))
        self.trail_check.toggled.connect(lambda _: self._show(self.t))
        self.new_seed_btn.clicked.connect(lambda: self.seed_box.setValue(int(np.random.randint(0, 2**31 - 1))))
        self.next_images_btn.clicked.connect(self._next_images)
        self.generate_btn.clicked.connect(self.generate)
        self.back_btn.clicked.connect(self.step_back)
        self.play_btn.clicked.connect(self.play_pause)
        self.step_btn.clicked.connect(self.step_forward)
        self.reset_btn.clicked.connect(self.reset)
        self.scrubber.sliderMoved.connect(self._on_scrub)
        self.export_png_btn.clicked.connect(self.ask_export_png)
        self.export_gif_btn.clicked.connect(self.ask_export_gif)
        self._sync_mode_widgets()

    # -- state (read and applied by ModelTab through state_table) ------------------------------------
    def read_more_state(self) -> None:
        self.st.step = self.t

    def apply_state(self, _checked, run: bool) -> None:
        self._sync_mode_widgets()
        if run:
            step = self.st.step  # (the run reads the controls into self.st again)
            self.run_demo_blocking()
            self._show(len(self.frames) - 1 if step < 0 else min(step, len(self.frames) - 1))

    def _sync_mode_widgets(self) -> None:
        recon = self.mode_box.currentData() == "reconstruct"
        self.input_grid.setVisible(recon)
        self.temp_box.setEnabled(not recon)
        self.data_box.setEnabled(recon)
        self.next_images_btn.setEnabled(recon)
        self.plot.setLabel("left", "KL (nats)" if recon else "ink added")

    # -- models and data ------------------------------------------------------------------------------
    def on_model_changed(self) -> None:
        self._on_params()

    def _on_data_chosen(self, _index: int) -> None:
        if self.data_box.currentData() == "__folder__":
            folder = ask_path_from_combo(self.data_box, self.st.dataset, self, "Open a folder of images")
            if folder:
                self.open_image_folder(folder)
            return
        if self.data_box.currentData() == "__open__":
            filters = "IDX (*ubyte* *.idx *.gz);;All files (*)"
            path = ask_path_from_combo(self.data_box, self.st.dataset, self, "Open an MNIST-format IDX file", filters)
            if path:
                self.open_idx(path)
            return
        self._on_params()

    def open_idx(self, path: str) -> bool:
        try:
            ds = images_from_idx(path)
        except ImageDataError as e:
            self.error.emit(f"Could not open images: {e}")
            return False
        key = f"file:{path}"
        self.user_sets[key] = ds.test
        add_and_select(self.data_box, Path(path).name, key)
        self._on_params()
        return True

    def open_image_folder(self, folder: str) -> bool:
        """Reconstruct the user's own pictures; unreadable files are named and skipped."""
        try:
            images, skipped = load_image_folder(folder)
        except ValueError as e:
            self.error.emit(f"Could not open images: {e}")
            return False
        key = f"folder:{folder}"
        self.user_sets[key] = ImageSplit(images, np.zeros(len(images), np.int64))
        add_and_select(self.data_box, f"{Path(folder).name}/ ({len(images)} images)", key)
        if skipped:
            self.error.emit(f"Skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped)}")
        self.mode_box.setCurrentIndex(self.mode_box.findData("reconstruct"))
        self._on_params()
        return True

    def test_images(self) -> np.ndarray:
        key = self.st.dataset
        split = self.user_sets[key] if key in self.user_sets else load_dataset(key).test
        order = np.random.default_rng(0).permutation(len(split))  # fixed: shipped splits are sorted by class
        return split.images[order[(self.st.first_image + np.arange(self.st.count)) % len(split)]]

    def _next_images(self) -> None:
        self.st.first_image += self.count_box.value()
        self.generate()

    def _on_params(self, *_):
        self._sync_mode_widgets()
        self.generate()

    def _on_speed(self, value: float) -> None:
        self.st.speed = value
        if self.timer.isActive():
            self.timer.start(int(1000 / value))

    # -- running ------------------------------------------------------------------------------------
    def _make_run(self):
        self.read_state()
        eng = self.engine()
        if self.st.mode == "reconstruct":
            return eng.reconstruct, (self.test_images(),), {"seed": self.st.seed}
        return eng.sample, (), {"n": self.st.count, "seed": self.st.seed, "temperature": self.st.temperature}

    def generate(self, autoplay: bool = True) -> None:
        """Start a new run with the current settings; frames are recorded as they arrive."""
        try:
            func, args, kwargs = self._make_run()
        except (ResourceError, CheckpointError, ImageDataError) as e:
            self.error.emit(f"DRAW: {e}")
            return
        self.frames = []
        self.t = -1
        total = self.engine().config.glimpses
        self.scrubber.setRange(0, total - 1)
        self._update_info()
        self.start_job(
            func, *args, on_yield=self._on_frame, on_return=lambda _: self.result_ready.emit(), name="draw", **kwargs
        )
        self._play() if autoplay else self._pause()

    def _on_frame(self, frame: DrawFrame) -> None:
        self.frames.append(frame)
        if self.t < 0:  # the first frame shows at once: with frames there is always a glimpse on screen
            self._show(0)
        self.redraw_soon(self._update_plot)  # the bars grow at the display rate, not once per frame

    def run_demo_blocking(self) -> None:
        self.cancel_job()
        func, args, kwargs = self._make_run()
        self.frames = list(func(*args, **kwargs))
        self.scrubber.setRange(0, len(self.frames) - 1)
        self._pause()
        self._update_info()
        self._update_plot()
        self._show(len(self.frames) - 1)

    def _update_info(self) -> None:
        try:
            eng = self.engine()
        except (ResourceError, CheckpointError):
            return
        c = eng.config
        metrics = eng.meta.get("valid") or {}
        nll = f"valid NLL bound {metrics['nll']:.1f} nats · " if "nll" in metrics else ""
        attn = f"read {c.read_n}×{c.read_n}, write {c.write_n}×{c.write_n}" if c.attention else "no attention"
        if c.attention and c.write_max_px:
            attn += f" (box ≤ {c.write_max_px:g} px)"
        self.model_info.setText(
            f"T = {c.glimpses} glimpses · {attn} · LSTM {c.enc_size}/{c.dec_size} · z {c.z_size}\n"
            f"{nll}{eng.num_parameters():,} parameters"
        )

    # -- playback -------------------------------------------------------------------------------------
    def _play(self) -> None:
        if self.frames and self.t >= self.scrubber.maximum():
            self._show(0)
        self.timer.start(int(1000 / max(0.1, self.speed_box.value())))
        self.play_btn.setText("⏸ Pause")

    def _pause(self) -> None:
        self.timer.stop()
        self.play_btn.setText("▶ Play")

    def play_pause(self) -> None:
        self._pause() if self.timer.isActive() else self._play()

    def _tick(self) -> None:
        if self.t + 1 < len(self.frames):
            self._show(self.t + 1)
        elif not self.busy:  # at the end, or the run stopped early: nothing more will arrive
            self._pause()

    def step_forward(self) -> bool:
        self._pause()
        if self.t + 1 < len(self.frames):
            self._show(self.t + 1)
            return True
        return False

    def step_back(self) -> bool:
        self._pause()
        if self.t > 0:
            self._show(self.t - 1)
            return True
        return False

    def reset(self) -> None:
        self._pause()
        if self.frames:
            self._show(0)

    def _on_scrub(self, value: int) -> None:
        self._pause()
        self._show(min(value, len(self.frames) - 1))

    def _show(self, t: int) -> None:
        if not self.frames or t < 0:
            return
        self.t = t
        f = self.frames[t]
        show = self.boxes_check.isChecked()
        trail = None
        if show and self.trail_check.isChecked() and f.write_boxes is not None:
            boxes = np.stack([g.write_boxes for g in self.frames[: t + 1]], axis=1)  # (n, t + 1, 4)
            trail = box_centres(boxes)
        self.canvas_grid.set_content(f.canvas, [(f.write_boxes if show else None, WRITE_COLOR)],
                                     [(trail, WRITE_COLOR)])  # fmt: skip
        if f.target is not None:
            self.input_grid.set_content(f.target, [(f.read_boxes if show else None, READ_COLOR)])
        self.scrubber.setValue(t)
        self.step_label.setText(f"Glimpse {t + 1} / {f.total}")
        self._update_plot()
        self.frame_shown.emit(t)

    def _per_glimpse(self) -> np.ndarray:
        """The bars: mean KL of each glimpse's z_t (reconstruction) or mean ink it added (the engine's ``ink``)."""
        if not self.frames:
            return np.zeros(0)
        if self.frames[0].kl is not None:
            return np.array([f.kl.mean() for f in self.frames])
        return np.array([f.ink.mean() if f.ink is not None else 0.0 for f in self.frames])

    def _update_plot(self) -> None:
        h = self._per_glimpse()
        x = np.arange(1, len(h) + 1)
        self.bars.setOpts(x=x, height=h)
        if 0 <= self.t < len(h):
            self.bar_now.setOpts(x=[self.t + 1], height=[h[self.t]])
        total = self.scrubber.maximum() + 1
        self.plot.setXRange(0.3, total + 0.7, padding=0)

    # -- presentation and export ----------------------------------------------------------------------
    def figure_title(self) -> str:
        if self.mode_box.currentData() == "reconstruct":
            return "DRAW reads and redraws test images, glimpse by glimpse"
        return "DRAW draws from its prior, glimpse by glimpse"

    def caption(self) -> str:
        total = len(self.frames) if self.frames else self.scrubber.maximum() + 1
        parts = [self.model_box.currentText().replace(" (shipped)", ""), f"glimpse {self.t + 1} of {total}"]
        if self.mode_box.currentData() == "reconstruct":
            parts.append(self.data_box.currentText())
        else:
            parts.append(f"seed {self.seed_box.value()}")
            if self.temp_box.value() != 1.0:
                parts.append(f"temperature {self.temp_box.value():g}")
        return " · ".join(parts)

    def presentation_hidden(self) -> list[QWidget]:
        transport = (self.generate_btn, self.back_btn, self.play_btn, self.step_btn, self.reset_btn, self.scrubber,
                     self.step_label)  # fmt: skip
        return [*super().presentation_hidden(), *transport]

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        font = QApplication.font()
        scale_plot_fonts(self.plot, font)
        for grid in (self.input_grid, self.canvas_grid):
            grid.setFont(font)
        self.plot.setMaximumHeight(16777215 if on else 170)  # the bars: a fifth of the slide, not a strip
        # at least as tall as its vertical axis label at this size (it was cut: "ink addec")
        fm = QFontMetrics(font)
        need = fm.horizontalAdvance(self.plot.getAxis("left").labelText) + 3 * fm.height()
        self.plot.setMinimumHeight(max(int(self.height() * 0.2), need) if on else 0)

    def export_png(self, path: str | Path, size: int = 800) -> None:
        grid = self.canvas_grid
        if self.mode_box.currentData() == "reconstruct":
            img = grid.render_qimage(size, size)
            from PySide6.QtGui import QImage, QPainter

            both = QImage(2 * size, size, QImage.Format.Format_RGB32)
            p = QPainter(both)
            p.drawImage(0, 0, self.input_grid.render_qimage(size, size))
            p.drawImage(size, 0, img)
            p.end()
            img = both
        else:
            img = grid.render_qimage(size, size)
        if not img.save(str(path)):
            raise OSError(f"could not write {path}")

    def export_gif(self, path: str | Path, size: int = 448) -> int:
        """Every recorded glimpse as one frame of a GIF or MP4 (canvas grid with write boxes), the last held
        five frames more. Returns the glimpse count."""
        if not self.frames:
            raise ValueError("nothing to export yet: generate first")
        from app.exports import qimage_rgb, write_animation

        grid = ImageGrid()
        grid.setPalette(self.canvas_grid.palette())
        show = self.boxes_check.isChecked()
        frames = []
        for f in self.frames:
            grid.set_content(f.canvas, [(f.write_boxes if show else None, WRITE_COLOR)])
            frames.append(qimage_rgb(grid.render_qimage(size, size)))
        write_animation(path, frames, fps=max(0.5, self.speed_box.value()))
        return len(frames)

    def ask_export_png(self) -> None:
        self.ask_save("Export grid", "draw.png", "PNG (*.png)", self.export_png)

    def ask_export_gif(self) -> None:
        self.ask_save(
            "Export animation",
            "draw.gif",
            "Animations (*.gif *.mp4)",
            lambda p: f"Saved {self.export_gif(p)} glimpses to {p}",
        )

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self.frames and not self.busy:
            # not if the window closed meanwhile: a run started then would outlive its window's wait
            QTimer.singleShot(0, lambda: self.isVisible() and not self.frames and self.generate())


__all__ = ["DrawTab", "DrawTabState", "QWidget"]
