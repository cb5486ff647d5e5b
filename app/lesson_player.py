"""Showing a lesson in the main window (issue 9, in progress): slides applied through each tab's
``set_state``, slides made from the current view, clicker keys, and slides exported as PNG at 2x."""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QWidget

from app.lesson import Lesson, LessonError, Slide, sha256_bytes, shipped_sha256


def render_2x(widget: QWidget, scale: float = 2.0) -> QImage:
    """The widget painted at ``scale`` times its size (device pixels), for slides and handouts."""
    img = QImage(widget.size() * scale, QImage.Format.Format_RGB32)
    img.setDevicePixelRatio(scale)
    img.fill(QColor("white"))
    widget.render(img)  # painted in logical pixels onto a device with twice as many: crisp text and lines
    return img


class LessonPlayer(QObject):
    """Holds the open lesson and which slide shows; the main window forwards clicker keys here."""

    slide_changed = Signal(int)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.lesson: Lesson | None = None
        self.index = -1
        self._loaded: dict[str, str] = {}  # embedded checkpoint sha256 -> the tab's model key

    # -- building -----------------------------------------------------------------------------------
    def slide_from_view(self, title: str = "", notes: str = "") -> Slide:
        """The current tab's view as a slide; a model the user trained is embedded in the lesson."""
        tab = self.window.current_model_tab()
        if tab is None:
            raise LessonError("only a model tab can become a slide")
        state = tab.state()
        model = str(state.get("model", ""))
        sha = shipped_sha256(model)
        if not sha and model:  # a model trained or loaded in this session: embed its checkpoint
            if self.lesson is None:
                self.lesson = Lesson("Untitled lesson")
            engine = tab.engine(model)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.pt"
                engine.save(path)
                data = path.read_bytes()
            sha = sha256_bytes(data)
            self.lesson.checkpoints[sha] = data
            self._loaded[sha] = model
        return Slide(tab.engine_name, state, title=title or tab.title, notes=notes,
                     about=tab.about.isVisible(), model_sha256=sha)  # fmt: skip

    # -- showing ------------------------------------------------------------------------------------
    def open(self, lesson: Lesson) -> None:
        self.lesson, self.index, self._loaded = lesson, -1, {}
        if lesson.slides:
            self.show(0)

    def show(self, i: int) -> bool:
        """Show slide ``i``; False (and a status message) when the slide has a problem."""
        if self.lesson is None or not 0 <= i < len(self.lesson.slides):
            return False
        self.index = i
        slide = self.lesson.slides[i]
        self.slide_changed.emit(i)
        if slide.problem:
            self.window.show_status(f"Slide {i + 1} cannot be shown: {slide.problem}")
            return False
        self.window.select_tab(slide.tab)
        tab = self.window.model_tabs[slide.tab]
        state = dict(slide.state)
        if slide.model_sha256 in self.lesson.checkpoints:
            state["model"] = self._embedded(tab, slide.model_sha256)
        tab.about.setVisible(slide.about)
        tab.set_state({**tab.state(), **state})
        return True

    def _embedded(self, tab, sha: str) -> str:
        """Load an embedded checkpoint into the tab once; its key in the tab's model list."""
        key = self._loaded.get(sha)
        if key is None or tab.model_box.findData(key) < 0:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"lesson-{sha[:12]}.pt"
                path.write_bytes(self.lesson.checkpoints[sha])
                engine = tab.engine_class.from_checkpoint(path, device=tab.engine_device)
            label = f"lesson model {sha[:8]}"
            tab.use_engine(engine, label)
            key = f"session:{label}"
            self._loaded[sha] = key
        return key

    def next(self) -> bool:
        """Clicker forward: the tab's own process first (DRAW's glimpses, ...), then the next slide."""
        if self.lesson is None:
            return False
        tab = self.window.current_model_tab()
        if tab is not None and tab.step_forward() is True:
            return True
        return self.show(self.index + 1) if self.index + 1 < len(self.lesson.slides) else False

    def previous(self) -> bool:
        if self.lesson is None:
            return False
        tab = self.window.current_model_tab()
        if tab is not None and tab.step_back() is True:
            return True
        return self.show(self.index - 1) if self.index > 0 else False

    # -- exporting ----------------------------------------------------------------------------------
    def export_slides(self, folder: str | Path, scale: float = 2.0) -> list[Path]:
        """One PNG per slide (``slide-01.png``, ...) at ``scale`` times the window's size. Slides that
        cannot be shown are skipped and named in the returned list's absence (see ``problems``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i in range(len(self.lesson.slides) if self.lesson else 0):
            if not self.show(i):
                continue
            from PySide6.QtWidgets import QApplication

            QApplication.processEvents()
            tab = self.window.current_model_tab()
            if tab is not None:
                tab.cancel_job()  # the slide's state is on screen; a refresh must not repaint it mid-render
            self.window.statusBar().clearMessage()  # transient messages depend on timing: not part of a slide
            path = folder / f"slide-{i + 1:02d}.png"
            if not render_2x(self.window, scale).save(str(path)):
                raise OSError(f"could not write {path}")
            out.append(path)
        return out

    def problems(self) -> list[str]:
        return [f"slide {i + 1}: {s.problem}" for i, s in enumerate(self.lesson.slides if self.lesson else [])
                if s.problem]  # fmt: skip


__all__ = ["LessonPlayer", "render_2x"]
