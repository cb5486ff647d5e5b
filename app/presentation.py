"""The presentation view every tab shares: a title, the tab's figure in a frame of at most 16:9, a caption that follows
the tab's state, type sized for a lecture hall; and the colour-blind-safe colours that carry meaning in the
figures (Okabe & Ito 2008).

A tab declares its figure (``figure_title`` and ``caption``; which of its widgets stay visible is decided by
``set_presentation``); this module lays the frame out and sizes the type, so a slide, the screen and the
headless ``--present`` picture are the same thing.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

# Okabe-Ito: eight colours that stay distinct for the common colour-vision deficiencies
OKABE_ITO = {
    "black": QColor(0, 0, 0),
    "orange": QColor(230, 159, 0),
    "sky blue": QColor(86, 180, 233),
    "bluish green": QColor(0, 158, 115),
    "yellow": QColor(240, 228, 66),
    "blue": QColor(0, 114, 178),
    "vermillion": QColor(213, 94, 0),
    "reddish purple": QColor(204, 121, 167),
}


def okabe_rgb(name: str) -> tuple[int, int, int]:
    """An Okabe-Ito colour as (r, g, b), for the APIs that take tuples (pyqtgraph pens, HTML)."""
    c = OKABE_ITO[name]
    return c.red(), c.green(), c.blue()


SLIDE_RATIO = 16 / 9
BODY_PT_AT_1080 = 24.0  # body type of the presentation view at 1920 x 1080 (a projector's back row)
TITLE_FACTOR = 1.6
CAPTION_FACTOR = 1.0


def body_point_size(width: int, height: int, scale: float = 1.0) -> float:
    """The body type for a slide frame of ``width`` x ``height`` pixels: 24 pt at 1920 x 1080, in proportion
    elsewhere (the frame's 16:9 part), times the presenter's + / - ``scale``."""
    frame_h = min(height, width / SLIDE_RATIO)
    return max(7.0, BODY_PT_AT_1080 * frame_h / 1080 * scale)


def sized_font(base: QFont, points: float, bold: bool = False) -> QFont:
    font = QFont(base)
    font.setPointSizeF(points)
    font.setBold(bold)
    return font


class AspectFrame(QWidget):
    """Holds one widget; with ``ratio`` set, gives it the whole height and at most ``ratio`` x height of the
    width, centred (a screen wider than 16:9 keeps side margins, the rest stays the frame's background); on a
    narrower screen (a 4:3 projector) the whole frame, so the figures use the height a 16:9 box would leave
    empty (letterboxed at 1024 x 768, the WaveNet slide's four time rows were about 100 px each). The type is
    sized from the width either way (:func:`body_point_size`). With ``ratio`` None, the whole frame."""

    def __init__(self, child: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.child = child
        child.setParent(self)
        self.ratio: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        child.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        # the child is placed by hand, not by a layout, so its changed size hints must be passed on: a stale
        # minimum (the controls' width at presentation type, before they were hidden) made a side-by-side slide
        # 4464 px wide instead of 3840
        if obj is self.child and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return False

    def set_ratio(self, ratio: float | None) -> None:
        self.ratio = ratio
        self._place()

    def child_rect(self) -> QRect:
        w, h = self.width(), self.height()
        if not self.ratio or w <= 0 or h <= 0:
            return QRect(0, 0, w, h)
        cw = min(w, round(h * self.ratio))
        return QRect((w - cw) // 2, 0, cw, h)

    def _place(self) -> None:
        self.child.setGeometry(self.child_rect())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place()

    def sizeHint(self):
        return self.child.sizeHint()

    def minimumSizeHint(self):
        return self.child.minimumSizeHint()


def stage_label(name: str) -> QLabel:
    """The title or caption line of a presentation view (hidden outside presentation)."""
    label = QLabel()
    label.setObjectName(name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.hide()
    return label
