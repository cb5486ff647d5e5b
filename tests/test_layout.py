"""Layouts that hold: every tab rendered at 1024 x 768, 1400 x 860 and 1920 x 1080 (and its presentation view
at 1024 x 768 and 1920 x 1080) has no visible label, button, check box, combo box or table header narrower than
its text needs (an elided entry must show the whole text in its tooltip), and no table column that only a
horizontal scroll would show; in the presentation view no text stays at its desk size."""

import pytest
from conftest import open_main_window

from app.layout_check import cut_widgets, small_text

SIZES = [(1024, 768), (1400, 860), (1920, 1080)]


@pytest.fixture(scope="module")
def window():
    from pytestqt.qt_compat import qt_api

    qt_api.QtWidgets.QApplication.instance() or qt_api.QtWidgets.QApplication([])

    class Bot:  # open_main_window registers the window with qtbot; a module fixture closes it itself
        def addWidget(self, _w):  # noqa: N802 (pytest-qt's name)
            pass

    w = open_main_window(Bot(), "draw")
    for name in w.model_tabs:  # each tab's demo once: the views hold real content when measured
        w.select_tab(name)
        w.model_tabs[name].run_demo_blocking()
    yield w
    w.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_tab_cuts_its_text(window, qtbot, size):
    from PySide6.QtWidgets import QApplication

    window.resize(*size)
    assert (window.width(), window.height()) == size  # the window can be this small
    problems = []
    for name in [*window.model_tabs, "training"]:
        window.select_tab(name)
        QApplication.processEvents()
        problems += [f"{name}: {line}" for line in cut_widgets(window)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("size", [SIZES[0], SIZES[2]], ids=lambda s: f"{s[0]}x{s[1]}")
def test_presentation_views_hold_and_size_their_type(window, qtbot, size):
    from PySide6.QtWidgets import QApplication

    window.resize(*size)
    window.set_presentation(True, full_screen=False)
    try:
        problems = []
        for name, tab in window.model_tabs.items():
            window.select_tab(name)
            QApplication.processEvents()
            tab.refresh_stage()
            problems += [f"{name}: {line}" for line in cut_widgets(window)]
            # no text left at its desk size: at least 0.7 of the slide's body type
            problems += [f"{name}: {line}" for line in small_text(tab, 0.7 * QApplication.font().pointSizeF())]
            assert tab.title_label.isVisible() and tab.title_label.text()
            assert not tab.about.isVisible() and not tab.controls.isVisible()
            page, frame = tab.page.geometry(), tab.frame.geometry()
            assert page.height() == frame.height()  # the figure has the whole height
            # at most 16:9 (a wider screen keeps side margins); a 4:3 screen is filled, not letterboxed
            assert page.width() / page.height() <= 16 / 9 + 0.02
            assert page.width() == min(frame.width(), round(frame.height() * 16 / 9))
        body = QApplication.font().pointSizeF()
        if size == (1920, 1080):
            assert body >= 24  # the back row reads it
        assert not window.tabs.tabBar().isVisible() and not window.menuBar().isVisible()
        assert not problems, "\n".join(problems)
    finally:
        window.set_presentation(False)
