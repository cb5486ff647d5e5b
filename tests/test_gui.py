"""GUI tests with real widgets driven by pytest-qt."""

import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QImageReader, QPainter

from app.main_window import MainWindow
from app.tabs.draw_tab import DrawTab
from app.worker import Worker
from engines.data.images import write_idx
from engines.draw import DrawEngine
from engines.train import TrainConfig, Trainer


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    yield w
    w.close()


@pytest.fixture
def draw_tab(window, qtbot):
    tab = window.model_tabs["draw"]
    qtbot.waitUntil(lambda: len(tab.frames) == tab.engine().config.glimpses, timeout=10000)
    return tab


def test_draw_tab_plays_to_T_steps(draw_tab, qtbot):
    T = draw_tab.engine().config.glimpses
    draw_tab.speed_box.setValue(60)
    draw_tab.reset()
    assert draw_tab.t == 0
    shown = []
    draw_tab.frame_shown.connect(shown.append)
    qtbot.mouseClick(draw_tab.play_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: draw_tab.t == T - 1, timeout=5000)
    assert shown == list(range(1, T))  # every glimpse shown once, in order
    assert draw_tab.step_label.text() == f"Glimpse {T} / {T}"
    qtbot.waitUntil(lambda: not draw_tab.timer.isActive(), timeout=1000)  # stops at the end
    # the canvas filled in: the last frame has more contrast than the first
    assert draw_tab.frames[-1].canvas.std() > draw_tab.frames[0].canvas.std()
    assert draw_tab.frames[-1].write_boxes is not None


def test_step_back_and_scrub(draw_tab, qtbot):
    draw_tab.reset()
    qtbot.mouseClick(draw_tab.step_btn, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(draw_tab.step_btn, Qt.MouseButton.LeftButton)
    assert draw_tab.t == 2
    qtbot.mouseClick(draw_tab.back_btn, Qt.MouseButton.LeftButton)
    assert draw_tab.t == 1 and draw_tab.scrubber.value() == 1


def test_reconstruct_mode_shows_read_boxes(draw_tab, qtbot):
    draw_tab.mode_box.setCurrentIndex(draw_tab.mode_box.findData("reconstruct"))
    qtbot.waitUntil(lambda: len(draw_tab.frames) == draw_tab.engine().config.glimpses, timeout=10000)
    f = draw_tab.frames[-1]
    assert f.read_boxes is not None and f.target is not None and f.kl is not None
    assert draw_tab.input_grid.isVisible()
    assert draw_tab.state()["mode"] == "reconstruct"


def test_new_request_supersedes_old_one(draw_tab, qtbot):
    draw_tab.seed_box.setValue(11)
    draw_tab.seed_box.setValue(12)
    qtbot.waitUntil(lambda: len(draw_tab.frames) == draw_tab.engine().config.glimpses, timeout=10000)
    expected = list(draw_tab.engine().sample(n=draw_tab.st.count, seed=12))[-1].canvas
    np.testing.assert_array_equal(draw_tab.frames[-1].canvas, expected)


def test_worker_cancel_within_200ms_mid_training_step(qtbot):
    train, valid, _ = DrawEngine.load_data("mnist")
    eng = DrawEngine(device="cpu")  # the shipped-size config: one step takes longer than 200 ms here
    trainer = Trainer(eng, train, TrainConfig(steps=10_000, batch_size=64))
    worker = Worker(trainer.run)
    got = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.started, timeout=5000):
        worker.start()
    qtbot.waitUntil(lambda: len(got) >= 1, timeout=20000)
    before = {k: v.clone() for k, v in eng.model.state_dict().items()}
    t0 = time.perf_counter()
    with qtbot.waitSignals([worker.aborted, worker.finished], timeout=2000):
        worker.cancel()
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.2, f"cancel took {elapsed * 1000:.0f} ms"
    assert worker.wait(1000)
    n = len(got)
    # a step interrupted mid-way does not touch the weights
    after = eng.model.state_dict()
    changed = [k for k in before if not before[k].equal(after[k])]
    assert not changed or n >= 1  # weights changed only by completed steps
    assert trainer.step == n


def test_event_loop_runs_during_training(window, qtbot):
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    panel = window.training
    panel.configure(model="draw", preset="small", dataset="mnist", steps=10_000, batch=64, eval_every=0)
    panel.start()
    qtbot.waitUntil(lambda: len(panel.history.get("loss", [])) >= 2, timeout=20000)
    ticks.clear()
    qtbot.wait(1000)
    timer.stop()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running, timeout=2000)
    gaps = np.diff(ticks)
    assert len(ticks) >= 25, f"only {len(ticks)} timer ticks in 1 s of training"
    assert gaps.max() < 0.25, f"event loop stalled for {gaps.max() * 1000:.0f} ms"


