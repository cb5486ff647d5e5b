"""Markdown with typeset equations: ``$...$`` in presenter notes and handouts is rendered by matplotlib's
mathtext (a maintained TeX-subset renderer, no LaTeX installation needed) and placed in a QTextDocument as an
image, at the text's size, crisp at print resolution."""

from __future__ import annotations

import io
import re
from functools import lru_cache

from PySide6.QtCore import QUrl
from PySide6.QtGui import QFont, QImage, QTextDocument

MATH = re.compile(r"(?<![\\$])\$((?:[^$\n]|\n(?![ \t]*\n))+?)\$")  # may wrap lines, not paragraphs
OVERSAMPLE = 4  # rendered at 4x: sharp on a 300 dpi page and a 4K projector


@lru_cache(maxsize=512)
def _render(expr: str, points: float) -> bytes:
    """PNG bytes of ``$expr$`` at ``points`` type, OVERSAMPLE times the screen's 96 dpi."""
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buf = io.BytesIO()
    mathtext.math_to_image(f"${expr}$", buf, prop=FontProperties(size=points), dpi=96 * OVERSAMPLE, format="png")
    return buf.getvalue()


def math_image(expr: str, points: float) -> QImage | None:
    """The equation as a QImage whose device pixel ratio makes it text-sized (None if mathtext refuses it)."""
    try:
        data = _render(" ".join(expr.split()), round(points, 1))  # (an equation may wrap in the source)
    except (ValueError, RuntimeError):  # not TeX mathtext can parse: the text stays as written
        return None
    img = QImage.fromData(data, "PNG")
    img.setDevicePixelRatio(OVERSAMPLE)
    return img


def set_markdown(doc: QTextDocument, text: str, font: QFont | None = None) -> int:
    """``doc.setMarkdown(text)`` with each ``$...$`` typeset; returns how many equations were rendered."""
    font = font or doc.defaultFont()
    doc.setDefaultFont(font)
    points = font.pointSizeF() if font.pointSizeF() > 0 else 11.0
    images: dict[str, QImage] = {}

    def swap(m: re.Match) -> str:
        img = math_image(m.group(1), points)
        if img is None:
            return m.group(0)
        name = f"math-{len(images)}.png"
        images[name] = img
        return f"![equation {len(images)}]({name})"  # (TeX in the alt text would be parsed as Markdown)

    doc.setMarkdown(MATH.sub(swap, text))  # (setMarkdown clears the document's resources: add them after)
    for name, img in images.items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), img)
    if images:  # equations sit on the middle of the line, as inline maths does
        from PySide6.QtGui import QTextCharFormat, QTextCursor

        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                if frag.isValid() and frag.charFormat().isImageFormat():
                    cur = QTextCursor(doc)
                    cur.setPosition(frag.position())
                    cur.setPosition(frag.position() + frag.length(), QTextCursor.MoveMode.KeepAnchor)
                    fmt = frag.charFormat().toImageFormat()
                    fmt.setVerticalAlignment(QTextCharFormat.VerticalAlignment.AlignMiddle)
                    cur.setCharFormat(fmt)
                it += 1
            block = block.next()
    return len(images)


def plain(text: str) -> str:
    """The notes without ``$`` signs (for one-line titles and tooltips)."""
    return MATH.sub(lambda m: m.group(1), text)
