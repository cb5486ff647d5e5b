"""A diagram of WaveNet's dilated causal stack (the paper's Figure 3, drawn to scale in time).

Rows are layers (input at the bottom, output at the top); the horizontal axis is the past of the
current output, right to left over its receptive field. For each layer the lit band is the span of
that layer's input that reaches the current output (it widens by the dilation at every layer
below); the two dots are the layer's kernel taps, at t and t - d, for the current output's path
through the top layer. Beneath, the actual input samples in the receptive field, as a waveform.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.presentation import OKABE_ITO

LIT = OKABE_ITO["orange"]
DIM = QColor(225, 228, 235)
TAP = OKABE_ITO["blue"]  # Okabe-Ito: the taps stay apart from the lit band for colour-blind eyes


def label_every(row_h: float, text_h: float) -> int:
    """Label every n-th layer so that labels never overlap: 1 when a row is as tall as the text."""
    return max(1, int(np.ceil(text_h / max(row_h, 1e-6))))


class StackDiagram(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.dilations: list[int] = []
        self.rate = 8000
        self.context = np.zeros(0, np.float32)  # the receptive field's samples, oldest first
        self.t = 0
        self.setMinimumSize(200, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_config(self, dilations: list[int], rate: int) -> None:
        self.dilations, self.rate = list(dilations), rate
        self.update()

    @property
    def receptive_field(self) -> int:
        return sum(self.dilations) + 1

    def set_context(self, audio: np.ndarray, t: int) -> None:
        """The samples the current output (at time ``t``) sees."""
        self.context, self.t = audio[-self.receptive_field :], t
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        if not self.dilations:
            return
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        p.setFont(font)
        fm = p.fontMetrics()
        left, right = fm.horizontalAdvance("d=512 ") + 6, 8
        top, wave_h = fm.height() + 4, max(30, self.height() // 5)
        w = self.width() - left - right
        rows = len(self.dilations)
        row_h = max(3.0, (self.height() - top - wave_h - fm.height() - 8) / rows)
        R = self.receptive_field
        every = label_every(row_h, fm.height() * 0.9)
        x_of = lambda lag: left + w * (1 - lag / (R - 1))  # lag 0 = now, at the right edge
        p.setPen(Qt.GlobalColor.black)
        ms = 1000 * R / self.rate
        p.drawText(4, fm.ascent() + 2, f"receptive field {R} samples = {ms:.0f} ms · output at t = {self.t}")
        # span of each layer's input that reaches the output: layers above it widen it by their dilations
        reach = np.cumsum(self.dilations[::-1])[::-1].tolist()  # reach[k] = sum of dilations of layers k..top
        for k, d in enumerate(self.dilations):
            y = top + (rows - 1 - k) * row_h
            band = QRectF(left, y + 1, w, row_h - 2)
            p.fillRect(band, DIM)
            lit = QRectF(x_of(reach[k]), y + 1, x_of(0) - x_of(reach[k]), row_h - 2)
            p.fillRect(lit, LIT)
            if (rows - 1 - k) % every == 0:  # the top layer always; in a short diagram every n-th below it
                p.drawText(QRectF(0, y + row_h / 2 - fm.height() / 2, left - 4, fm.height()),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"d={d}")  # fmt: skip
            # the taps of the path through every layer's most recent input
            lag_here = int(reach[k + 1]) if k + 1 < rows else 0
            for lag in (lag_here, lag_here + d):
                p.setBrush(TAP)
                p.setPen(Qt.PenStyle.NoPen)
                p.drawEllipse(QPointF(x_of(min(lag, R - 1)), y + row_h / 2), 2.5, 2.5)
            p.setPen(Qt.GlobalColor.black)
        # the receptive field's samples
        y0 = top + rows * row_h + 4
        p.fillRect(QRectF(left, y0, w, wave_h), QColor(248, 248, 250))
        if len(self.context) > 1:
            c = self.context
            step = max(1, len(c) // 800)
            xs = (left + w * (1 - np.arange(len(c))[::-1] / (R - 1)))[::step]
            ys = (y0 + wave_h / 2 - c * (wave_h / 2 - 2) / max(1e-3, float(np.abs(c).max())))[::step]
            # plain Python floats: PySide6 6.12 drops a reference to None per numpy float32 it converts
            # (measured: ~1,200 per paint here, until the interpreter aborted)
            path = QPainterPath()
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(40, 90, 200), 1))
            p.drawPath(path)
        p.setPen(Qt.GlobalColor.black)
        p.drawText(QRectF(left, y0 + wave_h, w, fm.height() + 4), Qt.AlignmentFlag.AlignLeft,
                   f"input x  (t − {R - 1})")  # fmt: skip
        p.drawText(QRectF(left, y0 + wave_h, w, fm.height() + 4), Qt.AlignmentFlag.AlignRight, "now (t − 1)")
        p.end()
