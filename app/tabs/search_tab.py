"""The Search tab: DESM (Mitra et al. 2016) mixed with BM25 over passages, every score visible.

A query ranks the collection: BM25 picks its top k candidates, DESM re-ranks them and the mixture
α·DESM + (1 - α)·BM25 orders the list; the α slider re-ranks live (scores are kept, so moving it only
re-sorts). The chosen passage is shown with each word shaded by its nearest query word's IN-OUT
cosine. Beside it, a term's nearest words under IN-IN and IN-OUT (the paper's Table 1). Users index a
folder of their own .txt/.md files in the background; unreadable files are listed and skipped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import ask_path_from_combo, fit_table_to_type
from engines.data import documents
from engines.desm import DesmEngine, SearchIndex
from engines.desm.engine import DEFAULT_K

COLLECTIONS = {"wiki": "Wikipedia passages", "newsgroups": "Newsgroup posts", "all": "Wikipedia + newsgroups"}
RESULT_COLUMNS = ("#", "passage", "BM25", "IN-OUT", "IN-IN", "mixture", "BM25 rank")


@dataclass
class SearchTabState:
    model: str = "desm-wiki"
    collection: str = "wiki"  # wiki | newsgroups | all | a folder path
    query: str = "Alabama climate"
    alpha: float = -1.0  # < 0: the model's tuned α
    k: int = DEFAULT_K
    selected: int = 0  # the result row whose passage is shown
    term: str = "space"  # nearest words of this term


class SearchTab(ModelTab):
    state_class = SearchTabState
    state_table = (Bind("model", "model_box"), Bind("query", "query_edit"), Bind("k", "k_box"),
                   Bind("term", "term_edit"))  # fmt: skip
    title = "Search"
    engine_name = "desm"
    engine_class = DesmEngine
    engine_device = "cpu"
    legend = (
        "The table ranks passages by the mixture α·DESM(IN-OUT) + (1 - α)·BM25 (BM25 divided by its "
        "largest value among the candidates), re-ranking BM25's top k; every score is shown, and "
        "'BM25 rank' says where BM25 alone put the passage. IN-OUT cosines are small and can be negative "
        "(OUT vectors share a common direction); only their order matters. The passage view shades each word by its "
        "largest IN-OUT cosine with a query word; query words are bold. Nearest words: IN-IN finds "
        "words of the same type, IN-OUT words that occur with the term."
    )
    indexing = Signal(str, int, int)  # (what, done, total), emitted from the indexing worker's thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self.st = SearchTabState()
        self.indexes: dict[tuple[str, str], SearchIndex] = {}  # (model key, collection) → index
        self.scores: dict[str, np.ndarray] | None = None  # the current query's scores of every passage
        self.ranked: list[int] = []
        self.skipped: list[tuple[str, str]] = []
        self._build()
        self.indexing.connect(self._on_indexing)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        row, form = self.controls_row()
        # the ranking is the figure: labels above their fields leave its passage column the width (80 px at 1024)
        self.controls.setMaximumWidth(250)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.collection_box = QComboBox()
        for key, label in COLLECTIONS.items():
            self.collection_box.addItem(label, key)
        self.collection_box.addItem("Index a folder of .txt/.md files…", "__folder__")
        self.collection_box.activated.connect(self._on_collection)
        self.query_edit = QLineEdit(self.st.query)
        self.query_edit.setPlaceholderText("type a query and press Enter")
        self.query_edit.returnPressed.connect(self.run_query)
        self.search_btn = QPushButton("Search")
        self.search_btn.clicked.connect(self.run_query)
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_label = QLabel()
        self.alpha_slider.valueChanged.connect(self._on_alpha)
        self.k_box = QSpinBox()
        self.k_box.setRange(1, 10_000)
        self.k_box.setValue(self.st.k)
        self.k_box.valueChanged.connect(lambda _: self.rerank())
        self.term_edit = QLineEdit(self.st.term)
        self.term_edit.returnPressed.connect(self.show_nearest)
        self.index_progress = QProgressBar()
        self.index_progress.setFormat("indexing: %v / %m passages")
        self.index_progress.setVisible(False)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        form.addRow("Model", self.model_box)
        form.addRow("Collection", self.collection_box)
        form.addRow(self.index_progress)
        form.addRow("Query", self.query_edit)
        form.addRow(self.search_btn)
        form.addRow("α (DESM weight)", self.alpha_slider)
        form.addRow("", self.alpha_label)
        form.addRow("Re-rank BM25's top", self.k_box)
        form.addRow("Nearest words of", self.term_edit)
        form.addRow(self.info)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(RESULT_COLUMNS))
        self.table.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line per passage, elided: wrapped titles were cut at the row's height
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.currentCellChanged.connect(lambda r, *_: self.show_passage(r))
        self.passage_view = QTextBrowser()
        split.addWidget(self.table)
        split.addWidget(self.passage_view)
        row.addWidget(split, 1)

        side = QWidget()
        lay = QVBoxLayout(side)
        lay.setContentsMargins(0, 0, 0, 0)
        self.nearest_title = QLabel()
        self.nearest_table = QTableWidget(0, 4)
        self.nearest_table.setHorizontalHeaderLabels(("IN-IN", "cos", "IN-OUT", "cos"))
        self.nearest_table.verticalHeader().setVisible(False)
        self.nearest_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.nearest_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.nearest_title)
        lay.addWidget(self.nearest_table)
        self.nearest_title.setWordWrap(True)
        split.addWidget(side)  # under the passage: the four columns get the table's width
        self.nearest_side = side
        split.setSizes([320, 200, 160])
        self._sync_alpha_label()

    # -- the figure ---------------------------------------------------------------------------------
    def figure_title(self) -> str:
        return "Ranking passages: BM25 mixed with DESM's IN-OUT similarity"

    def caption(self) -> str:
        return (f"query “{self.query_edit.text()}” · α = {self.alpha:.2f} (DESM weight) · re-ranking BM25's top "
                f"{self.k_box.value()} · {self.collection_box.currentText()}")  # fmt: skip

    def presentation_hidden(self) -> list[QWidget]:
        """The nearest words too: on a slide the ranking and the passage are the figure (all three were cut)."""
        return [*super().presentation_hidden(), self.nearest_side]

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        fit_table_to_type(self.table, on)

    # -- state ------------------------------------------------------------------------------------
    @property
    def alpha(self) -> float:
        return self.alpha_slider.value() / 100

    def _sync_alpha_label(self) -> None:
        tuned = self._tuned_alpha()
        self.alpha_label.setText(f"α = {self.alpha:.2f}" + (f" (tuned: {tuned:.2f})" if tuned is not None else ""))

    def _tuned_alpha(self) -> float | None:
        try:
            return self.engine().alpha
        except Exception:  # no model yet: the label just leaves it out
            return None

    def read_more_state(self) -> None:
        self.st.alpha = self.alpha
        self.st.selected = max(0, self.table.currentRow())

    def check_state(self, st: SearchTabState) -> None:
        if st.collection not in COLLECTIONS and not st.collection:
            raise ValueError("Search: no collection in the saved state")
        if not (st.alpha < 0 or 0 <= st.alpha <= 1):
            raise ValueError(f"Search: α = {st.alpha} in the saved state is outside 0..1")

    def apply_state(self, _checked, run: bool) -> None:
        if self.st.collection in COLLECTIONS:
            self.collection_box.setCurrentIndex(self.collection_box.findData(self.st.collection))
        self._set_alpha(self.st.alpha)
        if run:
            self.run_demo_blocking()  # the same state shows the same ranking at once

    def _set_alpha(self, alpha: float) -> None:
        a = alpha if alpha >= 0 else (self._tuned_alpha() or 0.5)
        self.alpha_slider.blockSignals(True)
        self.alpha_slider.setValue(round(a * 100))
        self.alpha_slider.blockSignals(False)
        self._sync_alpha_label()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self.ranked and not self.busy:
            self._set_alpha(self.st.alpha)
            self.run_query()
            self.show_nearest()

    def on_model_changed(self) -> None:
        self._set_alpha(-1)
        self.run_query()
        self.show_nearest()

    # -- indexing ---------------------------------------------------------------------------------
    def _on_collection(self, _index: int) -> None:
        key = self.collection_box.currentData()
        if key == "__folder__":
            path = ask_path_from_combo(self.collection_box, self.st.collection, self, "Index a folder of text files")
            if path:
                self.index_folder(path)
            return
        self.st.collection = key
        self.run_query()

    def index_folder(self, path: str) -> None:
        """Read and index a user's folder on a worker, with progress; then search it."""
        from app.widgets import add_and_select

        add_and_select(self.collection_box, f"folder: {path}", path)
        self.st.collection = path
        self.run_query()

    def _index_key(self) -> tuple[str, str]:
        return (self.model_box.currentData(), self.st.collection)

    def _build_index(self, engine: DesmEngine, collection: str):
        """Worker thread: read (a folder) and index; progress goes out through the ``indexing`` signal
        (queued to the GUI thread). Returns (index, skipped)."""
        stop = documents.load_corpus(()).stopwords
        skipped: list[tuple[str, str]] = []
        if collection in COLLECTIONS:
            corpus = documents.load_corpus()
            passages = [p for p in corpus.passages if collection == "all" or p.source == collection]
        else:
            passages, skipped = documents.read_folder(
                collection, stop, progress=lambda d, t: self.indexing.emit("files", d, t)
            )
            if not passages:
                raise documents.DocumentDataError(f"no readable text in {collection}")
        index = SearchIndex(engine, passages, stop, progress=lambda d, t: self.indexing.emit("passages", d, t))
        return index, skipped

    def _on_indexing(self, what: str, done: int, total: int) -> None:
        self.index_progress.setFormat(f"indexing: %v / %m {what}")
        self.index_progress.setRange(0, total)
        self.index_progress.setValue(done)

    # -- searching ----------------------------------------------------------------------------------
    def run_query(self) -> None:
        key = self._index_key()
        if key in self.indexes:
            self._search()
            return
        try:
            engine = self.engine()
        except Exception as e:
            self.error.emit(f"Search: {e}")
            return
        self.index_progress.setVisible(True)
        self.index_progress.setRange(0, 0)
        self.status.emit(f"Search: indexing {COLLECTIONS.get(key[1], key[1])}…")

        def on_return(result):
            index, skipped = result
            self.indexes[key] = index
            self.skipped = skipped
            self.index_progress.setVisible(False)
            self._search()

        job = self.start_job(self._build_index, engine, key[1], on_return=on_return, name="index")
        job.errored.connect(lambda _msg: self.index_progress.setVisible(False))

    def build_index_blocking(self) -> None:
        key = self._index_key()
        if key not in self.indexes:
            self.indexes[key], self.skipped = self._build_index(self.engine(), key[1])

    def _search(self) -> None:
        self.index_progress.setVisible(False)
        index = self.indexes[self._index_key()]
        query = self.query_edit.text().strip()
        self.scores = index.scores(query) if query else None
        known, unknown = index.query_words(query)
        bits = [f"{len(index):,} passages indexed"]
        if unknown:
            bits.append("not in the embeddings (BM25 only): <i>" + html.escape(", ".join(unknown)) + "</i>")
        if query and not known and not unknown:
            bits.append("the query has only stop words")
        if self.skipped:
            names = "; ".join(f"{html.escape(f)} ({html.escape(r)})" for f, r in self.skipped[:8])
            more = f" and {len(self.skipped) - 8} more" if len(self.skipped) > 8 else ""
            bits.append(f"<span style='color:#b00'>skipped {len(self.skipped)} file(s): {names}{more}</span>")
        self.info.setText("<br>".join(bits))
        self.rerank(select=self.st.selected)
        self.status.emit(f"Search: '{query}' ranked over {len(index):,} passages")

    def _on_alpha(self, _value: int) -> None:
        self._sync_alpha_label()
        self.rerank()

    def rerank(self, select: int = 0) -> None:
        """Order by the mixture at the slider's α (only a sort: the scores are kept)."""
        index = self.indexes.get(self._index_key())
        if index is None or self.scores is None:
            self.table.setRowCount(0)
            self.passage_view.clear()
            self.ranked = []
            return
        s, k = self.scores, self.k_box.value()
        self.ranked = index.rank(s, "mixture", self.alpha, k, top=20)
        bm_order = np.argsort(-s["bm25"], kind="stable")
        bm_rank = np.empty(len(bm_order), np.int64)
        bm_rank[bm_order] = np.arange(1, len(bm_order) + 1)
        mix = index.mixed(s, self.alpha, k)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.ranked))
        for r, i in enumerate(self.ranked):
            p = index.passages[i]
            where = f"{p.title} · {p.section}" if p.section else p.title
            first = " ".join(p.text.split()[:8])
            where = f"{where} — “{first}…”"  # rows of one section differ by their first words
            cells = (str(r + 1), where, f"{s['bm25'][i]:.2f}", f"{s['in_out'][i]:.3f}", f"{s['in_in'][i]:.3f}",
                     "–" if np.isnan(mix[i]) else f"{mix[i]:.3f}", str(bm_rank[i]))  # fmt: skip
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 1:
                    item.setToolTip(p.text[:400])
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        row = min(max(select, 0), len(self.ranked) - 1)
        if row >= 0:
            self.table.setCurrentCell(row, 1)
            self.show_passage(row)
        else:
            self.passage_view.setHtml("<i>No passage matches.</i>")
        self.result_ready.emit()

    def show_passage(self, row: int) -> None:
        index = self.indexes.get(self._index_key())
        if index is None or not 0 <= row < len(self.ranked):
            return
        self.st.selected = row
        i = self.ranked[row]
        p = index.passages[i]
        query = self.query_edit.text()
        qwords = set(documents.words(query))
        parts = []
        for tok, sim in index.highlight(query, i):
            t = html.escape(tok)
            ws = documents.words(tok)
            if ws and ws[0] in qwords:
                t = f"<b>{t}</b>"
            if sim > 0.15:  # shade: light to strong orange with the IN-OUT cosine
                a = min(1.0, (sim - 0.15) / 0.35)
                t = f"<span style='background-color: rgba(255,140,0,{0.15 + 0.6 * a:.2f})' title='{sim:.2f}'>{t}</span>"
            parts.append(t)
        head = html.escape(f"{p.title} · {p.section}" if p.section else p.title)
        self.passage_view.setHtml(f"<h3>{head}</h3><p>{' '.join(parts)}</p>")

    def show_nearest(self) -> None:
        term = self.term_edit.text().strip().lower()
        try:
            near = self.engine().nearest(term, 12)
        except Exception as e:
            self.error.emit(f"Search: {e}")
            return
        if not near["in_in"]:
            self.nearest_title.setText(f"'{html.escape(term)}' is not in the embeddings")
            self.nearest_table.setRowCount(0)
            return
        self.nearest_title.setText(f"Nearest words of <b>{html.escape(term)}</b> (cosine)")
        self.nearest_table.setRowCount(len(near["in_in"]))
        for r, (a, b) in enumerate(zip(near["in_in"], near["in_out"])):
            for c, text in enumerate((a[0], f"{a[1]:.2f}", b[0], f"{b[1]:.2f}")):
                item = QTableWidgetItem(text)
                if c % 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.nearest_table.setItem(r, c, item)

    def run_demo_blocking(self) -> None:
        self.cancel_job()
        self._set_alpha(self.st.alpha)
        self.build_index_blocking()
        self._search()
        self.show_nearest()

    # stepping keys: α in steps of 0.05 (the teach-in's "ranking as α moves")
    def step_forward(self) -> bool:
        """α up by 0.05 (the ranking re-sorts live); False at α = 1."""
        before = self.alpha_slider.value()
        self.alpha_slider.setValue(min(100, before + 5))
        return self.alpha_slider.value() != before

    def step_back(self) -> bool:
        before = self.alpha_slider.value()
        self.alpha_slider.setValue(max(0, before - 5))
        return self.alpha_slider.value() != before


__all__ = ["SearchTab", "SearchTabState"]
