"""Showing a lesson in the main window: slides applied through each tab's ``set_state`` (a second view for
side-by-side slides), slides made from the current view, clicker keys, and the lesson's exports (slide PNGs
at 2x with their GIF/MP4/WAV, a PDF handout)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.exports import render_2x, write_handout
from app.lesson import INPUT_PREFIX, Lesson, LessonError, Slide, sha256_bytes, shipped_sha256, write_input


def _settle(tabs) -> None:
    """Freeze what the tabs show for a render: no job may repaint them mid-render (the slide's state is on
    screen), pending redraws and the title and caption drawn, and the layouts settled (a few passes: a plot
    places its axis labels after a resize)."""
    from PySide6.QtWidgets import QApplication

    for tab in tabs:
        tab.cancel_job()
        tab.redraws.flush()
        tab.refresh_stage()
    for _ in range(3):
        QApplication.sendPostedEvents()
        QApplication.processEvents()


class LessonPlayer(QObject):
    """Holds the open lesson and which slide shows; the main window forwards clicker keys here."""

    slide_changed = Signal(int)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.lesson: Lesson | None = None
        self.index = -1
        self._loaded: dict[tuple[int, str], str] = {}  # (tab id, embedded sha256) -> that tab's model key
        self.twins: dict[str, Any] = {}  # tab name -> a second instance of the tab, for side-by-side slides
        self.compare_dock = None  # the dock the second view shows in
        self._inputs_dir: tempfile.TemporaryDirectory | None = None  # embedded input files, written out once
        self._preview_tabs: dict[str, Any] = {}  # tab name -> a hidden instance that renders slide thumbnails
        self._previews: dict[str, Any] = {}  # a slide's content (JSON) -> its thumbnail (QImage)

    # -- building -----------------------------------------------------------------------------------
    def slide_from_view(self, title: str = "", notes: str = "") -> Slide:
        """The current tab's view as a slide; a model the user trained is embedded in the lesson."""
        tab = self.window.current_model_tab()
        if tab is None:
            raise LessonError("only a model tab can become a slide")
        if self.lesson is None:
            self.lesson = Lesson("Untitled lesson")
        state = tab.state()
        for key, value in state.items():  # a file the state names (a WAV clip) travels inside the lesson
            if isinstance(value, str) and 0 < len(value) < 4096 and Path(value).is_file():
                data = Path(value).read_bytes()
                name = f"{sha256_bytes(data)}/{Path(value).name}"
                self.lesson.inputs[name] = data
                state[key] = INPUT_PREFIX + name
        model = str(state.get("model", ""))
        sha = shipped_sha256(model)
        if not sha and model:  # a model trained or loaded in this session: embed its checkpoint
            engine = tab.engine(model)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.pt"
                engine.save(path)
                data = path.read_bytes()
            sha = sha256_bytes(data)
            self.lesson.checkpoints[sha] = data
            self._loaded[(id(tab), sha)] = model
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
        for other in [*self.window.model_tabs.values(), *self.twins.values()]:
            other.slide_title, other.side_by_side = "", False
        tab.slide_title, tab.side_by_side = slide.title or tab.figure_title(), bool(slide.compare)
        try:  # a state the tab refuses (a value of the wrong kind, a checkpoint that will not load) marks the slide
            self._apply(tab, slide.state, slide.model_sha256, slide.about and not slide.compare)
            if slide.compare:
                twin = self._twin(slide.tab)
                self._apply(twin, {**slide.state, **slide.compare}, slide.compare_sha256 or slide.model_sha256, False)
                self._show_twin(twin, self._difference(twin, slide.compare))
            elif self.compare_dock is not None:
                self.compare_dock.hide()
        except (ValueError, TypeError, KeyError, OSError) as e:
            slide.problem = str(e).splitlines()[0] if str(e) else type(e).__name__
            self.window.show_status(f"Slide {i + 1} cannot be shown: {slide.problem}")
            return False
        if tab.presenting:
            tab.set_presentation(True)  # the frame: at most 16:9, or half of a side-by-side slide
        return True

    @staticmethod
    def _difference(twin, compare: dict) -> str:
        """What the second view changes, in words ("Without attention (shipped)", "temperature 0.7")."""
        words = []
        for key, value in compare.items():
            if key == "model" and twin.model_box.findData(value) >= 0:
                words.append(twin.model_box.itemText(twin.model_box.findData(value)))
            else:
                words.append(f"{key.replace('_', ' ')} {value}")
        return ", ".join(words)

    def _apply(self, tab, state: dict, sha: str, about: bool) -> None:
        state = {k: self._input_path(v) if isinstance(v, str) and v.startswith(INPUT_PREFIX) else v
                 for k, v in state.items()}  # fmt: skip
        if sha in self.lesson.checkpoints:
            state["model"] = self._embedded(tab, sha)
        tab.about.setVisible(about and not tab.presenting)
        tab.set_state(state)  # over the tab's defaults, not its current view: a slide looks the same in any order

    def _input_path(self, value: str) -> str:
        """An embedded input written out once (under its own name) for the tab to open."""
        if self._inputs_dir is None:
            self._inputs_dir = tempfile.TemporaryDirectory(prefix="genplay-lesson-")
        return str(write_input(self.lesson, value[len(INPUT_PREFIX) :], self._inputs_dir.name))

    def _twin(self, name: str):
        """The second view of a side-by-side slide: another instance of the tab's class, made once."""
        if name not in self.twins:
            twin = type(self.window.model_tabs[name])()
            # its size hints never widen the window: the dock gets half of it (a hint taken while its controls
            # were still shown at presentation type pushed a slide to 4464 px)
            from PySide6.QtWidgets import QSizePolicy

            twin.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            twin.error.connect(self.window.show_error)
            twin.status.connect(self.window.show_status)
            self.twins[name] = twin
        return self.twins[name]

    def _show_twin(self, twin, differs: str) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QDockWidget, QWidget

        if self.compare_dock is None:
            self.compare_dock = QDockWidget("Side by side", self.window)
            self.compare_dock.setObjectName("compare-dock")
            self.compare_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.compare_dock)
        if self.compare_dock.widget() is not twin:
            self.compare_dock.setWidget(twin)
        twin.controls.hide()  # it follows the first view's steps; what differs is in the dock's title
        self.compare_dock.setWindowTitle(f"Side by side: {differs}")
        twin.slide_title, twin.side_by_side = f"Right: {differs}", True
        if self.window.presenting:
            self.compare_dock.setTitleBarWidget(QWidget())  # the slide names the difference itself
            twin.set_presentation(True)
        else:
            self.compare_dock.setTitleBarWidget(None)
        self.compare_dock.show()
        self.window.resizeDocks([self.compare_dock], [self.window.width() // 2], Qt.Orientation.Horizontal)

    @property
    def twin_shown(self):
        """The second view when the current slide is side by side, else None."""
        if self.compare_dock is None or not self.compare_dock.isVisible():
            return None
        return self.compare_dock.widget()

    def _embedded(self, tab, sha: str) -> str:
        """Load an embedded checkpoint into the tab once; its key in the tab's model list."""
        key = self._loaded.get((id(tab), sha))
        if key is None or tab.model_box.findData(key) < 0:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"lesson-{sha[:12]}.pt"
                path.write_bytes(self.lesson.checkpoints[sha])
                engine = tab.engine_class.from_checkpoint(path, device=tab.engine_device)
            label = f"lesson model {sha[:8]}"
            tab.use_engine(engine, label)
            key = f"session:{label}"
            self._loaded[(id(tab), sha)] = key
        return key

    def next(self) -> bool:
        """Clicker forward: the tab's own process first (DRAW's glimpses, ...), then the next slide."""
        return self._step(1)

    def previous(self) -> bool:
        return self._step(-1)

    def _step(self, direction: int) -> bool:
        """Both views of the slide take the step (lockstep); when neither can, the slide changes."""
        if self.lesson is None:
            return False
        moved = False
        for tab in (self.window.current_model_tab(), self.twin_shown):
            if tab is not None:
                moved = (tab.step_forward() if direction > 0 else tab.step_back()) is True or moved
        if moved:
            return True
        target = self.index + direction
        return self.show(target) if 0 <= target < len(self.lesson.slides) else False

    # -- the presenter's preview ---------------------------------------------------------------------
    def preview(self, i: int, width: int = 480):
        """Slide ``i``'s presentation view as a ``width``-pixel thumbnail (a QImage; None when the slide cannot
        be shown). Rendered on a hidden copy of its tab, so what the audience sees does not change; cached per
        slide content. For a side-by-side slide, its first view."""
        import json

        from PySide6.QtCore import Qt

        if self.lesson is None or not 0 <= i < len(self.lesson.slides):
            return None
        slide = self.lesson.slides[i]
        key = json.dumps([slide.tab, slide.title, slide.state, slide.model_sha256], sort_keys=True, default=str)
        if key in self._previews or slide.problem:
            return self._previews.get(key)
        tab = self._preview_tabs.get(slide.tab)
        if tab is None:
            tab = type(self.window.model_tabs[slide.tab])()
            tab.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
            self._preview_tabs[slide.tab] = tab
        shown = self.window.model_tabs[slide.tab]
        tab.resize(shown.size() if shown.width() > 100 else self.window.size())
        tab.slide_title = slide.title or tab.figure_title()
        try:
            self._apply(tab, slide.state, slide.model_sha256, False)
        except (ValueError, TypeError, KeyError, OSError):
            return None  # show() marks the slide when it comes to it
        tab.set_presentation(True)
        tab.show()
        _settle([tab])
        image = render_2x(tab.page, 1.0).scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        self._previews[key] = image
        return image

    # -- exporting ----------------------------------------------------------------------------------
    def _shown_image(self, i: int, scale: float):
        """Show slide ``i`` and render its presentation view (None when the slide cannot be shown): the
        tab's 16:9 frame, or for a side-by-side slide the window holding both views."""
        from PySide6.QtWidgets import QApplication

        if not self.show(i):
            return None
        QApplication.processEvents()
        views = [t for t in (self.window.current_model_tab(), self.twin_shown) if t is not None]
        _settle(views)
        self.window.statusBar().clearMessage()  # transient messages depend on timing: not part of a slide
        if self.twin_shown is not None:
            return render_2x(self.window, scale)
        return render_2x(views[0].page, scale)

    @contextmanager
    def _presenting_at(self, size: tuple[int, int] | None):
        """The window in presentation view at ``size`` (slides are that view), restored after."""
        from PySide6.QtWidgets import QApplication

        window = self.window
        was, old_size = window.presenting, window.size()
        if size is not None and (window.width(), window.height()) != tuple(size):
            window.resize(*size)
        window.set_presentation(True, full_screen=False)
        QApplication.processEvents()
        try:
            yield
        finally:
            if not was:
                window.set_presentation(False)
                window.resize(old_size)

    def export_slides(self, folder: str | Path, scale: float = 2.0, size: tuple[int, int] | None = (1920, 1080)):
        """One PNG per slide (``slide-01.png``, ...): the slide's presentation view (its title, the figure in a
        16:9 frame, the caption) at ``scale`` times ``size``, 3840 x 2160 by default; and the GIF, MP4 or WAV a
        slide asks for (``media``). Slides that cannot be shown are skipped (see ``problems``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        with self._presenting_at(size):
            for i, slide in enumerate(self.lesson.slides if self.lesson else []):
                img = self._shown_image(i, scale)
                if img is None:
                    continue
                path = folder / f"slide-{i + 1:02d}.png"
                if not img.save(str(path)):
                    raise OSError(f"could not write {path}")
                out.append(path)
                tab = self.window.current_model_tab()
                if slide.media in ("gif", "mp4"):
                    out.append(folder / f"slide-{i + 1:02d}.{slide.media}")
                    tab.export_animation(out[-1])
                elif slide.media == "wav" and hasattr(tab, "save_wav"):
                    out.append(folder / f"slide-{i + 1:02d}.wav")
                    tab.save_wav(out[-1])
        return out

    def export_handout(self, path: str | Path, scale: float = 1.0, size: tuple[int, int] | None = (1920, 1080)) -> int:
        """A landscape PDF with a page per slide: its title, its presentation view large, the presenter notes
        (Markdown, $...$ typeset with matplotlib's mathtext)."""
        with self._presenting_at(size):
            pages = [(s.title or f"Slide {i + 1}", self._shown_image(i, scale), s.notes)
                     for i, s in enumerate(self.lesson.slides)]  # fmt: skip
        return write_handout(path, self.lesson.title, pages)

    def problems(self) -> list[str]:
        return [f"slide {i + 1}: {s.problem}" for i, s in enumerate(self.lesson.slides if self.lesson else [])
                if s.problem]  # fmt: skip


__all__ = ["LessonPlayer"]
