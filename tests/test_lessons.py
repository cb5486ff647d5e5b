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


def test_embedded_checkpoints_that_cannot_load_mark_their_slide(window, tmp_path):
    """Random bytes, or a tensor with a flipped bit, embedded under their own (matching) sha256: the slide is
    marked with the checkpoint's one-line reason, the others show, the exported slides skip it."""
    import hashlib

    from conftest import flip_a_byte_in_a_tensor

    from engines.draw import DrawEngine

    DrawEngine(DrawEngine.presets()["tiny"]).save(tmp_path / "tiny.pt")
    flipped = flip_a_byte_in_a_tensor(tmp_path / "tiny.pt", tmp_path / "flipped.pt").read_bytes()
    noise = np.random.default_rng(1).bytes(2000)
    checkpoints = {hashlib.sha256(b).hexdigest(): b for b in (noise, flipped)}
    slides = [Slide("draw", {"model": "x", "seed": 1}, model_sha256=sha) for sha in checkpoints]
    slides.append(Slide("draw", {"model": "draw-attention", "seed": 2}, model_sha256=shipped_sha256("draw-attention")))
    save_lesson(tmp_path / "bad-models.lesson", Lesson("bad models", slides, checkpoints))
    lesson = load_lesson(tmp_path / "bad-models.lesson", set(window.model_tabs))
    window.open_lesson(lesson)
    player = window.lesson_player
    assert not player.show(0) and "not a readable checkpoint" in lesson.slides[0].problem
    assert not player.show(1) and "checksum" in lesson.slides[1].problem
    assert player.show(2) and window.model_tabs["draw"].st.seed == 2
    written = player.export_slides(tmp_path / "out", scale=1.0)
    assert [p.name for p in written] == ["slide-03.png"]
    assert len(player.problems()) == 2 and all("\n" not in p for p in player.problems())


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
        outs.append(sorted((tmp_path / run).glob("slide-*")))
    assert {p.name for p in outs[0]} == {f"slide-0{i}.png" for i in range(1, 7)} | {"slide-03.gif"}
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(*outs))
    from PySide6.QtGui import QImage

    assert QImage(str(outs[0][0])).width() == 2000  # 2x
    (tmp_path / "bad.lesson").write_text("nope")
    r = run_main(root, "--lesson", str(tmp_path / "bad.lesson"), "--export-slides", str(tmp_path / "c"))
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "bad.lesson" in r.stderr


def test_side_by_side_steps_in_lockstep_and_exports_bring_gif_and_handout(window, qtbot, tmp_path):
    lesson = load_lesson(__import__("conftest").ROOT / "resources" / "lessons" / "draw-attention.lesson")
    window.open_lesson(lesson)
    player = window.lesson_player
    player.show(5)  # with and without attention, the same seed
    left, right = window.model_tabs["draw"], player.twin_shown
    assert right is not None and right is not left
    assert left.engine().config.attention and not right.engine().config.attention
    assert left.st.seed == right.st.seed == 3 and left.t == right.t == 9  # glimpse 10: strokes on both canvases
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_Right)
    assert left.t == right.t == 12
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert left.t == right.t == 11
    player.show(2)  # an ordinary slide: the second view goes away
    assert player.twin_shown is None
    # the slide asking for a GIF gets one with a frame per glimpse; the handout has a page per slide
    keep = lesson.slides
    lesson.slides = [keep[2], keep[5]]
    written = player.export_slides(tmp_path / "out")
    assert [p.name for p in written] == ["slide-01.png", "slide-01.gif", "slide-02.png"]
    import imageio.v3 as iio

    assert iio.imread(written[1], index=None).shape[0] == 32
    assert player.export_handout(tmp_path / "handout.pdf") == 2
    assert (tmp_path / "handout.pdf").read_bytes()[:5] == b"%PDF-"


def test_notes_keys_type_scale_and_the_lesson_panel(window, qtbot):
    window.open_lesson(shipped_lessons()["draw-attention"])
    dock = window.lesson_dock
    window.lesson_action.setChecked(True)
    assert dock.isVisible() and dock.slides.count() == 6 and dock.slides.currentRow() == 0
    assert "DRAW writes the image" in dock.notes.toPlainText()
    dock.slides.setCurrentRow(3)  # a click on a slide shows it
    assert window.lesson_player.index == 3 and window.model_tabs["draw"].mode_box.currentData() == "reconstruct"
    dock.notes.setPlainText("My own words, with $x^2$.")
    dock.move(-1)  # moved up, notes kept with the slide
    assert window.lesson_player.index == 2 and window.lesson_player.lesson.slides[2].notes.startswith("My own")
    dock.remove()
    assert len(window.lesson_player.lesson.slides) == 5
    qtbot.keyClick(window, Qt.Key.Key_N)  # one screen: the notes as a panel
    assert window.notes_dock.isVisible() and "My own" not in window.presenter_notes.notes.toPlainText()
    window.set_presentation(True)
    assert not dock.isVisible()
    before = window.type_scale
    qtbot.keyClick(window, Qt.Key.Key_Plus)
    assert window.type_scale > before
    qtbot.keyClick(window, Qt.Key.Key_Minus)
    assert window.type_scale == pytest.approx(before)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presenting and dock.isVisible()


