"""The DocNADE tab: a document in, its perplexity and each word's log-probability out; the words each
hidden unit favours; the nearest documents by hidden representation."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.presentation import okabe_rgb
from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import fit_table_to_type, scale_plot_fonts
from engines.data import documents
from engines.docnade import DocNadeEngine
from engines.docnade.engine import DocScore


@dataclass
class DocNadeTabState:
    model: str = "docnade-wiki"
    text: str = ""  # "" = the first test passage of the shipped corpus
    passage: int = 0  # which test passage "Next test passage" reached
    view: int = 0  # 0 heat-map, 1 topics, 2 nearest documents


LOGP_LOW, LOGP_HIGH = -11.0, -3.0  # the colour scale's ends (nats)
IMPROBABLE, PROBABLE = okabe_rgb("orange"), okabe_rgb("sky blue")  # Okabe-Ito: safe for colour-blind eyes


def _rgb(logp: float, lo: float = LOGP_LOW, hi: float = LOGP_HIGH) -> tuple[int, int, int]:
    """Orange (improbable) through light grey to sky blue (probable) for a word's log-probability."""
    t = float(np.clip((logp - lo) / (hi - lo), 0, 1))
    mid = (236, 236, 236)
    a, b, u = (IMPROBABLE, mid, 2 * t) if t < 0.5 else (mid, PROBABLE, 2 * t - 1)
    return tuple(int(round(x + (y - x) * u)) for x, y in zip(a, b))


def colour_legend_html() -> str:
    swatch = "<span style='background:rgb({},{},{})'>&nbsp;{}&nbsp;</span>"
    steps = [(LOGP_LOW, f"log p ≤ {LOGP_LOW:g}: improbable"), (-7.0, "-7"), (LOGP_HIGH, f"≥ {LOGP_HIGH:g}: probable")]
    return (
        "Colour: "
        + " ".join(swatch.format(*_rgb(v), html.escape(t)) for v, t in steps)
        + (" · grey text: not scored (stop word or outside the vocabulary)")
    )


def _colour(logp: float) -> str:
    return "rgb({},{},{})".format(*_rgb(logp))


