"""The WaveNet tab, driven with pytest-qt: generation, streaming, no-device fallback, resynthesis, stop."""

import numpy as np
import pytest
from conftest import open_main_window
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from engines.data.audio import read_wav, write_wav


@pytest.fixture
def window(qtbot):
    w = open_main_window(qtbot, "wavenet")
    yield w
    w.close()


@pytest.fixture
def tab(window):
    t = window.model_tabs["wavenet"]
    t.stream_check.setChecked(False)
    return t


def test_generation_fills_every_view_and_the_state_reproduces_it(tab):
    tab.set_state({**tab.state(), "voice": 2, "seconds": 0.6, "seed": 5, "stream": False}, run=False)
    tab.run_demo_blocking()
    audio = tab.audio.copy()
    assert len(audio) == 4800 and 0.003 < np.sqrt(np.mean(audio**2)) < 0.5
    assert abs(tab.probs.sum() - 1) < 1e-3 and tab.probs.max() > 2 / 256  # a real, peaked distribution
    img = tab.spec_image.image
    assert img is not None and img.shape[1] == 129 and np.isfinite(img).all()
    assert len(tab.diagram.context) == tab.engine().config.receptive_field
    assert "0.60 s of 0.60 s made" in tab.run_label.text()
    state = tab.state()
    assert state["voice"] == 2 and state["seed"] == 5
    tab.seed_box.setValue(6)
    tab.run_demo_blocking()
    assert not np.array_equal(tab.audio, audio)  # another seed, other audio
    tab.set_state(state)  # the same state gives the same samples
    np.testing.assert_array_equal(tab.audio, audio)
    with pytest.raises(ValueError, match="unknown"):
        tab.set_state({**state, "model": "nope"})
    assert tab.state() == state  # a bad state changed nothing


def test_without_an_audio_device_it_says_so_and_still_saves_wav(window, qtbot, tmp_path, monkeypatch):
    import app.tabs.wavenet_tab as wt

    monkeypatch.setattr(
        wt, "audio_problem", lambda: "no audio output device (test); generated audio can still be saved as WAV"
    )
    window.close()
    w = MainWindow()
    qtbot.addWidget(w)
    tab = w.model_tabs["wavenet"]
    assert tab.audio_label.text().startswith("Audio: no audio output device") and "\n" not in tab.audio_label.text()
    tab.seconds_box.setValue(0.5)
    tab.stream_check.setChecked(True)  # asked to stream, but there is nothing to stream to
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        qtbot.mouseClick(tab.generate_btn, Qt.MouseButton.LeftButton)
    assert len(tab.audio) == 4000 and not tab.player.active
    tab.save_wav(tmp_path / "out.wav")
    x, rate = read_wav(tmp_path / "out.wav")
    assert rate == 8000 and len(x) == 4000 and np.abs(x - tab.audio).max() < 1e-4
    w.close()


def test_streams_through_the_tab_without_underflow(null_audio_device, qtbot):
    w = MainWindow()  # made after the null sink exists, so the tab finds a device
    qtbot.addWidget(w)
    tab = w.model_tabs["wavenet"]
    assert tab.problem is None, tab.problem
    tab.set_state({**tab.state(), "seconds": 2.0, "stream": True}, run=False)
    with qtbot.waitSignal(tab.result_ready, timeout=30000):
        tab.generate()
    assert tab.player.wait(timeout=10)
    assert tab.player.played == 16000 and tab.player.underflows == 0
    qtbot.wait(100)
    assert "underflows: 0" in tab.run_label.text()
    tab.volume_slider.setValue(30)
    assert tab.player.volume == pytest.approx(0.3)
    w.close()


def test_stop_cancels_generation_at_once(tab, qtbot):
    tab.seconds_box.setValue(60.0)
    tab.generate()
    qtbot.waitUntil(lambda: bool(tab._parts) or len(tab.audio) > 0, timeout=10000)
    qtbot.mouseClick(tab.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy, timeout=2000)
    qtbot.wait(100)
    assert tab.generate_btn.isEnabled() and not tab.player.active
    assert len(tab.audio) < 8000 * 30  # far from the minute asked for


