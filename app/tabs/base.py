"""What every model tab shares: an About panel, presentation mode, stepping keys, error reporting,
one current job at a time (a newer request cancels the older one and its late results are dropped).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.presentation import CAPTION_FACTOR, SLIDE_RATIO, TITLE_FACTOR, AspectFrame, sized_font, stage_label
from app.tabs.state import Bind, parse_state, read_control, refusal, write_control
from app.widgets import add_and_select, ask_path_from_combo, tooltip_follows_text
from app.worker import Coalescer, Worker
from engines.checkpoint import CheckpointError
from engines.resources import resource_path


class ModelTab(QWidget):
    """Also the model chooser every tab has: shipped checkpoints (``shipped_models``: resource name to
    label), "Load checkpoint…", and models handed over by the training panel, engines loaded lazily."""

    title = "Model"
    engine_name = ""
    engine_class: Any = None  # the Engine subclass this tab shows
    engine_device: str | None = None  # None: the best available
    error = Signal(str)  # shown by the main window (status bar + message)
    status = Signal(str)
    result_ready = Signal()  # one signal for every tab: a job's result is on screen

    def __init__(self, parent=None):
        super().__init__(parent)
        self._job: Worker | None = None
        self._job_id = 0
        self.redraws = Coalescer(self)  # views updated from worker results: at most once per display frame
        self.engines: dict[str, Any] = {}
        self.model_box = QComboBox()
        for key, label in self.shipped_models.items():
            self.model_box.addItem(label, key)
        self.model_box.addItem("Load checkpoint…", "__load__")
        self._model_key = next(iter(self.shipped_models), None)  # the last real choice, restored on cancel
        self.model_box.activated.connect(self._on_model_chosen)
        tooltip_follows_text(self.model_box)  # long model names elide in narrow windows
        self.presenting = False
        # the page: a title and a caption (shown when presenting) around the body and the About panel; the
        # frame gives the page the full height and at most 16:9 of width when presenting (app/presentation.py)
        self.page = QWidget()
        self.title_label = stage_label("stage-title")
        self.caption_label = stage_label("stage-caption")
        self.slide_title = ""  # a lesson slide's title, shown instead of figure_title() while it is on screen
        self.side_by_side = False  # one of two views of a side-by-side slide: the frame then fills its half
        self._hidden_by_presenting: list[QWidget] = []
        self._about_before = True
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self.page)
        self.body = QWidget(self.splitter)
        self.about = QTextBrowser(self.splitter)
        self.about.setObjectName("about")
        self.about.setOpenExternalLinks(False)
        self._about_typeset = False  # the equations are typeset when the panel is first shown (about_text)
        self.about.setMinimumWidth(0)  # the splitter may collapse it: a narrow window keeps its figure (F1 hides it)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 380])
        page_lay = QVBoxLayout(self.page)
        page_lay.setContentsMargins(4, 4, 4, 4)
        page_lay.addWidget(self.title_label)
        page_lay.addWidget(self.splitter, 1)
        page_lay.addWidget(self.caption_label)
        self.frame = AspectFrame(self.page, self)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.frame)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self._stage_timer = QTimer(self)  # while presenting, the title and caption follow the state
        self._stage_timer.setInterval(200)
        self._stage_timer.timeout.connect(self.refresh_stage)

    @property
    def shipped_models(self) -> dict[str, str]:
        """The engine's shipped checkpoints this tab offers: resource name → label (the engine declares them)."""
        shipped = self.engine_class.shipped if self.engine_class is not None else {}
        return {name: s.label for name, s in shipped.items() if s.menu}

    # -- to override ----------------------------------------------------------------------------
    legend = ""  # what the tab's pictures show, appended to the model's About text

    def about_markdown(self) -> str:
        about = self.engine_class.about() if self.engine_class is not None else ""
        return about + (f"\n\n**In this tab.** {self.legend}" if self.legend else "")

    def typeset_about(self) -> int:
        """The About panel's Markdown with its ``$...$`` equations typeset (app/mathtext.py); how many."""
        from app.mathtext import MATH, set_markdown

        text = self.about_markdown()
        # outside the equations, "~" (as in z ~ N(0, I)) would be Markdown strikethrough: the tilde operator
        parts, last = [], 0
        for m in MATH.finditer(text):
            parts += [text[last : m.start()].replace("~", "∼"), m.group(0)]
            last = m.end()
        self._about_typeset = True
        return set_markdown(self.about.document(), "".join(parts) + text[last:].replace("~", "∼"), self.about.font())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._about_typeset:
            self.typeset_about()

    def ask_save(self, caption: str, name: str, filters: str, save) -> None:
        """Ask where to save, call ``save(path)``; report success in the status bar (``save`` may return
        the message) and a failure (OSError, ValueError) as an error message."""
        path, _ = QFileDialog.getSaveFileName(self, caption, name, filters)
        if not path:
            return
        try:
            said = save(path)
        except (OSError, ValueError) as e:
            self.error.emit(f"Could not save: {e}")
            return
        self.status.emit(said if isinstance(said, str) else f"Saved {path}")

    def controls_row(self) -> tuple[QHBoxLayout, QFormLayout]:
        """The body's main row with a "Controls" box (``self.controls``) at its left; returns the row
        (add the views to it) and the box's form."""
        row = QHBoxLayout()
        self.body_layout.addLayout(row, 1)
        self.controls = QGroupBox("Controls")
        self.controls.setMaximumWidth(330)
        row.addWidget(self.controls)
        return row, QFormLayout(self.controls)

    def step_forward(self) -> bool:
        """One step on through the tab's recorded process (DRAW's glimpses, α in Search). True when the view
        moved; False at the end or where there is no such process (a lesson then goes to the next slide)."""
        return False

    def step_back(self) -> bool:
        """One step back through what was recorded (instant: nothing is recomputed). False at the start."""
        return False

    def play_pause(self) -> None: ...
    def reset(self) -> None:
        """Back to the first step of the recorded process (where there is one)."""

    def export_view(self) -> QWidget:
        """The widget a picture or animation of this tab shows: the tab without its About panel."""
        return self.body

    def export_picture(self, path: str | Path) -> None:
        """The view as PNG at 2x (File → Export picture)."""
        from app.exports import render_2x

        if not render_2x(self.export_view()).save(str(path)):
            raise OSError(f"could not write {path}")

    def export_animation(self, path: str | Path) -> str:
        """The recorded process, step by step, as GIF or MP4 (by suffix); says what was written."""
        from app.exports import record_process, write_animation

        n = write_animation(path, record_process(self))
        return f"Saved {n} frames to {path}"

    def ask_export_png(self) -> None:
        self.ask_save("Export picture", f"{self.engine_name}.png", "PNG (*.png)", self.export_picture)

    def ask_export_gif(self) -> None:
        self.ask_save("Export animation", f"{self.engine_name}.gif", "Animations (*.gif *.mp4)", self.export_animation)

    def run_demo_blocking(self) -> None:
        """Run the tab's demo to completion on the calling thread (for screenshots)."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # a narrow window gives the figure the room: an About panel squeezed under 200 px folds away (drag it
        # back open, or F1)
        sizes = self.splitter.sizes()
        if not self.presenting and len(sizes) == 2 and 0 < sizes[1] < 200 and self.width() < 1300:
            self.splitter.setSizes([sum(sizes), 0])

    # -- the figure and the presentation view -------------------------------------------------------
    def figure_title(self) -> str:
        """The presentation view's title when no lesson slide names one: what the figure shows."""
        return self.title

    def caption(self) -> str:
        """One line under the figure that follows the state ("DRAW with attention · glimpse 13 of 32 · seed 0");
        nothing volatile (speeds, clocks): two exports of the same state are the same picture."""
        return ""

    def presentation_hidden(self) -> list[QWidget]:
        """Widgets the presentation view hides (beside the About panel): the controls, transport rows,
        status lines. Default: the Controls box."""
        controls = getattr(self, "controls", None)
        return [controls] if controls is not None else []

    def refresh_stage(self) -> None:
        """Put the current title and caption on the presentation view."""
        title = self.slide_title or self.figure_title()
        if self.title_label.text() != title:
            self.title_label.setText(title)
        caption = self.caption()
        if self.caption_label.text() != caption:
            self.caption_label.setText(caption)
        self.caption_label.setVisible(self.presenting and bool(caption))

    def set_presentation(self, on: bool) -> None:
        """The presentation view (F5): title, the figure in a frame of at most 16:9, caption; controls and About hidden.
        The main window sets the body type (QApplication's font) before calling this, and calls it again,
        still on, when the type changes (subclasses then resize their figures' fonts)."""
        from PySide6.QtWidgets import QApplication

        if on and not self.presenting:
            self._about_before = not self.about.isHidden()
            self._hidden_by_presenting = [w for w in self.presentation_hidden() if not w.isHidden()]
            for w in self._hidden_by_presenting:
                w.hide()
        elif not on and self.presenting:
            for w in self._hidden_by_presenting:
                w.show()
            self._hidden_by_presenting = []
            self.about.setVisible(self._about_before)
        self.presenting = on
        if on:
            self.about.hide()
        body = QApplication.font()
        self.title_label.setFont(sized_font(body, body.pointSizeF() * TITLE_FACTOR, bold=True))
        self.caption_label.setFont(sized_font(body, body.pointSizeF() * CAPTION_FACTOR))
        self.title_label.setVisible(on)
        self.frame.set_ratio(SLIDE_RATIO if on and not self.side_by_side else None)
        self.refresh_stage()
        self._stage_timer.start() if on else self._stage_timer.stop()

    def on_model_changed(self) -> None:
        """The chosen model changed (shipped, loaded or handed over): redraw, regenerate, ..."""

    # -- models -----------------------------------------------------------------------------------
    def engine(self, key: str | None = None) -> Any:
        key = key or self.model_box.currentData()
        if key not in self.engines:
            self.engines[key] = self.engine_class.from_checkpoint(resource_path(key), device=self.engine_device)
        return self.engines[key]

    def use_engine(self, engine: Any, label: str) -> None:
        """Show a model trained or loaded elsewhere (e.g. by the training panel)."""
        key = f"session:{label}"
        self.engines[key] = engine
        add_and_select(self.model_box, label, key)
        self._model_key = key
        self.status.emit(f"{self.title} tab now uses '{label}'")
        self.on_model_changed()

    def _on_model_chosen(self, _index: int) -> None:
        if self.model_box.currentData() == "__load__":
            caption = f"Load a {self.title} checkpoint"
            path = ask_path_from_combo(
                self.model_box, self._model_key, self, caption, "Checkpoints (*.pt);;All files (*)"
            )
            if path:
                self.load_checkpoint(path)
            return
        self._model_key = self.model_box.currentData()
        self.on_model_changed()

    def ask_load_checkpoint(self) -> None:
        self.model_box.setCurrentIndex(self.model_box.findData("__load__"))
        self._on_model_chosen(self.model_box.currentIndex())

    def load_checkpoint(self, path: str) -> bool:
        """Load a checkpoint file; a bad one is refused with a message and the current model stays."""
        try:
            engine = self.engine_class.from_checkpoint(path, device=self.engine_device)
        except CheckpointError as e:
            self.error.emit(f"Could not load checkpoint: {e}")
            return False
        self.use_engine(engine, Path(path).name)
        return True

    # -- state: a dataclass bound to the controls by one table (app/tabs/state.py) ----------------------
    state_class: Any = None  # the tab's state dataclass; the tab keeps an instance in ``self.st``
    state_table: tuple[Bind, ...] = ()  # which control shows which field

    def read_state(self) -> Any:
        """``self.st`` with the bound fields read from their controls (and :meth:`read_more_state`'s)."""
        for b in self.state_table:
            setattr(self.st, b.field, read_control(getattr(self, b.control), b))
        self.read_more_state()
        return self.st

    def read_more_state(self) -> None:
        """Fields no control holds (the glimpse on screen, the sets in a list): read into ``self.st``."""

    def state(self) -> dict[str, Any]:
        """Everything that decides what the tab shows, as plain data (lessons, exports, tests)."""
        return dataclasses.asdict(self.read_state()) if self.state_class is not None else {}

    def set_state(self, state: dict[str, Any], run: bool = True) -> None:
        """Show what ``state`` (from :meth:`state`) describes: the same state gives the same pixels. The whole
        state is checked first (types, each control's choices and range, the tab's :meth:`check_state`); a bad
        one raises ValueError with one line and changes nothing. ``run=False`` sets the controls only."""
        st = parse_state(self.state_class, state, self.title)
        checked = self.check_state(st)
        for b in self.state_table:
            why = refusal(getattr(self, b.control), b, getattr(st, b.field))
            if why:
                raise ValueError(f"{self.title}: {why} in the saved state")
        for b in self.state_table:
            write_control(getattr(self, b.control), b, getattr(st, b.field))
        self.st = st
        if any(b.field == "model" for b in self.state_table):
            self._model_key = st.model
        self.apply_state(checked, run)

    def check_state(self, st: Any) -> Any:
        """The tab's own checks of a parsed state (raise ValueError); what it returns goes to :meth:`apply_state`.
        It may add a choice the state names (a WAV file), never change what is shown."""

    def apply_state(self, checked: Any, run: bool) -> None:
        """After the controls show the new ``self.st``: the views that follow them (and the run, if ``run``)."""

    # -- jobs -------------------------------------------------------------------------------------
    def start_job(self, func, *args, on_yield=None, on_return=None, on_finished=None, name: str = "",
                  **kwargs) -> Worker:  # fmt: skip
        """Run ``func(*args, **kwargs)`` on a worker; cancel any job still running. Every signal of a superseded
        job is dropped, ``finished`` too (ndv's generation-counter habit): a cancelled run's late end cannot
        touch the run that replaced it."""
        self.cancel_job()
        self._job_id += 1
        job_id = self._job_id
        job = Worker(func, *args, name=name, **kwargs)
        # what the job's results asked to redraw is drawn before its return is handled (connected first)
        job.returned.connect(lambda _: job_id == self._job_id and self.redraws.flush())
        if on_yield:
            job.yielded.connect(lambda v: job_id == self._job_id and on_yield(v))
        if on_return:
            job.returned.connect(lambda v: job_id == self._job_id and on_return(v))
        job.errored.connect(lambda msg: job_id == self._job_id and self.error.emit(f"{self.title}: {msg}"))
        if on_finished:
            job.finished.connect(lambda: job_id == self._job_id and on_finished())
        self._job = job
        job.start()
        return job

    def redraw_soon(self, fn) -> None:
        """Run ``fn`` (a view update) at the next display frame, once however often it is asked for."""
        self.redraws.request(fn)

    def shutdown(self) -> None:
        """The window is closing: stop everything this tab runs."""
        self.cancel_job()

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self._job_id += 1

    @property
    def busy(self) -> bool:
        return self._job is not None and self._job.is_running
