"""Small widget helpers shared by the tabs and the training panel."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget


def ask_path_from_combo(combo: QComboBox, restore: Any, parent: QWidget, caption: str, filters: str = "") -> str:
    """For a combo's "Open…" entry: ask for a file (or, with no ``filters``, a folder), put the combo back
    on ``restore``; '' if cancelled."""
    if filters:
        path, _ = QFileDialog.getOpenFileName(parent, caption, "", filters)
    else:
        path = QFileDialog.getExistingDirectory(parent, caption)
    combo.setCurrentIndex(max(0, combo.findData(restore)))
    return path


def add_and_select(combo: QComboBox, label: str, data: Any) -> None:
    """Add (once) an entry just above the combo's last ("Open…") entry, and select it."""
    if combo.findData(data) < 0:
        combo.insertItem(combo.count() - 1, label, data)
    combo.setCurrentIndex(combo.findData(data))


def scale_plot_fonts(plot: pg.PlotWidget, font: QFont, normal_pt: float = 11.0) -> None:
    """pyqtgraph ignores the application font: give a plot's ticks and axis labels ``font``, and axes wide
    enough for them (pyqtgraph sizes its axes for its own default type)."""
    from PySide6.QtGui import QFontMetrics

    line = QFontMetrics(font).height()
    large = font.pointSizeF() > normal_pt
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setStyle(tickFont=font)
        axis.label.setFont(font)
        if name == "left":
            axis.setWidth(int(line * 3.4) if large else None)
        else:
            axis.setHeight(int(line * 2.3) if large else None)
    title = plot.plotItem.titleLabel
    if title.text:
        title.setText(title.text, size=f"{max(font.pointSizeF(), 9.0):.0f}pt")


def tooltip_follows_text(combo: QComboBox) -> None:
    """A combo box that may be narrower than its entries (they elide) shows the whole current entry as its
    tooltip."""
    combo.setToolTip(combo.currentText())
    combo.currentTextChanged.connect(combo.setToolTip)


def fit_table_to_type(table, presenting: bool) -> None:
    """A table at the presentation's type: rows as tall as the font needs (descenders were cut) and the columns
    that are not stretched as wide as their contents ("-0…" for an NPMI); back to its own rows after."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    rows = table.verticalHeader()
    if presenting:
        if table.property("normal_row_height") is None:
            table.setProperty("normal_row_height", rows.defaultSectionSize())
        rows.setDefaultSectionSize(int(QFontMetrics(QApplication.font()).height() * 1.3))
    elif table.property("normal_row_height") is not None:
        rows.setDefaultSectionSize(int(table.property("normal_row_height")))
    header = table.horizontalHeader()
    for c in range(table.columnCount()):
        if header.sectionResizeMode(c) != header.ResizeMode.Stretch:
            table.resizeColumnToContents(c)