def test_event_loop_runs_during_sampling(draw_tab, qtbot):
    draw_tab.count_box.setValue(64)  # a longer sampling job
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    draw_tab.generate()
    qtbot.waitUntil(lambda: not draw_tab.busy, timeout=10000)
    qtbot.wait(50)
    timer.stop()
    assert len(ticks) >= 3


def test_training_panel_trains_and_hands_weights_to_tab(window, qtbot):
    panel = window.training
    tab = window.model_tabs["draw"]
    panel.configure(model="draw", preset="tiny", dataset="mnist", steps=12, batch=16, eval_every=5)
    with qtbot.waitSignal(panel.weights_ready, timeout=30000) as sig:
        qtbot.mouseClick(panel.start_btn, Qt.MouseButton.LeftButton)
    assert sig.args[0] == "draw"
    assert [x for x, _ in panel.history["loss"]] == list(range(1, 13))
    assert len(panel.valid_history) == 3  # steps 5, 10 and the end
    xs, ys = panel.curves["loss"].getData()
    assert len(xs) == 12 and np.isfinite(ys).all()
    assert len(panel.last_vector) == DrawEngine.presets()["tiny"].glimpses  # KL per glimpse
    assert "KL per glimpse" in panel.vec_plot.getPlotItem().titleLabel.text
    # the run was kept without anyone pressing Save
    assert DrawEngine.from_checkpoint(panel.autosave_path).meta["trained_steps"] == 12
    assert panel.progress.value() == 12 and "12 / 12" in panel.progress.format()
    # the tab uses the new weights at once
    assert tab.st.model.startswith("session:") or tab.model_box.currentData().startswith("session:")
    qtbot.waitUntil(lambda: len(tab.frames) == 4, timeout=10000)
    assert tab.engine(tab.model_box.currentData()).config.glimpses == 4


def test_training_pause_resume_stop(window, qtbot):
    panel = window.training
    panel.configure(model="draw", preset="tiny", dataset="mnist", steps=100_000, batch=16, eval_every=0)
    panel.start()
    qtbot.waitUntil(lambda: len(panel.history.get("loss", [])) >= 3, timeout=20000)
    qtbot.mouseClick(panel.pause_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.worker.is_parked, timeout=5000)  # a step under way may still finish
    qtbot.wait(50)  # deliver its queued result
    n = len(panel.history["loss"])
    qtbot.wait(300)
    assert len(panel.history["loss"]) == n  # nothing happens while paused
    assert panel.pause_btn.text() == "Resume" and panel.save_btn.isEnabled()
    qtbot.mouseClick(panel.pause_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.history["loss"]) > n, timeout=5000)
    qtbot.mouseClick(panel.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_running, timeout=2000)
    assert panel.start_btn.isEnabled()
    # a stopped run is kept too, at the step it reached
    qtbot.waitUntil(lambda: panel.autosave_path.is_file(), timeout=2000)
    assert DrawEngine.from_checkpoint(panel.autosave_path).meta["trained_steps"] == panel.last_event.step


def test_training_panel_saves_checkpoint(window, qtbot, tmp_path):
    panel = window.training
    panel.configure(model="draw", preset="tiny", dataset="mnist", steps=3, batch=8, eval_every=0)
    with qtbot.waitSignal(panel.weights_ready, timeout=30000):
        panel.start()
    path = tmp_path / "mine.pt"
    panel.save_checkpoint(path)
    assert DrawEngine.from_checkpoint(path).meta["trained_steps"] == 3
    # and the tab loads it back as a model of its own
    assert window.model_tabs["draw"].load_checkpoint(str(path))


def test_corrupt_checkpoint_is_refused_with_a_message(window, qtbot, tmp_path):
    tab = window.model_tabs["draw"]
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00" * 100)
    current = tab.model_box.currentData()
    with qtbot.waitSignal(tab.error, timeout=2000) as sig:
        assert not tab.load_checkpoint(str(bad))
    assert "broken.pt" in sig.args[0]
    assert tab.model_box.currentData() == current
    assert "broken.pt" in window.last_error


def test_user_idx_file(window, qtbot, tmp_path):
    tab = window.model_tabs["draw"]
    imgs = (np.random.default_rng(0).random((40, 28, 28)) * 255).astype(np.uint8)
    good = tmp_path / "mine-images.idx"
    write_idx(good, imgs)
    assert tab.open_idx(str(good))
    assert tab.data_box.currentText() == "mine-images.idx"
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with qtbot.waitSignal(tab.error, timeout=2000) as sig:
        assert not tab.open_idx(str(bad))
    assert "not an IDX file" in sig.args[0]
    assert tab.data_box.currentText() == "mine-images.idx"  # nothing lost