def test_resynthesise_a_users_wav_and_refuse_a_broken_one(tab, qtbot, tmp_path):
    from engines.wavenet import WaveNetEngine

    _, _, test = WaveNetEngine.load_data("speech8k")
    seg = test.of_voice(3).segments[0][:8000]
    from engines.data.audio import mu_decode, resample

    write_wav(tmp_path / "mine.wav", resample(mu_decode(seg), 8000, 16000), 16000)  # a 16 kHz file
    assert tab.open_clip(str(tmp_path / "mine.wav"))
    assert tab.mode_box.currentData() == "resynthesize" and tab.clip_box.currentData() == str(tmp_path / "mine.wav")
    tab.voice_box.setCurrentIndex(3)
    tab.run_demo_blocking()
    assert len(tab.audio) == len(tab.original) == len(seg)
    # the resynthesis follows the clip's loudness contour (what local conditioning keeps)
    env = lambda x: np.sqrt(np.mean(x[: len(x) // 400 * 400].reshape(-1, 400) ** 2, axis=1))
    assert np.corrcoef(env(tab.audio), env(tab.original))[0, 1] > 0.5
    errors = []
    tab.error.connect(errors.append)
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    count = tab.clip_box.count()
    assert not tab.open_clip(str(tmp_path / "bad.wav"))
    assert errors and "bad.wav: not a WAV file" in errors[-1] and tab.clip_box.count() == count


def test_training_panel_trains_wavenet_and_hands_it_to_the_tab(window, qtbot):
    panel = window.training
    panel.model_box.setCurrentIndex(panel.model_box.findData("wavenet"))
    assert panel.batch_box.value() == 8 and panel.data_box.findData("__folder__") >= 0
    panel.configure(preset="tiny", steps=4, batch=2, eval_every=0)
    tab = window.model_tabs["wavenet"]
    with qtbot.waitSignal(panel.weights_ready, timeout=120000):
        panel.start()
    qtbot.waitUntil(lambda: not panel.is_running, timeout=10000)
    assert tab.model_box.currentData().startswith("session:")
    assert tab.engine().config.layers_per_stack == 5  # the tiny preset now drives the tab
    assert "samples/s" in panel.rate_label.text() and "bits per sample" in panel.loss_plot.plotItem.titleLabel.text
    assert set(panel.curves) == {"bits_per_sample"} and not panel.vec_plot.isVisible()


def test_long_generation_beside_live_plots_runs_to_the_end(tab, qtbot):
    # a regression test: with PySide6 6.12.0 (now excluded) this aborted the interpreter ("deallocating None")
    assert tab.timer.isActive()
    tab.seconds_box.setValue(5.0)
    redraws = []
    tab.timer.timeout.connect(lambda: redraws.append(len(tab.audio)))
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.generate()
    assert len(tab.audio) == 40000 and len(redraws) > 5


def test_save_dialogs_report_success_and_failure(tab, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    target = tmp_path / "mine.wav"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    errors, statuses = [], []
    tab.error.connect(errors.append)
    tab.status.connect(statuses.append)
    tab.audio = np.zeros(0, np.float32)
    tab.ask_save_wav()  # nothing generated yet: refused with a reason, nothing written
    assert errors == ["Could not save: nothing generated yet"] and not target.exists()
    tab.run_demo_blocking(0.3)
    tab.ask_save_wav()
    assert statuses[-1] == f"Saved {target}" and len(read_wav(target)[0]) == 2400
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))  # cancelled
    tab.ask_export_png()
    assert len(statuses) == 1 and len(errors) == 1


def test_waveform_and_spectrogram_share_one_time_axis_and_the_distribution_is_zoomed(tab, qtbot):
    """The issue's report: the waveform showed 2.05-4 s above a spectrogram of 0-4 s, and the distribution's
    spike filled 2% of its axis."""
    from engines.figures import mass_range

    tab.set_state({**tab.state(), "voice": 0, "seconds": 2.0, "seed": 1, "stream": False})
    qtbot.wait(50)
    (w0, w1), (s0, s1) = tab.wave_plot.viewRange()[0], tab.spec_plot.viewRange()[0]
    assert (w0, w1) == pytest.approx((0.0, 2.0), abs=0.01) and (s0, s1) == pytest.approx((w0, w1), abs=0.01)
    p = np.zeros(256)
    p[120:125] = 0.2
    lo, hi = mass_range(p)
    assert lo <= 119.5 and hi >= 124.5 and hi - lo <= 30  # the spike and a margin, not all 256 classes
    x0, x1 = tab.prob_plot.viewRange()[0]
    assert x1 - x0 < 256 and tab.probs[int(x0) + 1 : int(x1)].sum() > 0.99


def test_a_superseded_runs_late_end_does_not_touch_the_next_run(tab, qtbot):
    """Mutation: WaveNet connecting job.finished directly (a cancelled run's end re-enabled Generate and merged
    its chunks into the run that replaced it)."""
    tab.set_state({**tab.state(), "seconds": 2.0, "stream": False}, run=False)
    tab.generate()
    first = tab._job
    tab.seconds_box.setValue(30.0)
    tab.generate()  # cancels the first run and starts a long one
    qtbot.waitUntil(lambda: not first.is_running, timeout=20000)
    qtbot.wait(100)  # the first run's queued signals are delivered
    assert tab.busy and not tab.generate_btn.isEnabled()
    assert tab.total == 30 * 8000 and all(n <= tab.total for n, _ in tab.steps)
    tab.stop()
    assert tab.generate_btn.isEnabled()


def test_free_generation_with_a_frame_prior_shows_the_plan_it_renders(tab):
    from dataclasses import replace

    from engines.wavenet import WaveNetEngine

    engine = WaveNetEngine(replace(WaveNetEngine.presets()["tiny"], prosody_hidden=8), device="cpu")
    tab.use_engine(engine, "tiny with a frame prior")
    tab.set_state({**tab.state(), "mode": "generate", "seconds": 0.3, "seed": 2, "stream": False}, run=False)
    tab.run_demo_blocking()
    assert tab.plan is not None and tab.plan.shape == (20, 2400 // 80 + 1)
    np.testing.assert_array_equal(tab.plan, engine.plan(0.3, tab.st.voice, seed=2))
    assert tab.orig_spec_plot.isVisible() and "plan" in tab.orig_spec_plot.plotItem.titleLabel.text
    assert tab.orig_spec_image.image.shape == (31, 20)  # every planned frame, every mel band
    tab.set_state({**tab.state(), "mode": "resynthesize"}, run=False)
    tab.run_demo_blocking()
    assert tab.plan is None and "original clip" in tab.orig_spec_plot.plotItem.titleLabel.text