class DocNadeTab(ModelTab):
    state_class = DocNadeTabState
    state_table = (Bind("model", "model_box"), Bind("text", "text_edit"), Bind("view", "views"))
    title = "DocNADE"
    engine_name = "docnade"
    engine_class = DocNadeEngine
    legend = (
        "Heat-map: the document as written; each word the model reads is coloured by log p(v_i | v_<i) "
        "given the words before it, orange improbable, sky blue probable (hover for the value); stop words and "
        "words outside the 2,000-word vocabulary are grey. The plot shows the same per position. "
        "Topics: for each hidden "
        "unit, the words with the largest weight W[v, j] into it. Nearest: the shipped passages whose "
        "h(v) = g(c + Σ W[:, v_k]) has the largest cosine with the document's."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.st = DocNadeTabState()
        self.score: DocScore | None = None
        self._doc_vectors: dict[str, tuple] = {}
        self._coherence: dict[str, list[float]] = {}  # per model: each hidden unit's NPMI coherence
        self._corpus: documents.DocumentCorpus | None = None
        self._build()

    def _build(self) -> None:
        row, form = self.controls_row()
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText("paste or type a document")
        self.score_btn = QPushButton("Score this document")
        self.score_btn.clicked.connect(self.run_score)
        self.next_btn = QPushButton("Next test passage")
        self.next_btn.clicked.connect(self.next_passage)
        self.ppl_label = QLabel()
        self.ppl_label.setWordWrap(True)
        self.ppl_label.setTextFormat(Qt.TextFormat.RichText)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        form.addRow("Model", self.model_box)
        form.addRow(self.model_info)
        form.addRow(self.text_edit)
        form.addRow(self.next_btn)
        form.addRow(self.score_btn)
        form.addRow(self.ppl_label)

        self.views = QTabWidget()
        heat = QSplitter(Qt.Orientation.Vertical)
        self.heat_view = QTextBrowser()
        self.logp_plot = pg.PlotWidget(title="log p(v_i | v_&lt;i) per scored word (nats)")
        self.logp_plot.setLabel("bottom", "scored word, in reading order")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#4a90d9")
        self.logp_plot.addItem(self.bars)
        heat_top = QWidget()
        heat_lay = QVBoxLayout(heat_top)
        heat_lay.setContentsMargins(0, 0, 0, 0)
        heat_lay.addWidget(self.heat_view, 1)
        self.colour_legend = QLabel(colour_legend_html())
        self.colour_legend.setTextFormat(Qt.TextFormat.RichText)
        self.colour_legend.setWordWrap(True)
        heat_lay.addWidget(self.colour_legend)
        heat.addWidget(heat_top)
        heat.addWidget(self.logp_plot)
        heat.setSizes([260, 240])
        self.views.addTab(heat, "Word heat-map")
        self.topics_table = QTableWidget(0, 3)
        self.topics_table.setHorizontalHeaderLabels(("unit", "NPMI", "words it favours (ordered by NPMI coherence)"))
        self.topics_table.verticalHeader().setVisible(False)
        self.topics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.topics_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.views.addTab(self.topics_table, "Topics (hidden units)")
        near = QWidget()
        lay = QVBoxLayout(near)
        self.near_table = QTableWidget(0, 3)
        self.near_table.setHorizontalHeaderLabels(("cosine", "passage", "start"))
        self.near_table.verticalHeader().setVisible(False)
        self.near_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.near_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.near_table)
        self.views.addTab(near, "Nearest documents")
        self.views.currentChanged.connect(lambda i: setattr(self.st, "view", i))
        row.addWidget(self.views, 1)

    # -- data ---------------------------------------------------------------------------------------
    def corpus(self) -> documents.DocumentCorpus:
        if self._corpus is None:
            self._corpus = documents.load_corpus()
        return self._corpus

    def _test_passage(self, n: int) -> str:
        ids = self.corpus().subset(split="test")
        return self.corpus().passages[ids[n % len(ids)]].text

    def next_passage(self) -> None:
        self.st.passage += 1
        self.text_edit.setPlainText(self._test_passage(self.st.passage))
        self.run_score()

    # -- state ----------------------------------------------------------------------------------------
    def read_more_state(self) -> None:
        if self.st.text and self.st.text == self._test_passage(self.st.passage):
            self.st.text = ""  # the shipped test passage, named by its number

    def apply_state(self, _checked, run: bool) -> None:
        if not self.st.text:
            self.text_edit.setPlainText(self._test_passage(self.st.passage))
        if run:
            self.run_demo_blocking()  # the same state shows the same scores at once

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.score is None and not self.busy:
            if not self.text_edit.toPlainText().strip():
                self.text_edit.setPlainText(self._test_passage(self.st.passage))
            self.run_score()

    def on_model_changed(self) -> None:
        self.run_score()

    # -- work -----------------------------------------------------------------------------------------
    def _work(self, engine: DocNadeEngine, text: str, key: str):
        """Worker: the document's score, topics, and nearest shipped passages."""
        score = engine.score_text(text)
        cached = self._doc_vectors.get(key)  # (read here; written on the GUI thread, in _show)
        train_ids = self.corpus().subset(split="train")
        if cached is None:
            docs = [engine.encode_words(self.corpus().content_words(self.corpus().passages[i].text)) for i in train_ids]
            vecs = engine.document_vectors(docs)
            cached = (np.asarray(train_ids), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
        ids, vecs = cached
        topics = engine.topics(12)
        coherence = self._coherence.get(key)
        if coherence is None:  # NPMI of each unit's top 10 words over the training passages (gensim's c_npmi)
            from engines.docnade.experiments import npmi_coherence

            texts = [self.corpus().content_words(self.corpus().passages[i].text) for i in train_ids]
            coherence = npmi_coherence(topics, texts)
        near: list[tuple[float, int]] = []
        if score.words:
            d = engine.document_vectors([engine.encode_words(score.words)])[0]
            sims = vecs @ (d / max(np.linalg.norm(d), 1e-8))
            near = [(float(sims[j]), int(ids[j])) for j in np.argsort(-sims)[:15]]
        return score, topics, near, (key, cached, coherence)

    def run_score(self) -> None:
        try:
            engine = self.engine()
        except Exception as e:
            self.error.emit(f"DocNADE: {e}")
            return
        self._show_model_info(engine)
        text = self.text_edit.toPlainText()
        self.start_job(self._work, engine, text, self.model_box.currentData(), on_return=self._show, name="docnade")

    def run_demo_blocking(self) -> None:
        self.cancel_job()
        engine = self.engine()
        self._show_model_info(engine)
        self._show(self._work(engine, self.text_edit.toPlainText(), self.model_box.currentData()))

    def _show_model_info(self, e: DocNadeEngine) -> None:
        cfg = e.config
        kind = "DocNADE-LM" if cfg.lm_order > 1 else "DocNADE"
        valid = e.meta.get("valid", {})
        ppl = f" · valid ppl {valid['ppl']:.0f}" if "ppl" in valid else ""
        self.model_info.setText(
            f"{kind} · H = {cfg.hidden} · {cfg.softmax} softmax · {len(e.vocab):,} words · "
            f"{e.num_parameters():,} parameters{ppl}"
        )

    def _show(self, result) -> None:
        score, topics, near, (key, doc_vectors, coherence) = result
        self._doc_vectors[key], self._coherence[key] = doc_vectors, coherence  # the caches: on the GUI thread
        self.score = score
        if not score.words:
            self.ppl_label.setText("<b>No word of this document is in the model's vocabulary.</b>")
            self.heat_view.setHtml("<i>nothing to score</i>")
            self.bars.setOpts(x=[], height=[])
        else:
            lp = score.log_probs
            bits = [f"<b>perplexity {score.perplexity:,.0f}</b> over {len(lp)} words "
                    f"(mean log p {lp.mean():.2f} nats)"]  # fmt: skip
            if score.unknown:
                shown = ", ".join(sorted(set(score.unknown))[:12])
                bits.append(
                    f"{len(score.unknown)} word(s) outside the vocabulary, not scored: <i>{html.escape(shown)}</i>"
                )
            self.ppl_label.setText("<br>".join(bits))
            self.heat_view.setHtml(self._heat_html(self.text_edit.toPlainText(), score))
            brushes = [pg.mkBrush(*_rgb(v)) for v in lp]
            self.bars.setOpts(x=np.arange(len(lp)), height=lp, width=0.8, brushes=brushes)
            every = max(1, -(-len(lp) // 30))  # at most 30 word labels; the rest by hovering in the heat-map
            ticks = [(i, w) for i, w in enumerate(score.words) if i % every == 0]
            self.logp_plot.getAxis("bottom").setTicks([ticks, []])
        self.topics_table.setRowCount(len(topics))
        order = np.argsort(-np.asarray(coherence), kind="stable")  # the most coherent units first
        for r, j in enumerate(order):
            self.topics_table.setItem(r, 0, QTableWidgetItem(str(int(j))))
            npmi = QTableWidgetItem(f"{coherence[j]:+.3f}")
            npmi.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.topics_table.setItem(r, 1, npmi)
            self.topics_table.setItem(r, 2, QTableWidgetItem(", ".join(topics[j])))
        self.near_table.setRowCount(len(near))
        for r, (sim, i) in enumerate(near):
            p = self.corpus().passages[i]
            where = f"{p.title} · {p.section}" if p.section else p.title
            self.near_table.setItem(r, 0, QTableWidgetItem(f"{sim:.3f}"))
            self.near_table.setItem(r, 1, QTableWidgetItem(where))
            self.near_table.setItem(r, 2, QTableWidgetItem(p.text[:160].replace("\n", " ")))
        self.near_table.resizeColumnToContents(1)
        self.result_ready.emit()

    @staticmethod
    def _heat_html(text: str, score: DocScore) -> str:
        """The document as written, each scored word on its colour (hover: log p); the words the model does
        not read (stop words, words outside the vocabulary) in grey."""
        scored = iter(zip(score.words, score.log_probs))
        pending = next(scored, None)
        out, pos = [], 0
        low = text.lower()
        if len(low) != len(text):  # a case change altered the length: show the scored words alone
            low, text = " ".join(score.words), " ".join(score.words)
        for m in documents.WORD_RE.finditer(low.replace("’", "'")):
            out.append(html.escape(text[pos : m.start()]))
            word = text[m.start() : m.end()]
            if pending is not None and m.group() == pending[0]:
                cell = "<span style='background-color:{}' title='log p = {:.2f}'>{}</span>"
                out.append(cell.format(_colour(pending[1]), pending[1], html.escape(word)))
                pending = next(scored, None)
            else:
                out.append(f"<span style='color:#999'>{html.escape(word)}</span>")
            pos = m.end()
        out.append(html.escape(text[pos:]))
        return "<p style='line-height:150%'>" + "".join(out).replace("\n", "<br>") + "</p>"

    VIEW_TITLES = (
        "DocNADE: each word given the words before it",
        "What DocNADE's hidden units stand for",
        "Documents near this one in DocNADE's hidden space",
    )

    def figure_title(self) -> str:
        return self.VIEW_TITLES[self.views.currentIndex()]

    def caption(self) -> str:
        passage = "your document" if self.st.text else f"test passage {self.st.passage + 1}"
        return f"{self.model_box.currentText()} · {passage}"

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        from PySide6.QtWidgets import QApplication

        self.views.tabBar().setVisible(not on)
        scale_plot_fonts(self.logp_plot, QApplication.font())
        for table in (self.topics_table, self.near_table):
            fit_table_to_type(table, on)


__all__ = ["DocNadeTab", "DocNadeTabState"]