def test_presentation_mode_and_arrow_keys(window, draw_tab, qtbot):
    before = window.size()
    window.set_presentation(True)
    screen = window.screen().geometry().size()  # offscreen: 800x800, less than the window's minimum width
    assert window.isFullScreen() and window.width() >= screen.width() and window.height() >= screen.height()
    # the presentation view: title, figure, caption; no controls, transport, About, tab bar or menus
    assert not draw_tab.controls.isVisible() and not draw_tab.play_btn.isVisible()
    assert not draw_tab.scrubber.isVisible() and not draw_tab.about.isVisible()
    assert not window.tabs.tabBar().isVisible() and not window.menuBar().isVisible()
    assert draw_tab.title_label.isVisible()
    assert draw_tab.caption_label.text().startswith("With attention, 5×5 write · glimpse")
    from app.presentation import body_point_size

    tick_font = draw_tab.plot.getAxis("bottom").style["tickFont"]
    assert tick_font.pointSizeF() == pytest.approx(body_point_size(window.width(), window.height()), rel=0.01)
    draw_tab.reset()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert draw_tab.t == 2
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert draw_tab.t == 1
    draw_tab.refresh_stage()
    assert "glimpse 2 of 32" in draw_tab.caption_label.text()  # the caption follows the state
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presenting and draw_tab.controls.isVisible() and window.size() == before


def test_main_window_has_one_tab_per_model_and_device(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["DRAW", "WaveNet", "Sentences", "DocNADE", "Search", "Statistician", "Training"]
    assert window.device_label.text().startswith("Device: CPU")
    assert "(27)" in window.model_tabs["draw"].about.toPlainText()


def test_export_png_and_gif(draw_tab, tmp_path):
    png = tmp_path / "grid.png"
    draw_tab.export_png(png, size=400)
    assert QImage(str(png)).size().width() == 400
    gif = tmp_path / "anim.gif"
    n = draw_tab.export_gif(gif, size=224)
    assert n == draw_tab.engine().config.glimpses
    reader = QImageReader(str(gif))
    assert reader.imageCount() == n  # one frame per glimpse; the last is held longer
    frames = []
    while True:
        img = reader.read()
        if img.isNull():
            break
        frames.append(img)
    assert len(frames) == n and frames[0].width() == 224
    # a frame with a known canvas and write box comes out with those pixels and that red box
    from engines.draw import DrawFrame

    canvas = np.zeros((1, 28, 28), np.float32)
    canvas[0, 10:18, 10:18] = 1.0
    draw_tab.frames = [DrawFrame(0, 1, canvas, np.array([[4.0, 4.0, 24.0, 24.0]]), None)]
    draw_tab.export_gif(gif, size=224)
    img = QImageReader(str(gif)).read().convertToFormat(QImage.Format.Format_RGB32)
    scale = img.width() / 28  # one image fills the grid, with a 4% margin

    def reddish(c) -> bool:  # the write box's vermillion (213, 94, 0); GIF's palette may move it a few levels
        return abs(c[0] - 213) < 12 and abs(c[1] - 94) < 12 and abs(c[2] - 0) < 12

    red = [(x, y) for x in range(224) for y in range(224) if reddish(img.pixelColor(x, y).getRgb())]
    xs, ys = zip(*red)
    assert min(xs) == pytest.approx(4 * scale * 0.92 + 224 * 0.04, abs=3)
    assert max(ys) == pytest.approx(24 * scale * 0.92 + 224 * 0.04, abs=3)
    centre = img.pixelColor(int(14 * scale * 0.92 + 224 * 0.04), int(14 * scale * 0.92 + 224 * 0.04)).getRgb()
    assert min(centre[:3]) > 245


def test_screenshot_command_writes_png(tmp_path, root):
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "main.py", "--tab", "draw", "--screenshot", str(out), "--size", "1000x700"],
        cwd=root, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1000, 700)


def test_screenshot_command_refuses_bad_arguments_in_one_line(tmp_path, capsys, qapp):
    import main as app_main

    out = tmp_path / "shot.png"
    assert app_main.main(["--tab", "nope", "--screenshot", str(out)]) == 2  # (the same main, in this process)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no tab 'nope'" in err
    for state in ("[1]", "{not json"):
        with pytest.raises(SystemExit) as e:
            app_main.main(["--state", state, "--screenshot", str(out)])
        assert e.value.code == 2 and capsys.readouterr().err == "error: --state must be a JSON object\n"


def test_draw_tab_state_is_plain_data(qtbot):
    tab = DrawTab()
    qtbot.addWidget(tab)
    st = tab.state()
    assert st["mode"] == "sample" and st["model"] == "draw-attention" and st["seed"] == 0
    import json

    json.dumps(st)


