"""The WaveNet tab: generate speech or music in a chosen voice and hear it while it is made, or
resynthesise a clip from its log-mel frames; live waveform, spectrogram, the predictive
distribution of the current sample, and the dilated stack with the current receptive field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
)

from app.audio import AudioPlayer, audio_problem
from app.stack_diagram import StackDiagram
from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import add_and_select, ask_path_from_combo, scale_plot_fonts
from app.worker import Worker
from engines.cancel import is_cancelled
from engines.checkpoint import CheckpointError
from engines.data.audio import VOICES, AudioDataError, load_clip, mu_decode, write_wav
from engines.figures import mass_range, spectrogram
from engines.resources import ResourceError
from engines.wavenet import WaveChunk, WaveNetEngine
from engines.wavenet.fused import warm_up

SPEC_SECONDS = 4.0
WAVE_SECONDS = SPEC_SECONDS  # the waveform shows the spectrogram's window: one time axis (the x axes are linked)
MAX_CLIP_SECONDS = 20.0
STREAM_BUFFER_SECONDS = 1.0  # the generator runs at most this far ahead of the speakers, so the views
# (distribution, receptive field) show what is being heard, give or take a second


@dataclass
class WaveNetTabState:
    """What decides the tab's output: the same state and seed give the same samples."""

    mode: str = "generate"  # "generate" freely, or "resynthesize" a clip
    model: str = "wavenet-speech"
    voice: int = 0
    temperature: float = 1.0
    seconds: float = 4.0
    seed: int = 0
    clip: str = "test:0"  # "test:<voice>" or a WAV file path
    stream: bool = True  # play while generating
    volume: float = 0.8
    step: int = -1  # which recorded chunk the views show (-1: the end of the run)


