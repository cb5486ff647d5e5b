"""A grid of small grey images with coloured boxes on them (DRAW canvases and glimpses)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.presentation import OKABE_ITO

# Okabe-Ito, told apart with any common colour-vision deficiency (red/green was not)
WRITE_COLOR = OKABE_ITO["vermillion"]  # where DRAW writes
READ_COLOR = OKABE_ITO["sky blue"]  # where DRAW reads
WRITE_NAME, READ_NAME = "vermillion", "sky blue"


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
        self.trails: list[tuple[np.ndarray, QColor]] = []  # (n, k, 2) box centres of earlier glimpses, per colour
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_content(self, images: np.ndarray | None, boxes: list[tuple[np.ndarray | None, QColor]] = (),
                    trails: list[tuple[np.ndarray | None, QColor]] = ()):  # fmt: skip
        self.images = images
        self.boxes = [(b, c) for b, c in boxes if b is not None]
        self.trails = [(t, c) for t, c in trails if t is not None and t.shape[1] > 1]
        self.update()

    def title_height(self) -> int:
        return self.fontMetrics().height() + 6 if self.title else 0

    def layout_cells(self, width: int, height: int) -> tuple[int, int, float, float, float]:
        n = 0 if self.images is None else len(self.images)
        cols = max(1, math.ceil(math.sqrt(n)))
        rows = max(1, math.ceil(n / cols))
        top = self.title_height()
        cell = min(width / cols, (height - top) / rows)
        x0 = (width - cell * cols) / 2
        return cols, rows, cell, x0, top

    def paint_on(self, p: QPainter, width: int, height: int) -> None:
        p.fillRect(0, 0, width, height, self.palette().window())
        if self.title:
            p.setFont(self.font())
            p.setPen(self.palette().windowText().color())
            p.drawText(QRectF(0, 0, width, self.title_height()), Qt.AlignmentFlag.AlignCenter, self.title)
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
            p.setClipRect(QRectF(ox, oy, w * scale, h * scale))  # a box larger than the image stays on its tile
            line = max(1.5, cell / 60)
            for trail, color in self.trails:  # where earlier glimpses' boxes were centred, joined in order
                pts = [QPointF(ox + x * scale, oy + y * scale) for x, y in trail[k].tolist()]
                p.setPen(QPen(color, line * 0.7, Qt.PenStyle.DotLine))
                p.drawPolyline(pts)
            for boxes, color in self.boxes:
                x_0, y_0, x_1, y_1 = boxes[k].tolist()  # Python floats: see app/stack_diagram.py on numpy scalars
                p.setPen(QPen(color, line))
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