def test_training_panel_fine_tunes_shipped_weights(window, qtbot):
    from engines.resources import resource_path

    panel = window.training
    panel.configure(model="draw", init="draw-attention", dataset="mnist", steps=2, batch=8, eval_every=0)
    shipped = DrawEngine.from_checkpoint(resource_path("draw-attention"))
    with qtbot.waitSignal(panel.weights_ready, timeout=60000):
        panel.start()
    tuned = panel.engine
    assert tuned.config == shipped.config  # the shipped config, not the preset's
    assert tuned.meta["init"] == "draw-attention"
    moved = [k for k, v in tuned.model.state_dict().items() if not v.cpu().equal(shipped.model.state_dict()[k])]
    assert moved  # two steps changed the weights, starting from the shipped ones


def test_state_round_trip_gives_the_same_pixels(draw_tab, qtbot):
    # slowest playback: every frame arrives before the timer's first tick (the race that made this test flaky:
    # the tab then had frames but no glimpse on screen, step -1, and set_state showed the last one)
    draw_tab.speed_box.setValue(draw_tab.speed_box.minimum())
    draw_tab.mode_box.setCurrentIndex(draw_tab.mode_box.findData("reconstruct"))
    draw_tab.seed_box.setValue(7)
    draw_tab.count_box.setValue(9)
    qtbot.waitUntil(
        lambda: len(draw_tab.frames) == draw_tab.engine().config.glimpses and not draw_tab.busy, timeout=10000
    )
    assert draw_tab.t == 0  # the first glimpse shows as soon as it arrives
    draw_tab.step_forward()
    draw_tab.step_forward()
    draw_tab.step_back()
    state = draw_tab.state()
    assert state["step"] == 1
    other = DrawTab()
    qtbot.addWidget(other)
    other.set_state(state)
    assert other.t == state["step"] and other.state() == state
    np.testing.assert_array_equal(other.frames[other.t].canvas, draw_tab.frames[draw_tab.t].canvas)
    np.testing.assert_array_equal(other.frames[-1].target, draw_tab.frames[-1].target)
    # a state naming a model this app lacks is refused, and nothing on the tab changes
    with pytest.raises(ValueError, match="no-such-model"):
        other.set_state({**state, "mode": "sample", "model": "no-such-model"})
    assert other.state() == state


def test_user_image_folder(window, qtbot, tmp_path):
    tab = window.model_tabs["draw"]
    folder = tmp_path / "my digits"
    folder.mkdir()
    for i in range(3):  # dark ink on white paper, as a phone photo or a scan would be
        img = QImage(56, 40, QImage.Format.Format_RGB32)
        img.fill(Qt.GlobalColor.white)
        painter = QPainter(img)
        painter.fillRect(20 + i, 8, 16, 24, Qt.GlobalColor.black)
        painter.end()
        assert img.save(str(folder / f"digit{i}.png"))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    with qtbot.waitSignal(tab.error, timeout=5000) as sig:
        assert tab.open_image_folder(str(folder))
    assert "broken.png" in sig.args[0] and "notes.txt" in sig.args[0]
    assert tab.st.mode == "reconstruct" or tab.mode_box.currentData() == "reconstruct"
    qtbot.waitUntil(lambda: len(tab.frames) == tab.engine().config.glimpses and not tab.busy, timeout=10000)
    imgs = tab.test_images()
    assert imgs.shape[1:] == (28, 28)
    # inverted to white-on-black, aspect kept: the bar is bright, the page's margins are black
    # 56x40 scales to 28x20, centred with 4 rows above; the bar (x 20-36, y 8-32) lands at x 10-18, y 8-20
    assert all(im[0, 0] == 0 and im[14, 11:17].min() > 200 and im[14, 2:7].max() < 30 for im in imgs)
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(tab.error, timeout=2000) as sig:
        assert not tab.open_image_folder(str(empty))
    assert "no readable images" in sig.args[0]


def test_cyclic_garbage_is_collected_only_on_the_gui_thread(window, qtbot):
    """A collection on a worker thread can free a widget there and deadlock Qt against the GIL (see
    app.worker.collect_garbage_on_gui_thread): with the window up, every collection happens on this thread."""
    import gc
    import threading

    threads = []

    def seen(phase, info):
        if phase == "start":
            threads.append(threading.get_ident())

    gc.callbacks.append(seen)
    try:
        assert not gc.isenabled() and window.gc_timer.isActive()
        cycles = [[] for _ in range(20000)]  # plenty of allocation while the worker trains
        for c in cycles:
            c.append(c)
        del cycles
        panel = window.training
        panel.configure(model="draw", preset="tiny", dataset="mnist", steps=30, batch=16, eval_every=0)
        with qtbot.waitSignal(panel.weights_ready, timeout=60000):
            qtbot.mouseClick(panel.start_btn, Qt.MouseButton.LeftButton)
        window.gc_timer.setInterval(20)
        qtbot.wait(200)
    finally:
        gc.callbacks.remove(seen)
    assert threads and set(threads) == {threading.get_ident()}