def test_a_users_wav_clip_travels_inside_the_lesson(qtbot, tmp_path):
    from engines.data.audio import write_wav

    t = np.arange(8000) / 8000
    wav = tmp_path / "my voice.wav"
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t)).astype(np.float32), 8000)
    w = open_main_window(qtbot, "wavenet")
    try:
        tab = w.model_tabs["wavenet"]
        tab.set_state({**tab.state(), "mode": "resynthesize", "clip": str(wav), "stream": False})
        w.add_slide()
        lesson = w.lesson_player.lesson
        assert len(lesson.inputs) == 1 and lesson.slides[0].state["clip"].endswith("/my voice.wav")
        before = tab.audio.copy()
        assert len(before) == 8000
        save_lesson(tmp_path / "clip.lesson", lesson)
    finally:
        w.close()
    wav.unlink()  # the lesson must not need the original file
    other = open_main_window(qtbot, "draw")
    try:
        back = load_lesson(tmp_path / "clip.lesson", set(other.model_tabs))
        assert back.slides[0].problem == ""
        other.open_lesson(back)
        t2 = other.model_tabs["wavenet"]
        assert t2.clip_box.currentText() == "my voice.wav" and np.array_equal(t2.audio, before)
    finally:
        other.close()


def test_wavenet_steps_back_through_its_recorded_chunks(qtbot):
    w = open_main_window(qtbot, "wavenet")
    try:
        tab = w.model_tabs["wavenet"]
        tab.set_state({**tab.state(), "seconds": 1.0, "seed": 2, "stream": False})
        n = len(tab.steps)
        assert n > 3 and tab.view_step is None and not tab.step_forward()  # live view: at the end
        shown = []
        for _ in range(2):
            assert tab.step_back()
            shown.append((len(tab.wave_curve.getData()[0]), tab.prob_bars.opts["height"].copy()))
        assert tab.view_step == n - 3 and shown[1][0] < shown[0][0]
        assert np.array_equal(shown[1][1], tab.steps[n - 3][1])
        assert tab.step_forward() and tab.view_step == n - 2
        assert np.array_equal(tab.prob_bars.opts["height"], shown[0][1])  # Back then forward: the same view
        state = tab.state()
        assert state["step"] == n - 2
        tab.set_state(state)  # the same state shows the same step of the same run
        assert tab.view_step == n - 2 and np.array_equal(tab.prob_bars.opts["height"], shown[0][1])
        assert tab.scrubber.maximum() == n - 1 and tab.scrubber.value() == n - 2
        tab.scrubber.setValue(1)  # the scrubber covers the whole run
        assert tab.view_step == 1 and "chunk 2 /" in tab.step_label.text()
        tab.reset()
        assert tab.view_step == 0 and not tab.step_back()
    finally:
        w.close()


def test_any_tab_exports_its_view_at_2x_and_its_process_as_mp4(window, tmp_path):
    tab = window.model_tabs["draw"]
    tab.set_state({**tab.state(), "seed": 1, "step": 7})
    tab.export_picture(tmp_path / "view.png")
    from PySide6.QtGui import QImage

    assert QImage(str(tmp_path / "view.png")).width() == 2 * tab.export_view().width()
    said = tab.export_animation(tmp_path / "run.mp4")
    import imageio.v2 as imageio

    reader = imageio.get_reader(tmp_path / "run.mp4")  # read back through imageio-ffmpeg
    n = sum(1 for _ in reader)
    reader.close()
    assert n == 32 + 5 and "37 frames" in said  # a frame per glimpse, the last held five more
    assert tab.t == 7  # the view shown before the export is back


def test_the_presenter_sees_a_thumbnail_of_the_next_slide_without_the_audience_seeing_it(window, qtbot):
    state = {"mode": "sample", "model": "draw-attention", "count": 4}
    lesson = Lesson("preview", [Slide("draw", {**state, "seed": 1, "step": 31}, title="first"),
                                Slide("draw", {**state, "seed": 2, "step": 0}, title="second")])  # fmt: skip
    window.open_lesson(lesson)
    tab = window.model_tabs["draw"]
    shown = canvas_pixels(tab)
    qtbot.keyClick(window, Qt.Key.Key_N)  # the notes panel, with the next slide under them
    notes = window.presenter_notes
    qtbot.waitUntil(lambda: not notes.next_image.pixmap().isNull(), timeout=20000)
    thumb = notes.next_image.pixmap().toImage()
    assert thumb.width() == 480 and abs(thumb.width() / thumb.height() - 16 / 9) < 0.05  # the 16:9 slide frame
    assert np.array_equal(canvas_pixels(tab), shown) and tab.t == 31  # the audience's view did not move
    # the thumbnail is the second slide (glimpse 1: grey fog), not the first one (finished digits)
    from app.exports import qimage_rgb

    first = qimage_rgb(window.lesson_player.preview(0)).astype(int)
    assert np.abs(qimage_rgb(thumb).astype(int) - first).mean() > 5
    window.lesson_player.next()
    window.lesson_player.next()
    assert window.lesson_player.index == 1
    qtbot.waitUntil(lambda: notes.next_label.text() == "Last slide", timeout=5000)
    assert notes.next_image.pixmap().isNull()


def test_a_side_by_side_slide_of_a_wide_tab_is_still_16_9(window, tmp_path):
    """The sentence lesson's LSTM-against-CNN slide: a hint taken while the second view's controls still showed at
    presentation type widened the window, and the slide came out 4464 x 2160 with its maps cut."""
    from PySide6.QtGui import QImage

    lesson = shipped_lessons()["sentence-vae-latent"]
    lesson.slides = [s for s in lesson.slides if s.compare]
    assert len(lesson.slides) == 1
    window.lesson_player.lesson = lesson
    written = window.lesson_player.export_slides(tmp_path)
    img = QImage(str(written[0]))
    assert (img.width(), img.height()) == (3840, 2160)
