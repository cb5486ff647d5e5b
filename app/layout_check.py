"""Finds widgets narrower than their text needs: a label, button, check box, combo box or header section
whose text is cut (unless it elides on purpose and shows the whole text in its tooltip). Used by the layout
test at 1024 x 768, 1400 x 860 and 1920 x 1080, and by hand: ``python -m app.layout_check``."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QHeaderView,
    QLabel,
    QWidget,
)


def _full_text_in_tooltip(w: QWidget, text: str) -> bool:
    return bool(text) and text in w.toolTip()


def cut_widgets(root: QWidget, slack: int = 2) -> list[str]:
    """A line per visible widget under ``root`` whose text does not fit its width."""
    out = []
    for w in root.findChildren(QWidget):
        if not w.isVisibleTo(root) or w.width() <= 1 or not w.window().isVisible():
            continue
        if isinstance(w, QLabel):
            if w.wordWrap() or not w.text() or w.pixmap() is not None and not w.pixmap().isNull():
                continue
            need = w.minimumSizeHint().width()
            if w.width() + slack < need and not _full_text_in_tooltip(w, w.text()):
                out.append(f"label {w.text()[:40]!r}: {w.width()} px of {need}")
        elif isinstance(w, QAbstractButton):
            if not w.text():
                continue
            need = w.minimumSizeHint().width()
            if w.width() + slack < need and not _full_text_in_tooltip(w, w.text().replace("&", "")):
                out.append(f"{type(w).__name__} {w.text()[:40]!r}: {w.width()} px of {need}")
        elif isinstance(w, QComboBox):
            text = w.currentText()
            need = w.fontMetrics().horizontalAdvance(text) + 28  # the arrow and the frame
            if text and w.width() + slack < need and not _full_text_in_tooltip(w, text):
                out.append(f"combo {text[:40]!r}: {w.width()} px of {need}")
        elif isinstance(w, QHeaderView):
            model = w.model()
            if model is None:
                continue
            for i in range(w.count()):
                if w.isSectionHidden(i):
                    continue
                text = str(model.headerData(i, w.orientation()) or "")
                need = w.fontMetrics().horizontalAdvance(text) + 10
                size = w.sectionSize(i)
                if text and w.orientation().name == "Horizontal" and size + slack < need:
                    out.append(f"header {text[:30]!r}: {size} px of {need}")
                elif text and w.orientation().name == "Horizontal" and w.offset() == 0:
                    end = w.sectionViewportPosition(i) + min(size, need)
                    if end > w.viewport().width() + slack:  # only a horizontal scroll would show it
                        out.append(f"header {text[:30]!r}: off the table's view ({end} px of {w.viewport().width()})")
    return out


def small_text(root: QWidget, min_points: float) -> list[str]:
    """A line per visible label, button or combo box under ``root`` whose text is set smaller than ``min_points``
    (a slide's type must grow with it: a style sheet, for one, pins a widget's font at its first size)."""
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, (QLabel, QAbstractButton, QComboBox)) or not w.isVisibleTo(root):
            continue
        text = w.currentText() if isinstance(w, QComboBox) else w.text()
        size = w.fontInfo().pointSizeF()
        if text.strip() and size < min_points:
            out.append(f"{type(w).__name__} {text[:40]!r}: {size:.1f} pt, under {min_points:.1f}")
    return out


def main() -> int:
    import os
    import sys

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.main_window import MainWindow

    window = MainWindow()
    window.show()
    bad = 0
    for size in ((1024, 768), (1400, 860), (1920, 1080)):
        window.resize(*size)
        for name in [*window.model_tabs, "training"]:
            window.select_tab(name)
            tab = window.tabs.currentWidget()
            if hasattr(tab, "run_demo_blocking"):
                tab.run_demo_blocking()
            app.processEvents()
            for line in cut_widgets(window):
                bad += 1
                print(f"{size[0]}x{size[1]} {name}: {line}")
    from app.worker import Worker

    Worker.cancel_all_and_wait(5000)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
