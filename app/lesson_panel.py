"""Building and presenting lessons: the Lesson dock (slides, order, titles, notes, open/save/export) and the
presenter's notes, as a panel on one screen or a window with the next slide and a clock on a second."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.lesson import Lesson


class LessonDock(QDockWidget):
    """The open lesson's slides: click one to show it; add the current view, update, remove, reorder; edit a
    slide's title and Markdown notes; open, save and export the lesson."""

    def __init__(self, window):
        super().__init__("Lesson", window)
        self.window = window
        self.player = window.lesson_player
        self.setObjectName("lesson-dock")
        body = QWidget()
        lay = QVBoxLayout(body)
        self.lesson_title = QLineEdit()
        self.lesson_title.setPlaceholderText("lesson title")
        self.lesson_title.editingFinished.connect(self._set_lesson_title)
        lay.addWidget(self.lesson_title)
        self.slides = QListWidget()
        self.slides.currentRowChanged.connect(self._on_row)
        lay.addWidget(self.slides, 1)
        grid = QGridLayout()
        self.buttons = {}
        for i, (text, slot) in enumerate((
            ("Add current view", self.add_current), ("Update from view", self.update_current),
            ("Move up", lambda: self.move(-1)), ("Move down", lambda: self.move(1)),
            ("Remove", self.remove), ("Present (F5)", self.present),
        )):  # fmt: skip
            b = QPushButton(text)
            b.clicked.connect(slot)
            grid.addWidget(b, i // 2, i % 2)
            self.buttons[text] = b
        lay.addLayout(grid)
        self.slide_title = QLineEdit()
        self.slide_title.setPlaceholderText("slide title")
        self.slide_title.editingFinished.connect(self._save_fields)
        lay.addWidget(self.slide_title)
        lay.addWidget(QLabel("Presenter notes (Markdown):"))
        self.notes = QPlainTextEdit()
        self.notes.textChanged.connect(self._save_fields)
        lay.addWidget(self.notes, 1)
        files = QHBoxLayout()
        for text, slot in (("Open…", window.ask_open_lesson), ("Save…", window.ask_save_lesson),
                           ("Export…", self.ask_export)):  # fmt: skip
            b = QPushButton(text)
            b.clicked.connect(slot)
            files.addWidget(b)
        lay.addLayout(files)
        self.setWidget(body)
        self.player.slide_changed.connect(self._select)
        self._filling = False

    # -- the list -----------------------------------------------------------------------------------
    def lesson(self) -> Lesson:
        if self.player.lesson is None:
            self.player.lesson = Lesson("Untitled lesson")
        return self.player.lesson

    def refresh(self) -> None:
        """Show the player's lesson: its title and one row per slide (broken slides marked)."""
        self._filling = True
        lesson = self.lesson()
        self.lesson_title.setText(lesson.title)
        self.slides.clear()
        for i, s in enumerate(lesson.slides):
            item = QListWidgetItem(f"{i + 1}. {s.title or s.tab}" + ("  ⚠" if s.problem else ""))
            item.setToolTip(s.problem or f"{s.tab} tab")
            self.slides.addItem(item)
        self._filling = False
        self._select(self.player.index)

    def _select(self, i: int) -> None:
        self._filling = True
        self.slides.setCurrentRow(i)
        slides = self.lesson().slides
        slide = slides[i] if 0 <= i < len(slides) else None
        self.slide_title.setText(slide.title if slide else "")
        self.notes.setPlainText(slide.notes if slide else "")
        self._filling = False

    def _on_row(self, i: int) -> None:
        if not self._filling and i >= 0 and i != self.player.index:
            self.player.show(i)

    def _set_lesson_title(self) -> None:
        self.lesson().title = self.lesson_title.text().strip() or "Untitled lesson"

    def _save_fields(self) -> None:
        i = self.player.index
        if self._filling or not 0 <= i < len(self.lesson().slides):
            return
        slide = self.lesson().slides[i]
        slide.title, slide.notes = self.slide_title.text(), self.notes.toPlainText()
        item = self.slides.item(i)
        if item is not None:
            item.setText(f"{i + 1}. {slide.title or slide.tab}" + ("  ⚠" if slide.problem else ""))
        self.window.notes_changed()

    # -- editing ------------------------------------------------------------------------------------
    def add_current(self) -> None:
        self.window.add_slide()
        self.refresh()

    def update_current(self) -> None:
        """Replace the selected slide's tab and state with the current view (title and notes kept)."""
        i = self.player.index
        slides = self.lesson().slides
        if not 0 <= i < len(slides):
            return self.add_current()
        new = self.player.slide_from_view(slides[i].title, slides[i].notes)
        new.media = slides[i].media
        slides[i] = new
        self.refresh()

    def move(self, delta: int) -> None:
        i, slides = self.player.index, self.lesson().slides
        j = i + delta
        if 0 <= i < len(slides) and 0 <= j < len(slides):
            slides[i], slides[j] = slides[j], slides[i]
            self.player.index = j
            self.refresh()
            self.window.notes_changed()

    def remove(self) -> None:
        i, slides = self.player.index, self.lesson().slides
        if 0 <= i < len(slides):
            del slides[i]
            self.player.index = min(i, len(slides) - 1)
            if slides:
                self.player.show(self.player.index)  # the slide that takes its place
            self.refresh()
            self.window.notes_changed()

    def present(self) -> None:
        if self.lesson().slides:
            self.player.show(max(0, self.player.index))
            self.window.set_presentation(True)

    def ask_export(self) -> None:
        """A folder of slide PNGs (and their GIF/WAV) plus handout.pdf with the notes."""
        if not self.lesson().slides:
            self.window.show_status("No slides to export")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the lesson into a folder")
        if not folder:
            return
        keep = self.player.index
        try:
            written = self.player.export_slides(folder)
            self.player.export_handout(f"{folder}/handout.pdf")
        except (OSError, ValueError) as e:
            self.window.show_error(f"Could not export the lesson: {e}")
            return
        finally:
            self.player.show(max(0, keep))
        self.window.show_status(f"Exported {len(written)} files and handout.pdf to {folder}")


class PresenterNotes(QWidget):
    """What the presenter sees and the audience does not: this slide's notes, the next slide, a clock.
    A window on the second screen when there is one; otherwise a panel N toggles."""

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.setObjectName("presenter-notes")
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.where = QLabel()
        self.clock = QLabel()
        self.clock.setAlignment(Qt.AlignmentFlag.AlignRight)
        top.addWidget(self.where, 1)
        top.addWidget(self.clock)
        lay.addLayout(top)
        self.notes = QTextBrowser()
        lay.addWidget(self.notes, 1)
        self.next_label = QLabel()
        self.next_label.setWordWrap(True)
        lay.addWidget(self.next_label)
        self.next_image = QLabel()  # the next slide's presentation view, small (LessonPlayer.preview)
        self.next_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.next_image)
        self._next_index = -1
        self.started = time.monotonic()
        self.timer = QTimer(self, interval=1000, timeout=self.tick)
        self.timer.start()
        self.tick()

    def tick(self) -> None:
        m, s = divmod(int(time.monotonic() - self.started), 60)
        self.clock.setText(f"{time.strftime('%H:%M')} · {m:02d}:{s:02d} elapsed")

    def show_slide(self, i: int) -> None:
        lesson = self.window.lesson_player.lesson
        slides = lesson.slides if lesson else []
        if not 0 <= i < len(slides):
            self.where.setText("")
            self.notes.setMarkdown("")
            self.next_label.setText("")
            return
        s = slides[i]
        self.where.setText(f"<b>{i + 1} / {len(slides)}</b> · {s.title or s.tab}")
        from app.mathtext import set_markdown

        set_markdown(self.notes.document(), (s.notes or "*(no notes)*").replace("~", "∼"), self.notes.font())
        nxt = slides[i + 1] if i + 1 < len(slides) else None
        self.next_label.setText(f"Next: {nxt.title or nxt.tab}" if nxt else "Last slide")
        self._next_index = i + 1 if nxt else -1
        self.next_image.clear()
        if self.isVisible():  # after this slide is on screen: the preview renders on a hidden copy of its tab
            QTimer.singleShot(150, self.show_next_preview)

    def show_next_preview(self) -> None:
        i = self._next_index
        if i < 0 or not self.isVisible():
            return
        image = self.window.lesson_player.preview(i)
        if image is not None and i == self._next_index:
            self.next_image.setPixmap(QPixmap.fromImage(image))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.next_image.pixmap().isNull():
            QTimer.singleShot(0, self.show_next_preview)


def second_screen():
    """The screen that is not the main window's, when there are two or more (else None)."""
    screens = QGuiApplication.screens()
    return screens[1] if len(screens) > 1 else None