class WaveNetTab(ModelTab):
    state_class = WaveNetTabState
    state_table = (
        Bind("mode", "mode_box"), Bind("model", "model_box"), Bind("voice", "voice_box"),
        Bind("temperature", "temp_box"), Bind("seconds", "seconds_box"), Bind("seed", "seed_box"),
        Bind("clip", "clip_box"), Bind("stream", "stream_check"), Bind("volume", "volume_slider", scale=100),
    )  # fmt: skip
    title = "WaveNet"
    engine_name = "wavenet"
    engine_class = WaveNetEngine
    legend = (
        "Top: the waveform as it is made (grey: the clip being resynthesised) and "
        "its spectrogram; between them, in free generation with a frame prior (the shipped model), the plan: "
        "the log-mel frames the prior drew first, which the WaveNet renders. "
        "Bottom left: the model's 256-way μ-law distribution for the newest sample. "
        "Bottom right: the dilated stack; the lit band of each layer is the part of its input the "
        "newest output depends on, and the waveform under it is that receptive field's audio."
    )
    engine_device = "cpu"  # the fused kernel generates on the CPU, faster than the torch step on a GPU

    def __init__(self, parent=None):
        super().__init__(parent)
        self.st = WaveNetTabState()
        self.user_clips: dict[str, np.ndarray] = {}
        self._test_split = None  # the shipped test recordings, loaded when a test clip is first used
        self.audio = np.zeros(0, np.float32)  # everything generated in the current run
        self.steps: list[tuple[int, np.ndarray]] = []  # per chunk: samples made by then, its distribution
        self.view_step: int | None = None  # a recorded chunk the views show (None: the newest)
        self.original = np.zeros(0, np.float32)  # the clip being resynthesised
        self.plan: np.ndarray | None = None  # free generation's planned log-mel frames (a frame prior's)
        self.probs = np.zeros(256, np.float32)
        self.total = 0
        self.speed = 0.0  # x real time of the current run
        self._dirty = False
        self.problem = audio_problem()
        self.player = AudioPlayer(8000)
        self._build()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._redraw)
        self.timer.start(50)
        self._warm = Worker(warm_up, name="compile generation kernel")  # not start_job: nothing cancels it
        self._warm.finished.connect(self._on_warm)  # a bound slot: Qt drops it if the tab is gone first
        self.run_label.setText("Preparing the generation kernel (first launch only)…")
        self._warm.start()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        row, form = self.controls_row()
        self.mode_box = QComboBox()
        self.mode_box.addItem("Generate freely", "generate")
        self.mode_box.addItem("Resynthesise a clip", "resynthesize")
        self.voice_box = QComboBox()
        for i, (_, label, _) in enumerate(VOICES):
            self.voice_box.addItem(label, i)
        self.temp_box = QDoubleSpinBox()
        self.temp_box.setRange(0.05, 2.0)
        self.temp_box.setSingleStep(0.05)
        self.temp_box.setValue(1.0)
        self.seconds_box = QDoubleSpinBox()
        self.seconds_box.setRange(0.2, 120.0)
        self.seconds_box.setValue(4.0)
        self.seconds_box.setSuffix(" s")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.clip_box = QComboBox()
        for i, (_, label, _) in enumerate(VOICES):
            self.clip_box.addItem(f"Test clip: {label}", f"test:{i}")
        self.clip_box.addItem("Open WAV file…", "__open__")
        self.stream_check = QCheckBox("Play while generating")
        self.stream_check.setChecked(True)
        self.volume_slider = QSlider(Qt.Orientation.Horizontal)
        self.volume_slider.setRange(0, 100)
        self.volume_slider.setValue(80)
        form.addRow("Mode", self.mode_box)
        form.addRow("Model", self.model_box)
        form.addRow("Voice", self.voice_box)
        form.addRow("Temperature", self.temp_box)
        form.addRow("Length", self.seconds_box)
        form.addRow("Seed", self.seed_box)
        form.addRow("Clip", self.clip_box)
        form.addRow(self.stream_check)
        form.addRow("Volume", self.volume_slider)
        self.generate_btn = QPushButton("▶ Generate")
        self.stop_btn = QPushButton("■ Stop")
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_btn)
        buttons.addWidget(self.stop_btn)
        form.addRow(buttons)
        self.play_result_btn = QPushButton("Play result")
        self.play_original_btn = QPushButton("Play original")
        replay = QHBoxLayout()
        replay.addWidget(self.play_result_btn)
        replay.addWidget(self.play_original_btn)
        form.addRow(replay)
        self.save_btn = QPushButton("Save WAV…")
        form.addRow(self.save_btn)
        self.audio_label = QLabel()
        self.audio_label.setWordWrap(True)
        self.run_label = QLabel("")
        self.run_label.setWordWrap(True)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        form.addRow(self.audio_label)
        form.addRow(self.run_label)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)  # the recorded run, chunk by chunk (← → too)
        self.scrubber.setEnabled(False)
        self.scrubber.valueChanged.connect(lambda v: self._view(v) if self.scrubber.isEnabled() else None)
        self.step_label = QLabel("")
        form.addRow("Chunk", self.scrubber)
        form.addRow(self.step_label)
        form.addRow(self.model_info)

        plots = QVBoxLayout()
        self.wave_plot = pg.PlotWidget(title="Waveform")
        self.wave_plot.setMouseEnabled(False, False)
        self.wave_plot.setYRange(-1, 1)
        self.wave_plot.getAxis("left").setTicks([[(v, f"{v:g}") for v in (-1, 0, 1)]])
        self.wave_plot.getViewBox().enableAutoRange(pg.ViewBox.XAxis, False)
        self.wave_plot.setLabel("bottom", "time (s)")
        self.orig_curve = self.wave_plot.plot([], [], pen=pg.mkPen((170, 170, 170), width=1))
        self.wave_curve = self.wave_plot.plot([], [], pen=pg.mkPen((40, 90, 200), width=1))
        self.play_head = pg.InfiniteLine(angle=90, pen=pg.mkPen((220, 40, 40), width=2))
        self.wave_plot.addItem(self.play_head)
        self.spec_plot, self.spec_image = self._spectrogram_plot("Spectrogram")
        self.spec_plot.setLabel("bottom", "time (s)")
        self.orig_spec_plot, self.orig_spec_image = self._spectrogram_plot("Spectrogram of the original clip")
        self.wave_plot.setXLink(self.spec_plot)  # waveform and spectrogram on one time axis
        self.orig_spec_plot.setXLink(self.spec_plot)
        plots.addWidget(self.wave_plot, 2)
        plots.addWidget(self.orig_spec_plot, 2)
        plots.addWidget(self.spec_plot, 2)
        bottom = QHBoxLayout()
        self.prob_plot = pg.PlotWidget(title="p(x<sub>t</sub> | x<sub>&lt;t</sub>) of the newest sample")
        self.prob_plot.setMouseEnabled(False, False)
        self.prob_plot.setLabel("bottom", "μ-law class")
        self.prob_plot.getAxis("left").enableAutoSIPrefix(False)
        self.prob_bars = pg.BarGraphItem(
            x=np.arange(256), height=np.zeros(256), width=1.0, brush=(230, 90, 30), pen=None
        )
        self.prob_plot.addItem(self.prob_bars)
        self.prob_plot.setXRange(0, 255)
        self.diagram = StackDiagram()
        bottom.addWidget(self.prob_plot, 1)
        bottom.addWidget(self.diagram, 1)
        plots.addLayout(bottom, 3)
        row.addLayout(plots, 1)

        self.mode_box.currentIndexChanged.connect(self._sync_mode_widgets)
        self.clip_box.activated.connect(self._on_clip_chosen)
        self.volume_slider.valueChanged.connect(lambda v: setattr(self.player, "volume", v / 100))
        self.generate_btn.clicked.connect(self.generate)
        self.stop_btn.clicked.connect(self.stop)
        self.play_result_btn.clicked.connect(lambda: self.play(self.audio))
        self.play_original_btn.clicked.connect(lambda: self.play(self.original))
        self.save_btn.clicked.connect(self.ask_save_wav)
        self.audio_label.setText(f"Audio: {self.problem}" if self.problem else "Audio: default output device")
        self._sync_mode_widgets()
        self._show_model_info()
        self._align_time_axes()

    @staticmethod
    def _spectrogram_plot(title: str) -> tuple[pg.PlotWidget, pg.ImageItem]:
        plot = pg.PlotWidget(title=title)
        plot.setMouseEnabled(False, False)
        plot.setLabel("left", "Hz")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.getViewBox().enableAutoRange(pg.ViewBox.XAxis, False)  # the waveform sets the shared time axis
        image = pg.ImageItem()
        image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(image)
        return plot, image

    @staticmethod
    def _show_spectrogram(plot, image, spec: np.ndarray, start: int, rate: int, top: float) -> None:
        """``spec`` (from :func:`spectrogram`) of audio starting at sample ``start``, over a 70 dB range."""
        image.setImage(spec, autoLevels=False, levels=(top - 70, top))
        image.setRect(start / rate, 0, len(spec) * 64 / rate, rate / 2)
        # (no x range here: the time axis is the waveform's, the plots are linked)
        plot.setYRange(0, rate / 2, padding=0)
        plot.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, rate / 4, rate / 2)]])  # fixed range, 3 ticks

    def _on_warm(self) -> None:
        if self.run_label.text().startswith("Preparing"):
            self.run_label.setText("")

    def _sync_mode_widgets(self, *_) -> None:
        resyn = self.mode_box.currentData() == "resynthesize"
        self.clip_box.setEnabled(resyn)
        self.play_original_btn.setEnabled(resyn)
        self.seconds_box.setEnabled(not resyn)
        self.orig_curve.setVisible(resyn)
        planned = not resyn and self.plan is not None
        self.orig_spec_plot.setVisible(resyn or planned)
        plan_title = "The plan: the frame prior's log-mel frames"
        self.orig_spec_plot.setTitle("Spectrogram of the original clip" if resyn else plan_title)
        self.orig_spec_plot.setLabel("left", "Hz" if resyn else "mel band")
        self.spec_plot.setTitle("Spectrogram of the resynthesis" if resyn else "Spectrogram")

    # -- state ------------------------------------------------------------------------------------
    def read_more_state(self) -> None:
        self.st.step = -1 if self.view_step is None else self.view_step

    def check_state(self, st: WaveNetTabState) -> None:
        if self.clip_box.findData(st.clip) < 0 and Path(st.clip).is_file():  # a user's WAV file (or a lesson's)
            self.open_clip(st.clip)

    def apply_state(self, _checked, run: bool) -> None:
        self._sync_mode_widgets()
        self.player.volume = self.st.volume
        if run:
            step = self.st.step
            self.run_demo_blocking()
            self._view(None if step < 0 else step)

    # -- models and clips ---------------------------------------------------------------------------
    def use_engine(self, engine: WaveNetEngine, label: str) -> None:
        engine.model.cpu()  # generation runs the fused CPU kernel
        engine.device = engine.model.embed.weight.device
        super().use_engine(engine, label)

    def on_model_changed(self) -> None:
        self._show_model_info()

    def _show_model_info(self) -> None:
        try:
            e = self.engine()
        except (ResourceError, CheckpointError) as err:
            self.model_info.setText(str(err))
            return
        cfg = e.config
        self.diagram.set_config(cfg.dilations, cfg.sample_rate)
        rf = cfg.receptive_field
        self.model_info.setText(
            f"{e.num_parameters():,} parameters · {len(cfg.dilations)} layers · receptive field {rf} samples "
            f"({1000 * rf / cfg.sample_rate:.0f} ms) · {cfg.sample_rate} Hz"
        )
        for i in range(self.voice_box.count()):
            self.voice_box.model().item(i).setEnabled(i < max(1, cfg.n_speakers))
        if cfg.n_speakers and self.voice_box.currentIndex() >= cfg.n_speakers:
            self.voice_box.setCurrentIndex(0)
        self.mode_box.model().item(1).setEnabled(bool(cfg.local_channels))
        if not cfg.local_channels:
            self.mode_box.setCurrentIndex(0)

    def _on_clip_chosen(self, _index: int) -> None:
        if self.clip_box.currentData() == "__open__":
            path = ask_path_from_combo(self.clip_box, self.st.clip, self, "Open a WAV file to resynthesise",
                                       "WAV files (*.wav *.WAV);;All files (*)")  # fmt: skip
            if path:
                self.open_clip(path)

    def open_clip(self, path: str) -> bool:
        """Offer a user's WAV file for resynthesis (resampled; at most ``MAX_CLIP_SECONDS``)."""
        try:
            clip = load_clip(path, self.engine().config.sample_rate, MAX_CLIP_SECONDS)
        except AudioDataError as e:
            self.error.emit(f"Could not open audio: {e}")
            return False
        self.user_clips[path] = clip
        add_and_select(self.clip_box, Path(path).name, path)
        self.mode_box.setCurrentIndex(self.mode_box.findData("resynthesize"))
        return True

    def clip(self, key: str | None = None) -> np.ndarray:
        key = key or self.clip_box.currentData()
        if key in self.user_clips:
            return self.user_clips[key]
        voice = int(key.split(":")[1])
        if self._test_split is None:  # read (and sha-checked) once, not on every run
            self._test_split = WaveNetEngine.load_data("speech8k")[2]
        seg = max(self._test_split.of_voice(voice).segments, key=len)  # the longest test prompt of that voice
        return mu_decode(seg[: int(4 * self.engine().config.sample_rate)])

    # -- running ------------------------------------------------------------------------------------
    def _make_run(self):
        self.read_state()
        st = self.st
        engine = self.engine()
        if st.mode == "resynthesize":
            self.original = self.clip()
            chunks = engine.resynthesize(self.original, voice=st.voice, temperature=st.temperature, seed=st.seed)
            self.total = len(self.original)
        else:
            self.original = np.zeros(0, np.float32)
            chunks = engine.sample(seconds=st.seconds, voice=st.voice, temperature=st.temperature, seed=st.seed)
            self.total = int(st.seconds * engine.config.sample_rate)
        self.audio = np.zeros(0, np.float32)
        self.plan = None
        self._sync_mode_widgets()
        self._parts: list[np.ndarray] = []
        self.steps: list[tuple[int, np.ndarray]] = []  # per chunk: samples made by then, its distribution
        self.view_step: int | None = None  # a recorded chunk the views show (None: the newest)
        return engine, chunks

    def generate(self) -> None:
        """Start a run on the worker; with "play while generating", stream it as it is made."""
        try:
            engine, chunks = self._make_run()
        except (ResourceError, CheckpointError, AudioDataError, ValueError) as e:
            self.error.emit(f"WaveNet: {e}")
            return
        self.player.stop()
        streaming = self.st.stream and self.problem is None
        if streaming:
            try:
                self._new_player(engine.config.sample_rate, STREAM_BUFFER_SECONDS)
                self.player.start()
            except RuntimeError as e:
                self.problem = str(e)
                self.audio_label.setText(f"Audio: {e}")
                streaming = False
        player = self.player

        def run():
            try:
                for chunk in chunks:
                    if streaming:
                        player.feed(chunk.audio, cancelled=is_cancelled)  # on this worker thread, not the GUI's
                    yield chunk
            finally:
                if streaming:
                    player.finish()

        self.start_job(run, on_yield=self._on_chunk, on_finished=self._on_finished, name="wavenet")
        self.generate_btn.setEnabled(False)

    def _new_player(self, rate: int, capacity_s: float) -> None:
        if self.player.rate != rate or self.player.ring.capacity != int(capacity_s * rate):
            self.player.close()
            self.player = AudioPlayer(rate, capacity_s=capacity_s)
            self.player.volume = self.volume_slider.value() / 100

    def _on_chunk(self, chunk: WaveChunk) -> None:
        if chunk.plan is not None and self.plan is None:
            self.plan = chunk.plan
            self._sync_mode_widgets()
            self._show_plan()
        self._parts.append(chunk.audio)
        self.probs = chunk.probs
        self.steps.append((chunk.t + len(chunk.q), chunk.probs))
        self.speed = (chunk.t + len(chunk.q)) / self.engine().config.sample_rate / max(chunk.elapsed, 1e-9)
        self._dirty = True

    def _on_finished(self) -> None:
        self.generate_btn.setEnabled(True)
        self._collect()
        self._view(None)  # the end of the run, and the scrubber over all of it
        self.result_ready.emit()

    def _collect(self) -> None:
        if self._parts:
            self.audio = np.concatenate([self.audio, *self._parts])
            self._parts = []

    def stop(self) -> None:
        """Stop generating and silence the speakers at once."""
        self.cancel_job()
        self.player.stop()
        self.generate_btn.setEnabled(True)

    def play(self, audio: np.ndarray) -> None:
        """Play finished audio (the result, or the original clip)."""
        if len(audio) == 0:
            self.status.emit("Nothing to play yet")
            return
        if self.problem:
            self.error.emit(f"WaveNet: {self.problem}")
            return
        self.player.stop()
        rate = self.engine().config.sample_rate
        try:
            self._new_player(rate, len(audio) / rate + 1.0)  # room for all of it: feeding never waits here
            self.player.start()
        except RuntimeError as e:
            self.error.emit(f"WaveNet: {e}")
            return
        self.player.feed(audio)
        self.player.finish()

    def run_demo_blocking(self, seconds: float | None = None) -> None:
        """Generate on the calling thread without sound (for screenshots and lessons)."""
        self.cancel_job()
        if seconds is not None:
            self.seconds_box.setValue(seconds)
        _, chunks = self._make_run()
        for chunk in chunks:
            self._on_chunk(chunk)
        self._on_finished()

    # -- drawing ------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        if not self._dirty:
            if self.player.active:
                self._update_play_head()
            return
        self._dirty = False
        self._collect()
        rate = self._rate()
        a = self.audio
        n = len(a)
        probs = self.probs
        if self.view_step is not None and not self.busy:  # stepping through the recorded run
            n, probs = self.steps[self.view_step]
            a = a[:n]
        if self.player.active and self.busy:  # streaming: scroll with what is being heard
            n = min(n, self.player.played + int(0.25 * rate))
            a = a[:n]
        lo = max(0, n - int(WAVE_SECONDS * rate))
        t = np.arange(lo, n) / rate
        self.wave_curve.setData(t, a[lo:])
        if len(self.original):
            self.orig_curve.setData(t, self.original[lo:n] if n > lo else [])
        span = min(WAVE_SECONDS, max(self.total, n, 1) / rate)  # a 2 s run fills the axis, a long one scrolls
        self.wave_plot.setXRange(lo / rate, max(lo / rate + span, n / rate), padding=0)
        s0 = max(0, n - int(SPEC_SECONDS * rate))
        spec = spectrogram(a[s0:])
        top = float(np.percentile(spec, 99.5)) if spec.size > 1 else 0.0
        self._show_spectrogram(self.spec_plot, self.spec_image, spec, s0, rate, top)
        if len(self.original) and self.orig_spec_plot.isVisible():  # the same window of the original
            o_spec = spectrogram(self.original[s0:n])
            self._show_spectrogram(self.orig_spec_plot, self.orig_spec_image, o_spec, s0, rate, top)
        self.prob_bars.setOpts(height=probs)
        self.prob_plot.setYRange(0, max(0.02, float(probs.max()) * 1.1), padding=0)
        self.prob_plot.setXRange(*mass_range(probs), padding=0)  # zoomed to where the distribution's mass is
        self.diagram.set_context(a, n)
        self._update_play_head()

    def _show_plan(self) -> None:
        """The whole plan at once (it is drawn before the audio): one column per 10 ms frame, centred on it."""
        hop, rate = self.engine().config.hop, self._rate()
        self.orig_spec_image.setImage(self.plan.T, autoLevels=False, levels=(-2.9, 1.5))
        self.orig_spec_image.setRect(-0.5 * hop / rate, 0, self.plan.shape[1] * hop / rate, self.plan.shape[0])
        self.orig_spec_plot.setYRange(0, self.plan.shape[0], padding=0)
        self.orig_spec_plot.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, self.plan.shape[0])]])

    def _rate(self) -> int:
        return self.engine().config.sample_rate if self.engines else 8000

    def _update_play_head(self) -> None:
        """The play head and the status line (what is made, how fast, what is playing, underflows)."""
        self.play_head.setValue(self.player.played / self.player.rate)
        self.play_head.setVisible(self.player.active)
        rate = self._rate()
        parts = [f"{len(self.audio) / rate:.2f} s of {self.total / rate:.2f} s made"]
        if self.speed:
            parts.append(f"generator {self.speed:.1f}x real time")
        if self.player.active:
            parts.append(f"playing {self.player.played / rate:.1f} s")
        parts.append(f"underflows: {self.player.underflows}")
        self.run_label.setText(" · ".join(parts))

    # -- the run as a process: → and ← step through its chunks as they were made --------------------------
    def _view(self, step: int | None) -> None:
        self.view_step = None if step is None or step >= len(self.steps) - 1 else max(0, step)
        self._dirty = True
        self._redraw()
        at = len(self.steps) - 1 if self.view_step is None else self.view_step
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(0, len(self.steps) - 1))
        self.scrubber.setValue(max(0, at))
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(bool(self.steps) and not self.busy)
        if self.steps:
            n = self.steps[max(0, at)][0]
            self.step_label.setText(f"chunk {at + 1} / {len(self.steps)} · {n / self._rate():.2f} s")

    def step_forward(self) -> bool:
        if self.busy or not self.steps or self.view_step is None:
            return False
        self._view(self.view_step + 1)
        return True

    def step_back(self) -> bool:
        at = len(self.steps) - 1 if self.view_step is None else self.view_step
        if self.busy or at <= 0:
            return False
        self._view(at - 1)
        return True

    def reset(self) -> None:
        if self.steps and not self.busy:
            self._view(0)

    # -- export and presentation ----------------------------------------------------------------------
    def save_wav(self, path: str | Path) -> None:
        if len(self.audio) == 0:
            raise ValueError("nothing generated yet")
        write_wav(path, self.audio, self.engine().config.sample_rate)

    def ask_save_wav(self) -> None:
        self.ask_save("Save audio", "wavenet.wav", "WAV (*.wav)", self.save_wav)

    def play_pause(self) -> None:
        if self.busy or self.player.active:
            self.stop()
        else:
            self.generate()

    def figure_title(self) -> str:
        if self.mode_box.currentData() == "resynthesize":
            return "WaveNet resynthesises a clip from its log-mel frames"
        return "WaveNet makes audio one sample at a time"

    def caption(self) -> str:
        rate = self._rate()
        n = len(self.audio) if self.view_step is None or self.busy else self.steps[self.view_step][0]
        parts = [self.voice_box.currentText(), f"{n / rate:.2f} s of {self.total / rate:.2f} s"]
        if self.mode_box.currentData() == "resynthesize":
            parts.insert(0, self.clip_box.currentText())
        else:
            parts.append(f"seed {self.seed_box.value()}")
        parts.append(f"temperature {self.temp_box.value():g}")
        return " · ".join(parts)

    def _align_time_axes(self) -> None:
        """One left-axis width for the waveform and the spectrograms: linked plots align by screen position, so
        axes of different widths would shift one time axis against the other."""
        from PySide6.QtGui import QFontMetrics

        fm = QFontMetrics(self.wave_plot.getAxis("left").style.get("tickFont") or QApplication.font())
        width = fm.horizontalAdvance("-0.50") + fm.height() * 2
        for plot in (self.wave_plot, self.spec_plot, self.orig_spec_plot):
            plot.getAxis("left").setWidth(width)

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        font = QApplication.font()
        for plot in (self.wave_plot, self.spec_plot, self.orig_spec_plot, self.prob_plot):
            scale_plot_fonts(plot, font)
        self._align_time_axes()
        self.diagram.setFont(font)

    def shutdown(self) -> None:
        self.stop()
        self.player.close()


__all__ = ["WaveNetTab", "WaveNetTabState"]
