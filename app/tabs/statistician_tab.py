"""The Neural Statistician tab: few-shot sets the user fills by drag and drop (files, folders, or the gallery
of dataset samples), new items generated from each set's context, a query classified among the sets, and
a map of context means."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QMimeData, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.canvas import ImageGrid, gray_qimage
from app.fonts import register_letter_fonts
from app.imageio import IMAGE_SUFFIXES, image_to_array
from app.presentation import OKABE_ITO
from app.tabs.base import ModelTab
from app.tabs.state import Bind
from app.widgets import scale_plot_fonts
from engines.figures import pca_2d
from engines.statistician import StatisticianEngine
from engines.statistician.data import binarise, decode_images, demo_sets, encode_images, load_sets, save_sets
from engines.statistician.engine import RULES, Classification, SetSamples

MIME = "application/x-genplay-images"  # k x 28 x 28 uint8 images, dragged from the gallery or a set
SOURCES = {  # gallery and map sources: label -> (dataset, split)
    "Held-out scripts": ("glyphs", 2),
    "Training scripts": ("glyphs", 0),
    "MNIST digits": ("mnist", 2),
    "Fashion-MNIST": ("fashion", 2),
}
SYNTHETIC = "Synthetic 1-D sets (the paper's figure)"
MAX_ITEMS = 50  # per set: more adds nothing a user can see, and keeps refreshes instant
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
]  # fmt: skip


@dataclass
class StatisticianTabState:
    model: str = "statistician-glyphs-conv"
    sets: list[dict[str, str]] = field(default_factory=list)  # {"name", "images": base64 of (k, 28, 28) uint8}
    query: str = ""  # base64 of one image, "" = none
    gallery: str = "Held-out scripts"
    map_source: str = "Held-out scripts"
    samples: int = 16  # generated per set
    seed: int = 0
    view: int = 0  # 0 classify, 1 context map
    rule: str = "bound"  # how a query is classified: engines.statistician.engine.RULES


def read_image_files(paths: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """Images (28, 28) uint8 from files and folders (recursively, sorted), and the names of files that are
    not images or cannot be read."""
    images, rejected = [], []
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            img = QImage(str(f)) if f.suffix.lower() in IMAGE_SUFFIXES else QImage()
            if img.isNull():
                rejected.append(f.name)
            else:
                images.append(image_to_array(img))
    return images, rejected


def images_mime(images: np.ndarray) -> QMimeData:
    mime = QMimeData()
    mime.setData(MIME, QByteArray(np.ascontiguousarray(images, np.uint8).tobytes()))
    return mime


def images_from_mime(mime: QMimeData) -> tuple[list[np.ndarray], list[str]]:
    """What a drop carries: gallery images, or files and folders from the file manager."""
    if mime.hasFormat(MIME):
        raw = bytes(mime.data(MIME).data())
        return list(np.frombuffer(raw, np.uint8).reshape(-1, 28, 28).copy()), []
    if mime.hasUrls():
        return read_image_files([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
    return [], []


def seen(images: np.ndarray) -> np.ndarray:
    """The images as the model sees them: binarised at half intensity, 0 / 255."""
    return (binarise(images).reshape(-1, 28, 28) * 255).astype(np.uint8)


class DropStrip(QWidget):
    """A row of 28 x 28 images as the model sees them; accepts drops of images, files and folders, and
    removes an image on a click of its corner cross. ``changed`` fires after every edit."""

    dropped = Signal(list, list)  # images added, names of files refused
    changed = Signal()

    def __init__(self, placeholder: str, max_items: int = MAX_ITEMS, cell: int = 44, parent=None):
        super().__init__(parent)
        self.placeholder = placeholder
        self.max_items = max_items
        self.cell_size = cell
        self._hover_cell = -1  # the item under the mouse (its remove mark shows)
        self.setMouseTracking(True)
        self.images: list[np.ndarray] = []
        self.setAcceptDrops(True)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self._hover = False
        self._fit_height()

    def sizeHint(self) -> QSize:
        return QSize(400, self.heightForWidth(max(self.width(), 400)))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self.cell_size + 8, self.heightForWidth(max(self.width(), self.cell_size + 8)))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        """As many rows of cells as the images need at this width (at least one): every item stays visible."""
        per_row = max(1, (width - 4) // (self.cell_size + 4))
        return max(1, -(-len(self.images) // per_row)) * (self.cell_size + 4) + 4

    def _per_row(self) -> int:
        return max(1, (self.width() - 4) // (self.cell_size + 4))

    def _fit_height(self) -> None:
        self.setMinimumHeight(self.heightForWidth(self.width()))
        self.updateGeometry()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if self.height() < self.heightForWidth(self.width()):
            self._fit_height()

    def set_images(self, images: list[np.ndarray]) -> None:
        self.images = [np.asarray(i, np.uint8) for i in images][-self.max_items :]
        self._fit_height()
        self.update()

    def add(self, images: list[np.ndarray]) -> None:
        if images:
            self.set_images(self.images + list(images))
            self.changed.emit()

    def _cell_rect(self, i: int) -> QRectF:
        c = self.cell_size
        r, k = divmod(i, self._per_row())
        return QRectF(4 + k * (c + 4), 4 + r * (c + 4), c, c)

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(60, 90, 140) if self._hover else self.palette().base().color())
        p.setPen(QPen(self.palette().mid().color(), 1, Qt.PenStyle.DashLine))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        if not self.images:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        for i, img in enumerate(seen(np.stack(self.images)) if self.images else []):
            r = self._cell_rect(i)
            p.drawImage(r, gray_qimage(img))
            if i == self._hover_cell:  # the remove mark only on the item under the mouse: off the ink otherwise
                x = QRectF(r.right() - 11, r.top() + 1, 10, 10)
                p.setPen(QPen(OKABE_ITO["vermillion"], 2))
                p.drawLine(x.topLeft(), x.bottomRight())
                p.drawLine(x.topRight(), x.bottomLeft())
        p.end()

    def set_cell_size(self, cell: int) -> None:
        self.cell_size = cell
        self._fit_height()
        self.update()

    def leaveEvent(self, e) -> None:
        self._hover_cell = -1
        self.update()
        super().leaveEvent(e)

    def mousePressEvent(self, e) -> None:
        pos = e.position()
        self._press = None
        for i in range(len(self.images)):
            r = self._cell_rect(i)
            if QRectF(r.right() - 14, r.top(), 14, 14).contains(pos):
                del self.images[i]
                self._fit_height()
                self.update()
                self.changed.emit()
                return
            if r.contains(pos) and e.button() == Qt.MouseButton.LeftButton:
                self._press = (i, pos)  # a drag starts once the mouse moves (to the query, another set)
                return

    def mouseMoveEvent(self, e) -> None:
        from PySide6.QtGui import QDrag
        from PySide6.QtWidgets import QApplication

        over = next((i for i in range(len(self.images)) if self._cell_rect(i).contains(e.position())), -1)
        if over != self._hover_cell:
            self._hover_cell = over
            self.update()
        press = getattr(self, "_press", None)
        if press is None or (e.position() - press[1]).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        drag = QDrag(self)
        drag.setMimeData(images_mime(self.images[press[0]][None]))
        drag.setPixmap(QPixmap.fromImage(gray_qimage(self.images[press[0]]).scaled(40, 40)))
        drag.exec(Qt.DropAction.CopyAction)

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasFormat(MIME) or e.mimeData().hasUrls():
            self._hover = True
            self.update()
            e.acceptProposedAction()

    def dragLeaveEvent(self, _e) -> None:
        self._hover = False
        self.update()

    def dropEvent(self, e) -> None:
        self._hover = False
        self.accept_mime(e.mimeData())
        e.acceptProposedAction()

    def accept_mime(self, mime: QMimeData) -> None:
        images, rejected = images_from_mime(mime)
        self.dropped.emit(images, rejected)
        self.add(images)
        self.update()


_drawable: dict[tuple[str, int], bool] = {}


def displayable(text: str, font) -> str:
    """``text`` without the characters no installed font can draw (a script's letter where its Noto font is
    missing would show as a box; the set's items show the letter anyway, the tooltip keeps the whole name): the
    application font first, then any family Qt lists (cached)."""
    from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics

    def drawable(ch: str) -> bool:
        key = (font.family(), ord(ch))
        if key not in _drawable:
            if ord(ch) < 0x250 or QFontMetrics(font).inFontUcs4(ord(ch)):
                _drawable[key] = True
            else:
                _drawable[key] = any(QFontMetrics(QFont(f)).inFontUcs4(ord(ch)) for f in QFontDatabase.families())
        return _drawable[key]

    return " ".join("".join(c for c in text if drawable(c)).split())


class SetRow(QFrame):
    """One set: its name, its items (a drop target), and what the model generates from its context."""

    edited = Signal()
    remove = Signal(object)

    def __init__(self, name: str, images: list[np.ndarray], parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.full_name = name  # the set's name as given; the line shows what this machine's fonts can draw
        self.name = QLineEdit(displayable(name, self.font()))
        self.name.setToolTip(name)
        self.name.setMinimumWidth(110)
        self.name.setMaximumWidth(240)
        self.name.editingFinished.connect(self.edited)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Remove this set")
        close.clicked.connect(lambda: self.remove.emit(self))
        close.setMinimumWidth(close.sizeHint().width())
        self.strip = DropStrip("drop images, folders, or gallery samples here")
        self.strip.set_images(images)
        self.strip.changed.connect(self.edited)
        self.info = QLabel()
        pal = self.info.palette()  # a palette, not a style sheet: a style sheet pins the font against a slide's
        pal.setColor(QPalette.ColorRole.WindowText, QColor("gray"))
        self.info.setPalette(pal)
        self.info.setWordWrap(True)
        self.samples = ImageGrid()
        self.samples.setMinimumSize(100, 100)
        self.samples.setMaximumWidth(150)
        left = QVBoxLayout()
        head = QHBoxLayout()
        head.addWidget(self.name, 1)
        head.addWidget(close)
        left.addLayout(head)
        left.addWidget(self.strip)
        left.addWidget(self.info)
        left.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addWidget(self.samples)

    def images(self) -> list[np.ndarray]:
        return self.strip.images

    def name_text(self) -> str:
        """The set's name: as given, unless the user edited the line."""
        return self.full_name if self.name.text() == displayable(self.full_name, self.font()) else self.name.text()

    def set_presenting(self, on: bool) -> None:
        """Samples at least 56 px each on a slide (a 4 x 4 grid), the name without its box."""
        side = 4 * 60 if on else 100
        self.name.setMaximumWidth(16777215 if on else 240)
        self.samples.setMinimumSize(side, side)
        self.samples.setMaximumWidth(16777215 if on else 150)
        self.strip.set_cell_size(64 if on else 44)

    def show_samples(self, s: SetSamples | None) -> None:
        if s is None:
            self.samples.set_content(None)
            self.info.setText("empty: no context")
            return
        self.samples.set_content(s.samples)
        sd = float(np.exp(0.5 * s.logvar).mean())
        self.info.setText(f"{len(self.images())} items · mean σ_c {sd:.3f}")


class Gallery(QListWidget):
    """Dataset samples to drag into a set or onto the query; a double-click adds one to the last set."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(40, 40))
        self.setGridSize(QSize(48, 48))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setDragEnabled(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)

    def fill(self, groups: list[tuple[str, np.ndarray]]) -> None:
        self.clear()
        for name, images in groups:
            for img in images:
                item = QListWidgetItem(QIcon(QPixmap.fromImage(gray_qimage(img).scaled(40, 40))), "")
                item.setToolTip(name)
                item.setData(Qt.ItemDataRole.UserRole, img)
                self.addItem(item)

    def mimeData(self, items) -> QMimeData:  # noqa: N802 (Qt's name)
        return images_mime(np.stack([i.data(Qt.ItemDataRole.UserRole) for i in items]))

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME]


class StatisticianTab(ModelTab):
    state_class = StatisticianTabState
    state_table = (
        Bind("model", "model_box"), Bind("gallery", "gallery_box", by="text"),
        Bind("map_source", "map_box", by="text"), Bind("samples", "samples_spin"), Bind("view", "views"),
        Bind("rule", "rule_box"),
    )  # fmt: skip
    title = "Statistician"
    engine_name = "statistician"
    engine_class = StatisticianEngine
    legend = (
        "Each row is a set D. Its items are shown as the model sees them (28 x 28, binarised); drop image files, "
        "folders or gallery samples on a row, click an item's cross to remove it. On the right of each row: "
        "new items drawn from p(x | z, c) with c at the mean of the set's context q(c | D). Classify: drop an "
        "image on the query box. Rule p(query | set): each set's bar is P(set | query) by Bayes' rule, from the "
        "query's bound under the set's context (how well the set's model explains it); rule KL (the paper's): "
        "exp(-KL(q(c | {x}) || q(c | D))) normalised over the sets, the smallest KL wins. Context map: the "
        "context means of sets drawn from a dataset (5 items each) on their first two principal axes, coloured "
        "by script, digit or garment; your sets are the labelled stars."
    )

    def __init__(self, parent=None):
        register_letter_fonts()  # set names draw their letters (resources/data/glyph-fonts.zip)
        super().__init__(parent)
        self.st = StatisticianTabState()
        self.rows: list[SetRow] = []
        self.results: list[SetSamples | None] = []
        self.classification: Classification | None = None
        self._data: dict[str, Any] = {}  # source label -> ImageSets
        self._maps: dict[tuple[str, str], tuple] = {}  # (model, source) -> (points 2-D, labels, mean, comps)
        self._started = False
        self._build()

    # -- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        row, form = self.controls_row()
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        form.addRow("Model", self.model_box)
        form.addRow(self.model_info)
        self.gallery_box = QComboBox()
        self.gallery_box.addItems(list(SOURCES))
        self.gallery_box.activated.connect(lambda _: self._fill_gallery())
        form.addRow("Gallery", self.gallery_box)
        self.shot_spin = QSpinBox(minimum=1, maximum=20, value=5)
        form.addRow("Items per new set", self.shot_spin)
        self.add_btn = QPushButton("Add a set from the gallery")
        self.add_btn.setToolTip("a character (digit, garment) of the gallery's source not used yet")
        self.add_btn.clicked.connect(self.add_gallery_set)
        self.empty_btn = QPushButton("Add an empty set")
        self.empty_btn.clicked.connect(lambda: self.add_set(f"Set {len(self.rows) + 1}", []))
        self.samples_spin = QSpinBox(minimum=1, maximum=64, value=self.st.samples)
        self.samples_spin.valueChanged.connect(self._on_samples)
        self.resample_btn = QPushButton("New samples (→)")
        self.resample_btn.clicked.connect(self.step_forward)
        for w in (self.add_btn, self.empty_btn):
            form.addRow(w)
        form.addRow("Samples per set", self.samples_spin)
        form.addRow(self.resample_btn)
        files = QHBoxLayout()
        self.save_btn = QPushButton("Save sets…")
        self.save_btn.clicked.connect(self.ask_save_sets)
        self.load_btn = QPushButton("Load sets…")
        self.load_btn.clicked.connect(self.ask_load_sets)
        self.clear_btn = QPushButton("Clear")
        self.clear_btn.clicked.connect(self.clear_sets)
        for b in (self.save_btn, self.load_btn, self.clear_btn):
            files.addWidget(b)
        form.addRow(files)
        self.gallery = Gallery()
        self.gallery.itemDoubleClicked.connect(self._gallery_double_click)
        hint = QLabel("Drag samples into a set or onto the query (double-click: add to the last set):")
        hint.setWordWrap(True)
        form.addRow(hint)
        form.addRow(self.gallery)

        split = QSplitter(Qt.Orientation.Horizontal)
        sets_box = QWidget()
        sets_lay = QVBoxLayout(sets_box)
        sets_lay.setContentsMargins(0, 0, 0, 0)
        header = QLabel("<b>Sets</b> (items as the model sees them → samples from each set's context)")
        header.setWordWrap(True)
        sets_lay.addWidget(header)
        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.addStretch(1)
        self.new_set_strip = DropStrip("drop images or folders here to start a new set")
        self.new_set_strip.changed.connect(self._new_set_from_strip)
        self.new_set_strip.dropped.connect(self._report_rejected)
        self.rows_layout.insertWidget(0, self.new_set_strip)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        sets_lay.addWidget(scroll, 1)
        sets_box.setMinimumWidth(300)  # items, the name and the samples stay visible at 1024 x 768
        split.addWidget(sets_box)

        self.views = QTabWidget()
        cls = QWidget()
        cl = QVBoxLayout(cls)
        query_hint = QLabel("<b>Query</b>: drop one image to classify it among the sets")
        query_hint.setWordWrap(True)
        cl.addWidget(query_hint)
        self.query_strip = DropStrip("drop a query image here", max_items=1, cell=88)
        self.query_strip.changed.connect(self.refresh)
        self.query_strip.dropped.connect(self._report_rejected)
        cl.addWidget(self.query_strip)
        rule_row = QHBoxLayout()
        rule_row.addWidget(QLabel("Rule"))
        self.rule_box = QComboBox()
        self.rule_box.addItem("p(query | set)", "bound")
        self.rule_box.addItem("KL of contexts (paper)", "kl")
        for i, key in enumerate(("bound", "kl")):
            self.rule_box.setItemData(i, RULES[key], Qt.ItemDataRole.ToolTipRole)
        self.rule_box.activated.connect(lambda _: self.refresh())
        rule_row.addWidget(self.rule_box, 1)
        cl.addLayout(rule_row)
        self.class_label = QLabel()
        self.class_label.setWordWrap(True)
        self.class_label.setTextFormat(Qt.TextFormat.RichText)
        cl.addWidget(self.class_label)
        self.prob_plot = pg.PlotWidget(title="P(set | query)")
        self.prob_plot.setYRange(0, 1)
        self.prob_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#4a90d9")
        self.prob_plot.addItem(self.prob_bars)
        cl.addWidget(self.prob_plot, 1)
        self.views.addTab(cls, "Classify")
        mp = QWidget()
        ml = QVBoxLayout(mp)
        top = QHBoxLayout()
        top.addWidget(QLabel("Sets from"))
        self.map_box = QComboBox()
        self.map_box.addItems([*SOURCES, SYNTHETIC])
        boxes = (self.map_box, self.gallery_box, self.model_box, self.rule_box)
        for box in boxes:  # long entries must not widen the window
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(12)
        self.map_box.activated.connect(lambda _: self.refresh())
        top.addWidget(self.map_box, 1)
        ml.addLayout(top)
        self.map_plot = pg.PlotWidget(title="context means μ_c (2 principal axes)")
        self.map_plot.addLegend(offset=(5, 5), labelTextSize="8pt", colCount=2)
        ml.addWidget(self.map_plot, 1)
        self.map_note = QLabel()
        self.map_note.setWordWrap(True)
        ml.addWidget(self.map_note)
        self.views.addTab(mp, "Context map")
        self.views.currentChanged.connect(self._on_view)
        split.addWidget(self.views)
        split.setSizes([620, 420])
        row.addWidget(split, 1)

    # -- data ---------------------------------------------------------------------------------------
    def source(self, label: str):
        """The ImageSets (or synthetic source) behind a gallery or map label, loaded once."""
        if label not in self._data:
            if label == SYNTHETIC:
                from engines.statistician.data import SyntheticSets

                self._data[label] = SyntheticSets()
            else:
                name, split = SOURCES[label]
                self._data[label] = StatisticianEngine.load_data(name)[split]
        return self._data[label]

    def _fill_gallery(self, seed: int = 0) -> None:
        data = self.source(self.gallery_box.currentText())
        rng = np.random.default_rng(seed)
        classes = rng.choice(len(data), size=min(24, len(data)), replace=False)
        self.gallery.fill([(data.label_name(data.classes[c]), data.set_of(int(c), 4, rng)) for c in classes])
        self.st.gallery = self.gallery_box.currentText()

    def _gallery_double_click(self, item: QListWidgetItem) -> None:
        img = item.data(Qt.ItemDataRole.UserRole)
        if not self.rows:
            self.add_set(item.toolTip(), [img])
        else:
            self.rows[-1].strip.add([img])

    def add_gallery_set(self, rng_seed: int | None = None) -> None:
        """A new set: ``Items per new set`` drawings of a class of the gallery's source not yet used."""
        data = self.source(self.gallery_box.currentText())
        used = {r.name_text() for r in self.rows}
        rng = np.random.default_rng(len(self.rows) + 7 * self.st.seed if rng_seed is None else rng_seed)
        for c in rng.permutation(len(data)):
            name = data.label_name(data.classes[c])
            if name not in used:
                self.add_set(name, list(data.set_of(int(c), self.shot_spin.value(), rng)))
                return

    # -- sets ---------------------------------------------------------------------------------------
    def add_set(self, name: str, images: list[np.ndarray], refresh: bool = True) -> SetRow:
        row = SetRow(name, images)
        row.set_presenting(self.presenting)
        row.edited.connect(self.refresh)
        row.remove.connect(self.remove_set)
        row.strip.dropped.connect(self._report_rejected)
        self.rows.append(row)
        self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
        if refresh:
            self.refresh()
        return row

    def remove_set(self, row: SetRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self.refresh()

    def clear_sets(self) -> None:
        self._set_rows([])
        self.refresh()

    def _set_rows(self, sets: list[tuple[str, np.ndarray]]) -> None:
        """Replace every row by the given sets (no refresh)."""
        for row in list(self.rows):
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()
        for name, images in sets:
            self.add_set(name, list(images), refresh=False)

    def _new_set_from_strip(self) -> None:
        images = self.new_set_strip.images
        self.new_set_strip.set_images([])
        if images:
            self.add_set(f"Set {len(self.rows) + 1}", images)

    def _report_rejected(self, _images: list, rejected: list) -> None:
        if rejected:
            shown = ", ".join(rejected[:8]) + (f" and {len(rejected) - 8} more" if len(rejected) > 8 else "")
            self.error.emit(f"Not added (not an image, or unreadable): {shown}. The sets keep what they had.")

    def set_list(self) -> list[tuple[str, np.ndarray]]:
        return [(r.name_text(), np.stack(r.images()) if r.images() else np.zeros((0, 28, 28), np.uint8))
                for r in self.rows]  # fmt: skip

    def ask_save_sets(self) -> None:
        self.ask_save("Save sets", "sets.json", "Image sets (*.json)",
                      lambda p: save_sets(p, self.set_list()) or f"Saved {len(self.rows)} sets to {p}")  # fmt: skip

    def ask_load_sets(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load sets", "", "Image sets (*.json);;All files (*)")
        if path:
            self.load_sets_file(path)

    def load_sets_file(self, path: str) -> bool:
        """Replace the sets with a file's; a bad file is refused with a message and the sets stay."""
        try:
            sets = load_sets(path)
        except ValueError as e:
            self.error.emit(f"Could not load sets: {e}")
            return False
        self._replace_sets(sets)
        self.status.emit(f"Loaded {len(sets)} sets from {Path(path).name}")
        return True

    def _replace_sets(self, sets: list[tuple[str, np.ndarray]]) -> None:
        self._set_rows(sets)
        self.refresh()

    # -- state ----------------------------------------------------------------------------------------
    def read_more_state(self) -> None:
        self.st.sets = [{"name": n, "images": encode_images(x)} for n, x in self.set_list()]
        self.st.query = encode_images(np.stack(self.query_strip.images)) if self.query_strip.images else ""

    def check_state(self, st: StatisticianTabState):
        """The sets and the query decoded (a bad image string is refused here, before anything changes)."""
        if st.gallery not in SOURCES:
            raise ValueError(f"Statistician: unknown gallery {st.gallery!r} in the saved state")
        if st.map_source not in (*SOURCES, SYNTHETIC):
            raise ValueError(f"Statistician: unknown map source {st.map_source!r}")
        if not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in st.sets):
            raise ValueError("Statistician: a set in the saved state has no name")
        sets = [(s["name"], decode_images(s.get("images", ""))) for s in st.sets]
        return sets, (decode_images(st.query) if st.query else None)

    def apply_state(self, checked, run: bool) -> None:
        sets, query = checked
        self._started = True
        self._fill_gallery()
        self.query_strip.set_images([] if query is None else [query[0]])
        self._set_rows(sets)
        if run:
            self.run_demo_blocking()

    # -- the demo -------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started:
            self.start_demo()

    def start_demo(self) -> None:
        """First view: three sets of held-out characters and a query drawn from the third's character
        (:func:`engines.statistician.data.demo_sets`)."""
        self._started = True
        self._fill_gallery()
        sets, query = demo_sets(self.source("Held-out scripts"))
        self._set_rows(sets)
        self.query_strip.set_images([query])
        self.refresh()

    def on_model_changed(self) -> None:
        self.refresh()

    def _on_samples(self, n: int) -> None:
        self.st.samples = n
        self.refresh()

    def _on_view(self, i: int) -> None:
        self.st.view = i
        self.refresh()

    def step_forward(self) -> bool:
        """New samples (the next seed). Not a bounded process: False, so a lesson moves on."""
        self.st.seed += 1
        self.refresh()
        return False

    def step_back(self) -> bool:
        if self.st.seed > 0:
            self.st.seed -= 1
            self.refresh()
        return False

    def reset(self) -> None:
        self.st.seed = 0
        self.refresh()

    def _inputs(self):
        engine = self.engine()
        if engine.image_shape != (28, 28):
            raise ValueError(
                f"this model's items are {engine.config.x_dim} values, not 28 x 28 images: the sets need an image "
                "model (train one on glyphs, MNIST or Fashion-MNIST)"
            )
        sets = [np.stack(r.images()) if r.images() else None for r in self.rows]
        query = self.query_strip.images[0] if self.query_strip.images else None
        map_label = self.map_box.currentText() if self.views.currentIndex() == 1 else None
        key = (self.model_box.currentData(), map_label)
        base = self._maps.get(key)
        data = self.source(map_label) if map_label is not None and base is None else None  # loaded here, once
        rule = self.rule_box.currentData() or "bound"
        return engine, sets, query, map_label, data, key, base, self.st.samples, self.st.seed, rule

    def refresh(self) -> None:
        """Recompute everything the sets show, on the worker (cancelling a refresh still under way)."""
        try:
            args = self._inputs()
        except Exception as e:
            self.error.emit(f"Statistician: {e}")
            return
        self._show_model_info(args[0])
        self.start_job(self._work, *args, on_return=self._show, name="statistician")

    def run_demo_blocking(self) -> None:
        self.cancel_job()
        args = self._inputs()
        self._show_model_info(args[0])
        self._show(self._work(*args))

    def _work(self, engine: StatisticianEngine, sets, query, map_label, data, key, base, n: int, seed: int, rule: str):
        """Worker: each set's context and samples, the query's classification, and the map's points from
        ``data`` (``base``: the map's dataset points when already computed)."""
        filled = [s for s in sets if s is not None]
        made = iter(engine.sample(sets=filled, n=n, seed=seed) if filled else [])
        results = [next(made) if s is not None else None for s in sets]
        cls = engine.classify(query, filled, rule) if query is not None and filled else None
        if map_label is not None and base is None:
            base = self._map_base(engine, map_label, data)
        return results, cls, key, base

    def _map_base(self, engine: StatisticianEngine, label: str, data):
        if label == SYNTHETIC:
            from engines.resources import resource_path

            engine = StatisticianEngine.from_checkpoint(resource_path("statistician-synthetic"))
            means, labels = engine.context_map(data, per_class=8, size=engine.config.sample_size)
            names = {int(k): v for k, v in data.class_names.items()}
        else:
            means, labels = engine.context_map(data, per_class=4, size=5, max_classes=120)
            if label in ("Held-out scripts", "Training scripts"):  # colour glyphs by script
                scripts = sorted({data.label_name(c).rsplit(" ", 1)[0] for c in labels})
                names = dict(enumerate(scripts))
                labels = np.array([scripts.index(data.label_name(c).rsplit(" ", 1)[0]) for c in labels])
            else:
                names = {int(c): data.label_name(c) for c in np.unique(labels)}
        mean, comps = pca_2d(means)
        return (means - mean) @ comps.T, labels, mean, comps, names

    def _show_model_info(self, e: StatisticianEngine) -> None:
        cfg = e.config
        valid = e.meta.get("valid", {})
        # the training run's validation figure is by the paper's KL rule (the tab's own rule: README, eval statistician)
        acc = f" · valid 5-way 1-shot {valid['acc_5way_1shot']:.1%} (KL rule)" if "acc_5way_1shot" in valid else ""
        turns = " (turned too)" if cfg.augment == "turns" else ""
        self.model_info.setText(
            f"{cfg.network} encoder · {cfg.decoder} decoder · c {cfg.c_dim} · z {cfg.z_layers} x {cfg.z_dim} · "
            "trained on sets of "
            f"{cfg.sample_size}{turns} · {e.num_parameters():,} parameters{acc}"
        )

    def _show(self, result) -> None:
        results, cls, key, base = result
        self.results, self.classification = results, cls
        for row, r in zip(self.rows, results):
            row.show_samples(r)
        self._show_classification(cls)
        if base is not None:
            self._maps[key] = base  # the cache is filled here, on the GUI thread
            self._show_map(base, results, key[1])
        self.result_ready.emit()

    def _show_classification(self, cls: Classification | None) -> None:
        filled = [displayable(r.name_text(), self.font()) for r in self.rows if r.images()]
        if cls is None:
            self.prob_bars.setOpts(x=[], height=[])
            self.class_label.setText("<i>drop a query image and fill at least one set</i>")
            return
        best = cls.best
        if cls.rule == "bound":
            runner = f"{np.sort(cls.bound)[-2]:.1f}" if len(cls.bound) > 1 else "—"
            why = f"log p(query | set) ≈ {cls.bound[best]:.1f} nats; next {runner}"
        else:
            why = f"KL {cls.kl[best]:.2f} nats; next " + (f"{np.sort(cls.kl)[1]:.2f}" if len(cls.kl) > 1 else "—")
        self.class_label.setText(f"query → <b>{filled[best]}</b> ({why})")
        brushes = [
            pg.mkBrush(OKABE_ITO["vermillion"] if i == best else OKABE_ITO["blue"]) for i in range(len(cls.probs))
        ]
        self.prob_bars.setOpts(x=np.arange(len(cls.probs)), height=cls.probs, width=0.7, brushes=brushes)
        ax = self.prob_plot.getAxis("bottom")
        # two lines ("Syloti Nagri" over "ꠎ"), every label drawn: pyqtgraph hid the last one where it overran the edge
        ax.setStyle(hideOverlappingLabels=False)
        ax.setTicks([[(i, "\n".join(n[:24].rsplit(" ", 1))) for i, n in enumerate(filled)]])
        ax.setHeight(int(3.2 * QFontMetrics(ax.style["tickFont"] or self.font()).height()))
        self.prob_plot.setXRange(-0.5, len(filled) - 0.5, padding=0.05)

    def _show_map(self, base, results, label: str) -> None:
        pts, labels, mean, comps, names = base
        self.map_plot.clear()
        legend = self.map_plot.plotItem.legend
        if legend is not None:
            legend.clear()
        for j, lab in enumerate(np.unique(labels)):
            m = labels == lab
            colour = PALETTE[j % len(PALETTE)]
            self.map_plot.plot(pts[m, 0], pts[m, 1], pen=None, symbol="o", symbolSize=6, symbolPen=None,
                               symbolBrush=pg.mkBrush(*colour, 170), name=names.get(int(lab), str(lab)))  # fmt: skip
        if label == SYNTHETIC:
            self.map_note.setText("The synthetic model's 3-D context: each point is a set of 200 samples of one "
                                  "family with its own mean and variance (the paper's Figure 2). Your image sets "
                                  "belong to the other model and are not placed here.")  # fmt: skip
            return
        user = [(displayable(r.name_text(), self.font()), s) for r, s in zip(self.rows, results) if s is not None]
        if user:
            xy = (np.stack([s.mu for _, s in user]) - mean) @ comps.T
            self.map_plot.plot(xy[:, 0], xy[:, 1], pen=None, symbol="star", symbolSize=18,
                               symbolBrush=pg.mkBrush(255, 215, 0), symbolPen=pg.mkPen("k"))  # fmt: skip
            for (name, _), (x, y) in zip(user, xy):
                t = pg.TextItem(name[:16], anchor=(0, 1), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 180))
                t.setPos(float(x), float(y))
                self.map_plot.addItem(t)
        self.map_note.setText(f"{len(pts)} sets of 5 from '{label}'; stars: your {len(user)} sets, projected "
                              "on the same axes.")  # fmt: skip

    def figure_title(self) -> str:
        if self.views.currentIndex() == 1:
            return "Each set summarised by one context: the statistic network's map"
        by = "KL of contexts" if self.rule_box.currentData() == "kl" else "the set that explains it best"
        return f"Few-shot: new items from each set's context, and the query classified by {by}"

    def caption(self) -> str:
        sets = sum(1 for r in self.rows if r.images())
        parts = [self.model_box.currentText(), f"{sets} sets", f"{self.samples_spin.value()} samples per set"]
        if self.views.currentIndex() == 1:
            parts = [self.model_box.currentText(), f"sets from {self.map_box.currentText()}"]
        return " · ".join(parts)

    def set_presentation(self, on: bool) -> None:
        super().set_presentation(on)
        from PySide6.QtWidgets import QApplication

        self.views.tabBar().setVisible(not on)
        for row in self.rows:
            row.set_presenting(on)
        for plot in (self.prob_plot, self.map_plot):
            scale_plot_fonts(plot, QApplication.font())


__all__ = ["StatisticianTab", "StatisticianTabState", "read_image_files"]
