"""The main window: one tab per model, the training panel, a status bar with the device, and a View
menu with a presentation mode for lecture halls (full screen, larger fonts, reduced controls,
arrow keys step)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.presentation import body_point_size
from app.tabs.base import ModelTab
from app.tabs.docnade_tab import DocNadeTab
from app.tabs.draw_tab import DrawTab
from app.tabs.search_tab import SearchTab
from app.tabs.sentences_tab import SentencesTab
from app.tabs.statistician_tab import StatisticianTab
from app.tabs.wavenet_tab import WaveNetTab
from app.training_panel import TrainingPanel
from app.worker import Worker
from engines.device import describe, pick_device

TAB_CLASSES: list[type[ModelTab]] = [DrawTab, WaveNetTab, SentencesTab, DocNadeTab, SearchTab, StatisticianTab]


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("Generative Models Playground")
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.model_tabs: dict[str, ModelTab] = {}
        for cls in TAB_CLASSES:
            tab = cls()
            tab.error.connect(self.show_error)
            tab.status.connect(self.show_status)
            self.model_tabs[cls.engine_name] = tab
            self.tabs.addTab(tab, cls.title)
        self.training = TrainingPanel()
        self.training.error.connect(self.show_error)
        self.training.status.connect(self.show_status)
        self.training.weights_ready.connect(self._on_weights)
        self.tabs.addTab(self.training, "Training")
        self.device_label = QLabel(f"Device: {describe(pick_device())}")
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().showMessage("Ready", 3000)
        self._normal_font = QApplication.font()
        self.presenting = False
        self._normal_geometry = None  # the window's geometry before presentation mode
        self.last_error = ""
        from app.lesson_player import LessonPlayer

        self.lesson_player = LessonPlayer(self)
        self.blank = QLabel(self)  # B in a lesson: a black screen until the next key
        self.blank.setStyleSheet("background: black")
        self.blank.hide()
        self.type_scale = 1.0  # + and - change it while presenting
        from app.lesson_panel import LessonDock, PresenterNotes

        self.lesson_dock = LessonDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.lesson_dock)
        self.lesson_dock.hide()
        self.presenter_notes = PresenterNotes(self)  # a dock on one screen (N), a window on a second screen
        self.notes_dock = QDockWidget("Presenter notes", self)
        self.notes_dock.setObjectName("notes-dock")
        self.notes_dock.setWidget(self.presenter_notes)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.notes_dock)
        self.notes_dock.hide()
        self.presenter_window: QWidget | None = None
        self._dock_before = False  # whether the lesson panel showed before presenting hid it
        self.lesson_player.slide_changed.connect(self.presenter_notes.show_slide)
        self._menus()
        from app.worker import collect_garbage_on_gui_thread

        self.gc_timer = collect_garbage_on_gui_thread(self)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, method, shortcut in (
            ("&Load checkpoint for this tab…", "ask_load_checkpoint", "Ctrl+O"),
            ("Export &picture (PNG)…", "ask_export_png", "Ctrl+E"),
            ("Export &animation (GIF)…", "ask_export_gif", "Ctrl+Shift+E"),
        ):
            action = QAction(text, self, shortcut=shortcut)
            action.triggered.connect(lambda _=False, m=method: self._call_tab(m))
            file_menu.addAction(action)
        file_menu.addSeparator()
        for text, slot, shortcut in (
            ("Open &lesson…", self.ask_open_lesson, "Ctrl+L"),
            ("Add current view as &slide", self.add_slide, "Ctrl+Shift+S"),
            ("Sa&ve lesson…", self.ask_save_lesson, ""),
        ):
            action = QAction(text, self, shortcut=shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        file_menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        self.presentation_action = QAction("&Presentation mode", self, checkable=True, shortcut="F5")
        self.presentation_action.toggled.connect(self.set_presentation)
        view.addAction(self.presentation_action)
        self.about_action = QAction("&About this model panel", self, checkable=True, checked=True, shortcut="F1")
        self.about_action.toggled.connect(lambda on: [t.about.setVisible(on) for t in self.model_tabs.values()])
        view.addAction(self.about_action)
        self.lesson_action = QAction("&Lesson panel", self, checkable=True, shortcut="F6")
        self.lesson_action.toggled.connect(self._show_lesson_dock)
        view.addAction(self.lesson_action)

    def current_model_tab(self) -> ModelTab | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, ModelTab) else None

    def _call_tab(self, method: str) -> None:
        tab = self.current_model_tab()
        if tab is None or not hasattr(tab, method):
            self.show_status("This tab has nothing to load or export")
            return
        getattr(tab, method)()

    def select_tab(self, name: str) -> None:
        names = {**{k: t for k, t in self.model_tabs.items()}, "training": self.training}
        if name not in names:
            raise KeyError(f"no tab '{name}' (choose from: {', '.join(names)})")
        self.tabs.setCurrentWidget(names[name])

    # -- presentation -------------------------------------------------------------------------------
    def set_presentation(self, on: bool, full_screen: bool = True) -> None:
        """F5: every tab's presentation view (title, figure in a frame of at most 16:9, caption) with the menus, tab bar
        and status bar hidden and type sized for the room; ``full_screen=False`` keeps the window's size (the
        headless ``--present`` picture and slide exports)."""
        if on == self.presenting:
            return
        self.presenting = on
        if on:
            self._normal_font = QApplication.font()
            self._dock_before = self.lesson_dock.isVisible()
            self.lesson_dock.hide()
            self._open_presenter_window()
        self.menuBar().setVisible(not on)
        self.statusBar().setVisible(not on)
        self.tabs.tabBar().setVisible(not on)
        self.tabs.setDocumentMode(on)  # no frame around the page: the slide is the whole window
        if on and full_screen:
            self._normal_geometry = self.geometry()
            self.setGeometry(self.screen().geometry())  # without a window manager showFullScreen alone won't resize
            self.showFullScreen()
        elif not on and self.isFullScreen():
            self.showNormal()
            if self._normal_geometry is not None:
                self.setGeometry(self._normal_geometry)
        if on:
            self._apply_type_scale()
        else:
            QApplication.setFont(self._normal_font)
            for tab in self.model_tabs.values():
                tab.set_presentation(False)
            for twin in self.lesson_player.twins.values():
                twin.set_presentation(False)
            self._close_presenter_window()
            self.notes_dock.hide()
            self.lesson_dock.setVisible(self._dock_before)
        if self.presentation_action.isChecked() != on:
            self.presentation_action.setChecked(on)

    def scale_type(self, factor: float) -> None:
        """+ and - while presenting: the type larger or smaller (between half and 3x the room's size)."""
        if not self.presenting:
            return
        self.type_scale = min(3.0, max(0.5, self.type_scale * factor))
        self._apply_type_scale()

    def _apply_type_scale(self) -> None:
        """The presentation's body type: 24 pt for a 1920 x 1080 frame, in proportion to the window's, times
        ``type_scale``; for the app, every tab's figure and the side-by-side view."""
        font = self._normal_font.__class__(self._normal_font)
        font.setPointSizeF(body_point_size(self.width(), self.height(), self.type_scale))
        QApplication.setFont(font)
        for tab in [*self.model_tabs.values(), *self.lesson_player.twins.values()]:
            tab.set_presentation(True)  # (again while presenting: the type changed)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.presenting:
            self._apply_type_scale()

    def _open_presenter_window(self) -> None:
        from app.lesson_panel import second_screen

        screen = second_screen()
        if screen is None or self.lesson_player.lesson is None:
            return
        self.presenter_window = QWidget()
        self.presenter_window.setWindowTitle("Presenter")
        lay = QVBoxLayout(self.presenter_window)
        lay.addWidget(self.presenter_notes)
        self.presenter_window.setGeometry(screen.availableGeometry())
        self.presenter_window.show()

    def _close_presenter_window(self) -> None:
        if self.presenter_window is not None:
            self.notes_dock.setWidget(self.presenter_notes)
            self.presenter_window.close()
            self.presenter_window = None

    def toggle_notes(self) -> None:
        """N: the presenter's notes as a panel (one screen; with two they are on the other screen)."""
        if self.presenter_window is None:
            self.notes_dock.setVisible(not self.notes_dock.isVisible())

    def notes_changed(self) -> None:
        self.presenter_notes.show_slide(self.lesson_player.index)

    def _show_lesson_dock(self, on: bool) -> None:
        if on:
            self.lesson_dock.refresh()
        self.lesson_dock.setVisible(on)

    # -- lessons ------------------------------------------------------------------------------------
    def open_lesson(self, lesson) -> None:
        """Show a lesson's first slide; slides that cannot be shown are named in the status bar."""
        self.lesson_player.open(lesson)
        self.lesson_dock.refresh()
        self.presenter_notes.show_slide(self.lesson_player.index)
        problems = self.lesson_player.problems()
        if problems:
            self.show_error(f"Lesson '{lesson.title}': " + "; ".join(problems) + ". The other slides open.")

    def ask_open_lesson(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from app.lesson import LessonError, load_lesson

        path, _ = QFileDialog.getOpenFileName(self, "Open lesson", "", "Lessons (*.lesson);;All files (*)")
        if not path:
            return
        try:
            lesson = load_lesson(path, set(self.model_tabs))
        except LessonError as e:
            self.show_error(f"Could not open the lesson: {e}")
            return
        self.open_lesson(lesson)

    def add_slide(self) -> None:
        from app.lesson import LessonError

        try:
            slide = self.lesson_player.slide_from_view()  # (makes the lesson when there is none)
        except LessonError as e:
            self.show_error(str(e))
            return
        self.lesson_player.lesson.slides.append(slide)
        self.lesson_player.index = len(self.lesson_player.lesson.slides) - 1
        self.lesson_dock.refresh()
        self.show_status(f"Slide {self.lesson_player.index + 1} added: {slide.title}")

    def ask_save_lesson(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from app.lesson import save_lesson

        if self.lesson_player.lesson is None or not self.lesson_player.lesson.slides:
            self.show_status("No slides yet: File → Add current view as slide")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save lesson", "lesson.lesson", "Lessons (*.lesson)")
        if path:
            try:
                save_lesson(path, self.lesson_player.lesson)
            except OSError as e:
                self.show_error(f"Could not save the lesson: {e}")
                return
            self.show_status(f"Saved {path}")

    def set_blank(self, on: bool) -> None:
        self.blank.setGeometry(self.rect())
        self.blank.setVisible(on)
        self.blank.raise_()

    def keyPressEvent(self, event) -> None:
        tab = self.current_model_tab()
        key = event.key()
        if self.blank.isVisible():  # any key brings the screen back
            self.set_blank(False)
            return
        lesson = self.lesson_player.lesson is not None and self.lesson_player.index >= 0
        forward = (Qt.Key.Key_Right, Qt.Key.Key_PageDown, Qt.Key.Key_Space)
        if lesson and key in forward:
            self.lesson_player.next()
        elif lesson and key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.lesson_player.previous()
        elif key == Qt.Key.Key_B and (lesson or self.presenting):
            self.set_blank(True)
        elif key == Qt.Key.Key_N and lesson:
            self.toggle_notes()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal) and self.presenting:
            self.scale_type(1.15)
        elif key == Qt.Key.Key_Minus and self.presenting:
            self.scale_type(1 / 1.15)
        elif self.presenting and key == Qt.Key.Key_Escape:
            self.set_presentation(False)
        elif tab is not None and key == Qt.Key.Key_Right:
            tab.step_forward()
        elif tab is not None and key == Qt.Key.Key_Left:
            tab.step_back()
        elif tab is not None and key == Qt.Key.Key_Space and self.presenting:
            tab.play_pause()
        else:
            super().keyPressEvent(event)

    # -- messages -----------------------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def show_error(self, text: str) -> None:
        self.last_error = text
        self.statusBar().showMessage(text, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Problem", text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not modal-blocking: work in other tabs goes on

    def _on_weights(self, engine_name: str, engine, label: str) -> None:
        tab = self.model_tabs.get(engine_name)
        if tab is not None:
            tab.use_engine(engine, label)

    def closeEvent(self, event) -> None:
        for tab in self.model_tabs.values():
            tab.shutdown()
        self.training.stop()
        Worker.cancel_all_and_wait(5000)
        super().closeEvent(event)
