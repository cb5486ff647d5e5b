"""A grid of small grey images with coloured boxes on them (DRAW canvases and glimpses)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

WRITE_COLOR = QColor(230, 40, 40)  # red: where DRAW writes
READ_COLOR = QColor(40, 200, 70)  # green: where DRAW reads


def gray_qimage(img: np.ndarray) -> QImage:
    """(H, W) float in [0, 1] (or uint8) to an 8-bit grey QImage that owns its memory."""
    if img.dtype != np.uint8:
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    h, w = img.shape
    return QImage(img.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class ImageGrid(QWidget):
    """Paints ``images`` (n, H, W) in a square-ish grid, with optional boxes (n, 4) per colour."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        self.title = title
        self.images: np.ndarray | None = None
        self.boxes: list[tuple[np.ndarray, QColor]] = []
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_content(self, images: np.ndarray | None, boxes: list[tuple[np.ndarray | None, QColor]] = ()):
        self.images = images
        self.boxes = [(b, c) for b, c in boxes if b is not None]
        self.update()

    def layout_cells(self, width: int, height: int) -> tuple[int, int, float, float, float]:
        n = 0 if self.images is None else len(self.images)
        cols = max(1, math.ceil(math.sqrt(n)))
        rows = max(1, math.ceil(n / cols))
        top = 22 if self.title else 0
        cell = min(width / cols, (height - top) / rows)
        x0 = (width - cell * cols) / 2
        return cols, rows, cell, x0, top

    def paint_on(self, p: QPainter, width: int, height: int) -> None:
        p.fillRect(0, 0, width, height, self.palette().window())
        if self.title:
            p.setPen(self.palette().windowText().color())
            p.drawText(QRectF(0, 0, width, 20), Qt.AlignmentFlag.AlignCenter, self.title)
        if self.images is None or len(self.images) == 0:
            return
        cols, _, cell, x0, top = self.layout_cells(width, height)
        h, w = self.images.shape[1:]
        pad = max(1.0, cell * 0.04)
        scale = (cell - 2 * pad) / max(h, w)
        for k, img in enumerate(self.images):
            r, c = divmod(k, cols)
            ox, oy = x0 + c * cell + pad, top + r * cell + pad
            p.drawImage(QRectF(ox, oy, w * scale, h * scale), gray_qimage(img))
            p.save()
            p.setClipRect(QRectF(ox - pad, oy - pad, cell, cell))  # boxes may reach past the image
            for boxes, color in self.boxes:
                x_0, y_0, x_1, y_1 = boxes[k].tolist()  # Python floats: see app/stack_diagram.py on numpy scalars
                p.setPen(QPen(color, max(1.5, cell / 60)))
                p.drawRect(QRectF(ox + x_0 * scale, oy + y_0 * scale, (x_1 - x_0) * scale, (y_1 - y_0) * scale))
            p.restore()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        self.paint_on(p, self.width(), self.height())
        p.end()

    def render_qimage(self, width: int, height: int) -> QImage:
        """The grid rendered at a chosen size, independent of the widget's size (for export)."""
        img = QImage(width, height, QImage.Format.Format_RGB32)
        p = QPainter(img)
        self.paint_on(p, width, height)
        p.end()
        return img
