"""Lessons (issue 9, in progress): the file format, slides from the current view, clicker keys, exports."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import open_main_window
from PySide6.QtCore import Qt

from app.lesson import Lesson, LessonError, Slide, load_lesson, save_lesson, shipped_lessons, shipped_sha256


@pytest.fixture
def window(qtbot):
    w = open_main_window(qtbot, "draw")
    yield w
    w.close()


def canvas_pixels(tab) -> np.ndarray:
    img = tab.canvas_grid.render_qimage(300, 300)
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8, count=img.sizeInBytes()).copy()


def test_a_lesson_round_trips_to_the_same_pixels_in_a_fresh_window(window, qtbot, tmp_path):
    tab = window.model_tabs["draw"]
    tab.set_state({**tab.state(), "seed": 5, "step": 6})
    window.add_slide()
    window.select_tab("statistician")
    stat = window.model_tabs["statistician"]
    qtbot.waitUntil(lambda: bool(stat.results), timeout=60000)
    window.add_slide()
    lesson = window.lesson_player.lesson
    assert [s.tab for s in lesson.slides] == ["draw", "statistician"]
    assert lesson.slides[0].model_sha256 == shipped_sha256("draw-attention") and not lesson.checkpoints
    before = canvas_pixels(tab)
    path = tmp_path / "mine.lesson"
    save_lesson(path, lesson)
    other = open_main_window(qtbot, "training")
    try:
        back = load_lesson(path, set(other.model_tabs))
        assert [s.problem for s in back.slides] == ["", ""]
        other.open_lesson(back)
        assert other.tabs.currentWidget() is other.model_tabs["draw"] and other.model_tabs["draw"].t == 6
        assert np.array_equal(canvas_pixels(other.model_tabs["draw"]), before)
        other.lesson_player.show(1)
        names = [r.name.text() for r in other.model_tabs["statistician"].rows]
        assert names == [r.name.text() for r in stat.rows]
    finally:
        other.close()


def test_clicker_keys_step_the_process_then_the_slides_and_back_is_instant(window, qtbot):
    state = {"mode": "sample", "model": "draw-attention", "seed": 3}
    lesson = Lesson("keys", [Slide("draw", {**state, "step": 29}), Slide("draw", {**state, "seed": 4, "step": 0})])
    window.open_lesson(lesson)
    tab = window.model_tabs["draw"]
    assert tab.t == 29
    recorded = {}
    for key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
        qtbot.keyClick(window, key)
        recorded[tab.t] = canvas_pixels(tab)
    assert tab.t == 31 and window.lesson_player.index == 0
    qtbot.keyClick(window, Qt.Key.Key_Space)  # the last glimpse: on to the next slide
    assert window.lesson_player.index == 1 and tab.t == 0 and tab.st.seed == 4
    qtbot.keyClick(window, Qt.Key.Key_PageUp)  # at glimpse 1 Back goes to the slide before
    assert window.lesson_player.index == 0 and tab.t == 29
    for _ in range(2):
        qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Left)  # Back after N steps shows what step N - 1 showed
    assert tab.t == 30 and np.array_equal(canvas_pixels(tab), recorded[30])
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.blank.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Right)  # any key brings the screen back, and does nothing else
    assert not window.blank.isVisible() and tab.t == 30


def test_bad_lesson_files_are_refused_and_broken_slides_marked(window, tmp_path):
    (tmp_path / "junk.lesson").write_bytes(b"not a zip at all")
    with pytest.raises(LessonError, match="junk.lesson: not a readable lesson file"):
        load_lesson(tmp_path / "junk.lesson")
    with zipfile.ZipFile(tmp_path / "empty.lesson", "w") as z:
        z.writestr("other.txt", "x")
    with pytest.raises(LessonError, match="no lesson.json"):
        load_lesson(tmp_path / "empty.lesson")
    newer = {"format": "genplay-lesson", "version": 99, "slides": []}
    with zipfile.ZipFile(tmp_path / "newer.lesson", "w") as z:
        z.writestr("lesson.json", json.dumps(newer))
    with pytest.raises(LessonError, match="newer version"):
        load_lesson(tmp_path / "newer.lesson")
    good = Slide("draw", {"model": "draw-attention", "seed": 1}, model_sha256=shipped_sha256("draw-attention"))
    gone = Slide("draw", {"model": "draw-attention", "seed": 2}, model_sha256="0" * 64)
    alien = Slide("holography", {"model": ""})
    save_lesson(tmp_path / "mixed.lesson", Lesson("mixed", [good, gone, alien]))
    mixed = load_lesson(tmp_path / "mixed.lesson", set(window.model_tabs))
    assert mixed.slides[0].problem == "" and "missing" in mixed.slides[1].problem
    assert "no 'holography' tab" in mixed.slides[2].problem
    window.open_lesson(mixed)
    assert "slide 2" in window.last_error and "slide 3" in window.last_error
    assert window.model_tabs["draw"].st.seed == 1  # the good slide shows
    assert not window.lesson_player.show(1) and window.isVisible()


def test_a_user_trained_model_is_embedded_and_comes_back(window, qtbot, tmp_path):
    import torch

    from engines.draw import DrawEngine

    torch.manual_seed(0)
    engine = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    tab = window.model_tabs["draw"]
    tab.use_engine(engine, "my tiny DRAW")
    qtbot.waitUntil(lambda: len(tab.frames) == 4, timeout=20000)
    window.add_slide()
    lesson = window.lesson_player.lesson
    assert len(lesson.checkpoints) == 1 and lesson.slides[0].model_sha256 in lesson.checkpoints
    save_lesson(tmp_path / "trained.lesson", lesson)
    other = open_main_window(qtbot, "draw")
    try:
        other.open_lesson(load_lesson(tmp_path / "trained.lesson", set(other.model_tabs)))
        t2 = other.model_tabs["draw"]
        assert t2.model_box.currentData().startswith("session:lesson model")
        assert t2.engine().config.glimpses == 4 and len(t2.frames) == 4
    finally:
        other.close()


def run_main(root, *args):
    return subprocess.run([sys.executable, "main.py", *args], cwd=root, capture_output=True, text=True, timeout=600)


def test_shipped_lessons_are_current_and_export_the_same_pngs_twice(root, tmp_path):
    for name, lesson in shipped_lessons().items():
        shipped = load_lesson(root / "resources" / "lessons" / f"{name}.lesson")
        assert shipped.to_json() == lesson.to_json(), f"{name}.lesson is stale: python main.py --build-lessons"
        assert all(s.problem == "" for s in shipped.slides)
    lesson = root / "resources" / "lessons" / "draw-attention.lesson"
    outs = []
    for run in ("a", "b"):
        r = run_main(root, "--lesson", str(lesson), "--export-slides", str(tmp_path / run), "--size", "1000x700")
        assert r.returncode == 0, r.stderr
        outs.append(sorted((tmp_path / run).glob("slide-*.png")))
    assert [p.name for p in outs[0]] == [f"slide-0{i}.png" for i in range(1, 6)]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(*outs))
    from PySide6.QtGui import QImage

    assert QImage(str(outs[0][0])).width() == 2000  # 2x
    (tmp_path / "bad.lesson").write_text("nope")
    r = run_main(root, "--lesson", str(tmp_path / "bad.lesson"), "--export-slides", str(tmp_path / "c"))
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "bad.lesson" in r.stderr
