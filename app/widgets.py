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


def scale_plot_fonts(plot: pg.PlotWidget, font: QFont) -> None:
    """pyqtgraph ignores the application font: give a plot's ticks and axis labels ``font``."""
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setStyle(tickFont=font)
        axis.label.setFont(font)
    title = plot.plotItem.titleLabel
    if title.text:
        title.setText(title.text, size=f"{max(font.pointSizeF(), 9.0):.0f}pt")
