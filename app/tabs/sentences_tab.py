"""The Sentences tab: Bowman's homotopy between two sentences as a list, a 2-D map of the latent
space (PCA of the test set's posterior means, hover for the sentence) with the path drawn on it,
prior samples written word by word, reconstruction; an SA-LSTM view (accuracy against the number
of labels) and a paragraph view (the hierarchical autoencoder's reconstruction)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import scale_plot_fonts, tooltip_follows_text
from engines.checkpoint import CheckpointError
from engines.data.text import EXAMPLE_PAIRS, detokenize, load_sentences, tokenize
from engines.figures import project_2d
from engines.resources import ResourceError, load_manifest
from engines.sentences import Decoding, SentencesEngine
from engines.sentences.experiments import sa_lstm_experiment

MAP_POINTS = 2000
COLLAPSED_KL = 0.5  # nats per sentence: below this z carries (almost) nothing
PATH_COLOR = (220, 50, 40)
PICK_WORDS = {"wordnet": (5, 10), "kjv": (7, 14)}  # the lengths the A / B lists offer, in words


@dataclass
class SentencesTabState:
    view: str = "latent"  # latent | sa | paragraph
    model: str = "sentences-lstm-vae-annealed"
    a: str = EXAMPLE_PAIRS["wordnet"][0]
    b: str = EXAMPLE_PAIRS["wordnet"][1]
    steps: int = 8
    method: str = "greedy"  # greedy | beam
    action: str = "interpolate"  # what the list shows: interpolate | sample | reconstruct
    temperature: float = 1.0
    count: int = 8
    seed: int = 0
    label_index: int = 2  # SA-LSTM: which label count is marked
    sa_task: str = "polarity"  # polarity | word_class
    paragraph: str = ""  # "" = the first KJV test passage
    selected: int = -1  # the list row marked on the map


class SentencesTab(ModelTab):
    state_class = SentencesTabState
    state_table = (
        Bind("view", "views", names=("latent", "sa", "paragraph")), Bind("model", "model_box"),
        Bind("a", "a_box", by="text"), Bind("b", "b_box", by="text"), Bind("steps", "steps_box"),
        Bind("method", "method_box"), Bind("temperature", "temp_box"), Bind("count", "count_box"),
        Bind("seed", "seed_box"), Bind("label_index", "sa_slider"), Bind("sa_task", "sa_task_box"),
        Bind("paragraph", "para_edit"),
    )  # fmt: skip
    title = "Sentences"
    engine_name = "sentences"
    engine_class = SentencesEngine
    legend = (
        "The list holds the decoded sentences (homotopy from A to B, prior samples or a "
        "reconstruction); click a line to mark its z on the map. The map is a PCA projection of the "
        "posterior means μ(x) of 2,000 test sentences (grey; hover for the sentence); red: the "
        "current path. SA-LSTM: test accuracy against the number of labelled sentences, with and "
        "without the sequence autoencoder's weights. Paragraph: each sentence of a passage and the "
        "hierarchical autoencoder's greedy reconstruction, matching words in green."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.st = SentencesTabState()
        self.maps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]] = {}  # key → (mean, axes, xy, texts)
        self.path_xy = np.empty((0, 2))  # the listed sentences' latents on the map (none without a map)
        self.sa_results: dict[str, dict[str, Any]] = self._shipped_sa_results()  # task → figures
        self._test_passages: list[list[str]] | None = None
        self._picks_corpus, self._picks = "", set()  # the corpus the A / B lists now offer, and its sentences
        self._build()
        self._show_model_info()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        row, form = self.controls_row()
        self.a_box, self.b_box = QComboBox(), QComboBox()
        for box, text in ((self.a_box, self.st.a), (self.b_box, self.st.b)):
            box.setEditable(True)
            box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            box.addItem(text)
            box.setMinimumContentsLength(12)
            tooltip_follows_text(box)
        self.steps_box = QSpinBox()
        self.steps_box.setRange(2, 20)
        self.steps_box.setValue(self.st.steps)
        self.method_box = QComboBox()
        self.method_box.addItem("greedy", "greedy")
        self.method_box.addItem("beam search (5)", "beam")
        self.interp_btn = QPushButton("Interpolate A → B")
        self.recon_btn = QPushButton("Reconstruct A")
        self.temp_box = QDoubleSpinBox()
        self.temp_box.setRange(0.05, 3.0)
        self.temp_box.setSingleStep(0.1)
        self.temp_box.setValue(1.0)
        self.count_box = QSpinBox()
        self.count_box.setRange(1, 30)
        self.count_box.setValue(self.st.count)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.sample_btn = QPushButton("Sample from the prior")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_box.setMinimumContentsLength(14)
        form.addRow("Decoder", self.model_box)
        form.addRow("Sentence A", self.a_box)
        form.addRow("Sentence B", self.b_box)
        form.addRow("Steps", self.steps_box)
        form.addRow("Decoding", self.method_box)
        form.addRow(self.interp_btn)
        form.addRow(self.recon_btn)
        form.addRow("Temperature", self.temp_box)
        form.addRow("How many", self.count_box)
        form.addRow("Seed", self.seed_box)
        form.addRow(self.sample_btn)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.RichText)
        form.addRow(self.model_info)

        self.views = QTabWidget()
        row.addWidget(self.views, 1)
        # latent view: list | map
        latent = QSplitter(Qt.Orientation.Horizontal)
        self.result_list = QListWidget()
        self.result_list.setWordWrap(True)
        self.result_list.setMinimumWidth(180)
        latent.addWidget(self.result_list)
        self.map_plot = pg.PlotWidget(title="PCA of μ(x), test sentences")
        self.map_plot.setLabel("bottom", "PC 1")
        self.map_plot.setLabel("left", "PC 2")
        self.map_points = pg.ScatterPlotItem(
            size=5, pen=None, brush=pg.mkBrush(120, 120, 140, 110), hoverable=True,
            hoverBrush=pg.mkBrush(40, 120, 220), hoverSize=9, tip=lambda x, y, data: data,
        )  # fmt: skip
        self.path_line = pg.PlotDataItem([], [], pen=pg.mkPen(PATH_COLOR, width=2), symbol="o", symbolSize=8,
                                         symbolBrush=PATH_COLOR)  # fmt: skip
        self.mark = pg.ScatterPlotItem(size=18, pen=pg.mkPen((20, 20, 20), width=2.5), brush=None)
        self.path_labels: list[pg.TextItem] = []
        for item in (self.map_points, self.path_line, self.mark):
            self.map_plot.addItem(item)
        latent.addWidget(self.map_plot)
        latent.setSizes([420, 600])
        self.views.addTab(latent, "Latent space")

        # SA-LSTM view
        sa = QWidget()
        sa_lay = QVBoxLayout(sa)
        self.sa_plot = pg.PlotWidget(title="Test accuracy")
        self.sa_plot.setLabel("bottom", "labelled training sentences")
        self.sa_plot.setLabel("left", "test accuracy (%); dotted: commonest class")
        self.sa_plot.addLegend(offset=(10, 10))
        for axis in ("left", "bottom"):
            self.sa_plot.getAxis(axis).enableAutoSIPrefix(False)
        self.sa_pre = self.sa_plot.plot([], [], pen=pg.mkPen((30, 120, 210), width=2.5), symbol="o",
                                        symbolBrush=(30, 120, 210), name="SA-LSTM (pretrained)")  # fmt: skip
        self.sa_rand = self.sa_plot.plot([], [], pen=pg.mkPen((150, 150, 150), width=2.5), symbol="s",
                                         symbolBrush=(150, 150, 150), name="LSTM (random init)")  # fmt: skip
        self.sa_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((220, 50, 40), width=1.5, style=Qt.PenStyle.DashLine))
        self.sa_plot.addItem(self.sa_line)
        self.sa_chance = pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen((180, 180, 180), style=Qt.PenStyle.DotLine))
        self.sa_plot.addItem(self.sa_chance)
        sa_lay.addWidget(self.sa_plot, 1)
        sa_row = QHBoxLayout()
        self.sa_task_box = QComboBox()
        self.sa_task_box.addItem("Review polarity", "polarity")
        self.sa_task_box.addItem("WordNet word class", "word_class")
        sa_row.addWidget(self.sa_task_box)
        self.sa_slider = QSlider(Qt.Orientation.Horizontal)
        self.sa_slider.setMinimumWidth(120)
        self.sa_count_label = QLabel()
        self.sa_count_label.setWordWrap(True)
        self.sa_run_btn = QPushButton("Run the experiment again")
        sa_row.addWidget(QLabel("Labels:"))
        sa_row.addWidget(self.sa_slider, 1)
        sa_lay.addLayout(sa_row)
        sa_row2 = QHBoxLayout()
        sa_row2.addWidget(self.sa_count_label, 1)
        sa_row2.addWidget(self.sa_run_btn)
        sa_lay.addLayout(sa_row2)
        self.views.addTab(sa, "SA-LSTM")

        # paragraph view
        para = QWidget()
        p_lay = QVBoxLayout(para)
        self.para_hint = QLabel("A passage, one sentence per line (the model was trained on three KJV verses):")
        self.para_hint.setWordWrap(True)
        p_lay.addWidget(self.para_hint)
        self.para_edit = QPlainTextEdit()
        self.para_edit.setMaximumHeight(110)
        p_lay.addWidget(self.para_edit)
        p_row = QHBoxLayout()
        self.para_btn = QPushButton("Encode to a paragraph vector and decode")
        self.para_next_btn = QPushButton("Next test passage")
        self.para_acc = QLabel()
        p_row.addWidget(self.para_btn)
        p_row.addWidget(self.para_next_btn)
        p_row.addWidget(self.para_acc, 1)
        p_lay.addLayout(p_row)
        self.para_out = QTextBrowser()
        p_lay.addWidget(self.para_out, 1)
        self.views.addTab(para, "Paragraph autoencoder")
        self._para_index = 0

        self.interp_btn.clicked.connect(self.interpolate)
        self.recon_btn.clicked.connect(self.reconstruct)
        self.sample_btn.clicked.connect(self.sample)
        self.result_list.currentRowChanged.connect(self._mark_row)
        self.sa_slider.valueChanged.connect(self._show_sa_mark)
        self.sa_task_box.currentIndexChanged.connect(self._show_sa)
        self.sa_run_btn.clicked.connect(self.run_sa_experiment)
        self.para_btn.clicked.connect(self.reconstruct_paragraph)
        self.para_next_btn.clicked.connect(self._next_passage)
        self._fill_sentence_picks()
        self._show_sa()

    def _fill_sentence_picks(self, corpus: str = "wordnet", keep: bool = False) -> None:
        """Offer ``corpus``'s short test sentences in the A / B lists; an A or B that was one of the previous
        corpus's offers becomes the new corpus's default pair (a sentence the user typed stays; with ``keep``,
        as a saved state sets them, both stay)."""
        if corpus == self._picks_corpus or corpus not in EXAMPLE_PAIRS:
            return
        try:
            test = load_sentences(corpus).test
        except (ResourceError, ValueError):
            return
        lo, hi = PICK_WORDS[corpus]
        picks = list(EXAMPLE_PAIRS[corpus]) + [detokenize(t) for t in test.tokens if lo <= len(t) <= hi][:40]
        picks = list(dict.fromkeys(picks))
        for box, default in zip((self.a_box, self.b_box), EXAMPLE_PAIRS[corpus], strict=True):
            text = box.currentText()
            ours = not keep and (not self._picks_corpus or text in self._picks)
            blocked = box.blockSignals(True)
            box.clear()
            box.addItems(picks)
            box.setCurrentText(default if ours else text)
            box.blockSignals(blocked)
        self._picks_corpus, self._picks = corpus, set(picks)

    # -- state ------------------------------------------------------------------------------------
    def read_more_state(self) -> None:
        self.st.selected = self.result_list.currentRow()

    def check_state(self, st: SentencesTabState) -> None:
        if st.action not in ("interpolate", "sample", "reconstruct"):
            raise ValueError(f"Sentences: unknown action {st.action!r} in the saved state")

    def apply_state(self, _checked, run: bool) -> None:
        self._fill_sentence_picks(self._model_corpus(), keep=True)
        self._show_sa()  # the SA-LSTM curves and mark follow the task and the slider
        self._show_model_info()
        if run:
            selected = self.st.selected
            self.run_demo_blocking()
            if 0 <= selected < self.result_list.count():
                self.result_list.setCurrentRow(selected)

    # -- models -----------------------------------------------------------------------------------
    def on_model_changed(self) -> None:
        self._fill_sentence_picks(self._model_corpus())
        self._show_model_info()
        self.run_current_action()

    def _model_corpus(self) -> str:
        """The shipped corpus the chosen model learnt (meta["dataset"]), "" if unknown or unloadable."""
        try:
            return self.engine().meta.get("dataset", "")
        except (ResourceError, CheckpointError):
            return ""  # _show_model_info says why

    def _show_model_info(self) -> None:
        try:
            e = self.engine()
        except (ResourceError, CheckpointError) as err:
            self.model_info.setText(html.escape(str(err)))
            return
        cfg = e.config
        kind = {"lm": "language model", "vae": "VAE", "ae": "sequence autoencoder", "hier": "hierarchical AE"}
        dec = "LSTM" if cfg.decoder == "lstm" else f"dilated CNN {list(cfg.dilations)}, sees {cfg.context} words"
        text = f"{kind[cfg.kind]} · decoder {dec} · {e.num_parameters():,} parameters · {len(e.vocab):,} words"
        valid = e.meta.get("valid", {})
        if e.is_vae and "kl" in valid:
            text += f"<br>validation: NLL ≤ {valid['nll']:.1f} nats, KL {valid['kl']:.2f} nats, "
            text += f"{valid.get('active_units', '?')} of {cfg.latent} latent units active"
            if valid["kl"] < COLLAPSED_KL:
                text += (
                    "<br><b style='color:#c0392b'>Posterior collapse: KL is near 0, so z carries almost "
                    "nothing and every z decodes to nearly the same sentence.</b>"
                )
        elif "nll" in valid:
            text += f"<br>validation: NLL {valid['nll']:.1f} nats per sentence, perplexity {valid.get('ppl', 0):.0f}"
        self.model_info.setText(text)
        for w in (self.interp_btn, self.recon_btn, self.b_box, self.steps_box, self.method_box):
            w.setEnabled(e.is_vae)

    # -- actions --------------------------------------------------------------------------------
    def run_current_action(self) -> None:
        {"interpolate": self.interpolate, "sample": self.sample, "reconstruct": self.reconstruct}[self.st.action]()

    def _check_words(self, e: SentencesEngine, *texts: str) -> bool:
        for t in texts:
            toks, unknown = e.in_vocab(t)
            if not toks:
                self.error.emit("Sentences: type a sentence first")
                return False
            if unknown:
                self.status.emit(f"Words the model does not know (read as <unk>): {', '.join(unknown[:8])}")
        return True

    def _work(self, e: SentencesEngine, action: str) -> tuple[list[str], np.ndarray | None]:
        """The sentences (and latents) an action shows, for the current controls."""
        st = self.st
        if action == "interpolate":
            return e.interpolate(st.a, st.b, st.steps, st.method)
        if action == "reconstruct":
            z = np.repeat(e.encode_texts([st.a]), 2, axis=0)
            return [e.decode_all(z[:1])[0], e.beam_decode(z[:1])[0]], z
        last = e.sample_all(n=st.count, temperature=st.temperature, seed=st.seed)
        return last.texts, last.z

    def _start(self, action: str) -> None:
        """Run ``action`` for the current model on a worker (an LM can only sample)."""
        self.read_state()
        try:
            e = self.engine()
        except (ResourceError, CheckpointError) as err:
            self.error.emit(f"Sentences: {err}")
            return
        if not e.is_vae or action == "sample":
            self.sample()
            return
        if not self._check_words(e, self.st.a, *([self.st.b] if action == "interpolate" else [])):
            return
        self.st.action = action
        key = self.model_box.currentData()

        def job():
            texts, z = self._work(e, action)
            return key, texts, z, self._latent_map(key, e)

        self.start_job(job, on_return=self._show_result, name=f"sentences-{action}")

    def interpolate(self) -> None:
        self._start("interpolate")

    def reconstruct(self) -> None:
        self._start("reconstruct")

    def sample(self) -> None:
        """Prior samples, written into the list word by word as the decoder makes them."""
        self.read_state()
        st = self.st
        try:
            e = self.engine()
        except (ResourceError, CheckpointError) as err:
            self.error.emit(f"Sentences: {err}")
            return
        self.st.action = "sample"
        key = self.model_box.currentData()

        def job():
            last = None
            for last in e.sample(n=st.count, temperature=st.temperature, seed=st.seed):
                yield last
            return key, last.texts, last.z, self._latent_map(key, e) if e.is_vae else None

        self.result_list.clear()
        self.start_job(job, on_yield=self._show_partial, on_return=self._show_result, name="sentences-sample")

    def _show_partial(self, d: Decoding) -> None:
        texts = d.texts
        while self.result_list.count() < len(texts):
            QListWidgetItem("", self.result_list)
        for i, t in enumerate(texts):
            self.result_list.item(i).setText(f"{i + 1:>6}   {t} …")

    def _latent_map(self, key: str, e: SentencesEngine):
        if key not in self.maps:
            test = load_sentences("wordnet").test
            texts = [detokenize(t) for t in test.tokens[:MAP_POINTS]]
            mu = np.concatenate([e.encode_texts(texts[i : i + 500]) for i in range(0, len(texts), 500)])
            mean, axes, xy = project_2d(mu)
            self.maps[key] = (mean, axes, xy, texts)
        return self.maps[key]

    def _show_result(self, result) -> None:
        key, texts, z, latent_map = result
        self.result_list.clear()
        action = self.st.action
        for i, t in enumerate(texts):
            if action == "interpolate":
                label = "A" if i == 0 else "B" if i == len(texts) - 1 else f"{i / (len(texts) - 1):.2f}"
            elif action == "reconstruct":
                label = ("greedy", "beam")[i]
            else:
                label = str(i + 1)
            typed = {"A": self.st.a, "B": self.st.b}.get(label) if action == "interpolate" else None
            extra = f"\n{'':>6}   (typed: “{typed}”)" if typed else ""  # as typed, under what was decoded from it
            item = QListWidgetItem(f"{label:>6}   {t}{extra}", self.result_list)
            if typed:
                item.setToolTip(f"typed: {typed}\ndecoded from the posterior mean: {t}")
        for item in self.path_labels:
            self.map_plot.removeItem(item)
        self.path_labels = []
        self.mark.setData([], [])
        if latent_map is None:
            self.path_xy = np.empty((0, 2))
            self.map_points.setData([], [])
            self.path_line.setData([], [])
            self.map_plot.setTitle("No latent space: a language model has no z")
        else:
            mean, axes, xy, map_texts = latent_map
            self.map_plot.setTitle("μ(x) of test sentences")  # short: it must fit half a slide at 24 pt
            self.map_points.setData(pos=xy, data=map_texts)
            p = (z - mean) @ axes
            self.path_xy = p
            if action == "interpolate":
                self.path_line.setData(p[:, 0], p[:, 1], pen=pg.mkPen(PATH_COLOR, width=2))
                for i, name in ((0, "A"), (len(p) - 1, "B")):
                    label = pg.TextItem(name, color=PATH_COLOR, anchor=(0.5, 1.3))
                    label.setPos(*p[i])
                    self.map_plot.addItem(label)
                    self.path_labels.append(label)
            else:
                self.path_line.setData(p[:, 0], p[:, 1], pen=None)
        self.result_ready.emit()
        self.status.emit(f"Sentences: {len(texts)} decoded ({action})")

    # -- the homotopy as a process: → and ← walk its lines, each marked on the map --------------------
    def step_forward(self) -> bool:
        row = self.result_list.currentRow()
        if row + 1 < self.result_list.count():
            self.result_list.setCurrentRow(row + 1)
            return True
        return False

    def step_back(self) -> bool:
        row = self.result_list.currentRow()
        if row > 0:
            self.result_list.setCurrentRow(row - 1)
            return True
        return False

    def reset(self) -> None:
        self.result_list.setCurrentRow(0 if self.result_list.count() else -1)

    def _mark_row(self, row: int) -> None:
        if not 0 <= row < len(self.path_xy):
            self.mark.setData([], [])
            return
        self.mark.setData([self.path_xy[row][0]], [self.path_xy[row][1]])

    def run_demo_blocking(self) -> None:
        """Run the current action on the calling thread (screenshots, lessons)."""
        self.cancel_job()
        self.read_state()
        e = self.engine()
        key = self.model_box.currentData()
        if not e.is_vae:
            self.st.action = "sample"
        texts, z = self._work(e, self.st.action)
        self._show_result((key, texts, z, self._latent_map(key, e) if e.is_vae else None))
        if self.views.currentIndex() == 2:
            self.reconstruct_paragraph(blocking=True)

    # -- SA-LSTM ------------------------------------------------------------------------------------
    @staticmethod
    def _shipped_sa_results() -> dict[str, dict[str, Any]]:
        """The figures ``eval sentences`` stored in the manifest (recomputed on request)."""
        return dict(load_manifest().get("sentences-sa-lstm", {}).get("metrics", {}).get("sa_lstm", {}))

    @property
    def sa_task(self) -> str:
        return self.sa_task_box.currentData()

    def _show_sa(self, *_) -> None:
        r = self.sa_results.get(self.sa_task)
        if not r:
            self.sa_pre.setData([], [])
            self.sa_rand.setData([], [])
            self.sa_count_label.setText("No results yet: run the experiment.")
            return
        counts = r["label_counts"]
        xs = np.log10(counts)  # a log axis, ticked at the label counts themselves
        self.sa_pre.setData(xs, 100 * np.asarray(r["pretrained"]))
        self.sa_rand.setData(xs, 100 * np.asarray(r["random"]))
        self.sa_plot.getAxis("bottom").setTicks([[(x, str(n)) for x, n in zip(xs, counts)]])
        self.sa_chance.setPos(100 * r.get("majority", 0.5))
        lo = 100 * min(r["pretrained"] + r["random"] + [r.get("majority", 0.5)])
        hi = 100 * max(r["pretrained"] + r["random"])
        self.sa_plot.setYRange(lo - 3, hi + 3)
        self.sa_plot.setXRange(xs[0] - 0.1, xs[-1] + 0.1)
        self.sa_plot.setTitle(f"{r['test_sentences']} test sentences, {r['seeds']} draws of the labels")
        self.sa_slider.setRange(0, len(counts) - 1)
        self._show_sa_mark(self.sa_slider.value())

    def _show_sa_mark(self, i: int) -> None:
        r = self.sa_results.get(self.sa_task)
        if not r or not 0 <= i < len(r["label_counts"]):
            return
        n = r["label_counts"][i]
        self.sa_line.setPos(np.log10(n))
        gain = 100 * (r["pretrained"][i] - r["random"][i])
        self.sa_count_label.setText(
            f"{n} labels: SA-LSTM {100 * r['pretrained'][i]:.1f}% · random init {100 * r['random'][i]:.1f}% "
            f"({gain:+.1f} points)"
        )

    def run_sa_experiment(self) -> None:
        try:
            sa = self.engine("sentences-sa-lstm")
        except (ResourceError, CheckpointError) as e:
            self.error.emit(f"Sentences: {e}")
            return
        task = self.sa_task

        def job():
            return task, sa_lstm_experiment(sa.model, task)

        self.sa_count_label.setText("Fine-tuning classifiers with and without pretraining… (a few minutes)")
        self.start_job(job, on_return=self._on_sa_result, name="sa-lstm")

    def _on_sa_result(self, result: tuple[str, dict[str, Any]]) -> None:
        task, figures = result
        self.sa_results[task] = figures
        self._show_sa()
        self.result_ready.emit()

    # -- paragraphs ---------------------------------------------------------------------------------
    def _passages(self) -> list[list[str]]:
        if self._test_passages is None:
            test = load_sentences("kjv").test
            self._test_passages = [[detokenize(s) for s in p] for p in test.passages(3)]
        return self._test_passages

    def _next_passage(self) -> None:
        self._para_index = (self._para_index + 1) % len(self._passages())
        self.para_edit.setPlainText("\n".join(self._passages()[self._para_index]))
        self.reconstruct_paragraph()

    def reconstruct_paragraph(self, blocking: bool = False) -> None:
        if not self.para_edit.toPlainText().strip():
            self.para_edit.setPlainText("\n".join(self._passages()[self._para_index]))
        sentences = [s.strip() for s in self.para_edit.toPlainText().splitlines() if s.strip()]
        try:
            hier = self.engine("sentences-hier-ae")
        except (ResourceError, CheckpointError) as e:
            self.error.emit(f"Sentences: {e}")
            return

        def job():
            return sentences, hier.reconstruct_words(sentences)

        if blocking:
            self._show_paragraph(job())
        else:
            self.start_job(job, on_return=self._show_paragraph, name="paragraph")

    def _show_paragraph(self, result) -> None:
        sentences, rec = result
        hier = self.engine("sentences-hier-ae")
        rows, right, total = [], 0, 0
        limit = hier.config.max_len - 1  # the model reads this many tokens of a sentence
        self.para_hint.setText(
            f"A passage, one sentence per line. The model was trained on three consecutive KJV verses and reads "
            f"the first {limit} tokens of each sentence (the rest is grey below)."
        )
        for src, out in zip(sentences, rec):
            words = [w if w in hier.vocab.index else "<unk>" for w in tokenize(src)]
            ref, cut = words[:limit], words[limit:]
            marked = []
            for i, w in enumerate(out):
                ok = i < len(ref) and ref[i] == w
                right += ok
                color = "#1e8449" if ok else "#c0392b"
                marked.append(f"<span style='color:{color}'>{html.escape(w)}</span>")
            total += len(ref)
            rest = f" <span style='color:#999'>{html.escape(' '.join(cut))}</span>" if cut else ""
            rows.append(
                f"<p><b>in:</b> {html.escape(' '.join(ref))}{rest}<br>"
                f"<b>out:</b> {' '.join(marked) or '<i>(empty)</i>'}</p>"
            )
        self.para_out.setHtml("".join(rows))
        self.para_acc.setText(f"{right}/{total} words in place ({100 * right / max(1, total):.0f}%)")
        self.result_ready.emit()

    def figure_title(self) -> str:
        view = self.views.currentIndex()
        if view == 1:
            return "Pretraining as a sequence autoencoder helps with few labels (Dai & Le)"
        if view == 2:
            return "A paragraph through one vector: the hierarchical autoencoder (Li et al.)"
        action = self.st.action
        if action == "sample":
            return "Sentences decoded from the prior p(z)"
        if action == "reconstruct":
            return "A sentence and its reconstructions through z"
        return "From sentence A to sentence B through the latent space"

    def caption(self) -> str:
        view = self.views.currentIndex()
        model = self.model_box.currentText()
        if view == 1:
            return f"{self.sa_task_box.currentText()} · {self.sa_count_label.text()}".strip(" ·")
        if view == 2:
            return f"{model} · {self.para_acc.text()}".strip(" ·")
        action = self.st.action
        if action == "sample":
            return f"{model} · temperature {self.temp_box.value():g} · seed {self.seed_box.value()}"
        if action == "reconstruct":
            return f"{model} · A: “{self.a_box.currentText()}”"
        method = self.method_box.currentText()
        return f"{model} · {method} · A: “{self.a_box.currentText()}” → B: “{self.b_box.currentText()}”"

    def presentation_hidden(self) -> list[QWidget]:
        inner = (self.sa_task_box, self.sa_slider, self.sa_run_btn, self.para_hint, self.para_edit, self.para_btn,
                 self.para_next_btn)  # fmt: skip
        return [*super().presentation_hidden(), *inner]

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        self.views.tabBar().setVisible(not on)
        font = QApplication.font()
        for plot in (self.map_plot, self.sa_plot):
            scale_plot_fonts(plot, font)


__all__ = ["SentencesTab", "SentencesTabState"]
