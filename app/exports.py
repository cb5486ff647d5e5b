"""Slide-ready exports shared by every tab: a view as PNG at 2x, a tab's recorded process as GIF or MP4
(imageio, with imageio-ffmpeg for MP4), and a lesson's PDF handout (Qt's PDF writer).

A tab joins by what it already describes: ``reset`` / ``step_forward`` walk its recorded process and
``export_view()`` names the widget a picture shows; nothing here knows a model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QApplication, QWidget

ANIMATION_SUFFIXES = (".gif", ".mp4")


def render_2x(widget: QWidget, scale: float = 2.0) -> QImage:
    """The widget painted at ``scale`` times its size (device pixels): crisp text and lines on slides."""
    img = QImage(widget.size() * scale, QImage.Format.Format_RGB32)
    img.setDevicePixelRatio(scale)
    img.fill(QColor("white"))
    widget.render(img)
    return img


def qimage_rgb(img: QImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a QImage."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : 3 * w].reshape(h, w, 3).copy()


def record_process(tab, render: Callable[[], QImage] | None = None, limit: int = 2000) -> list[np.ndarray]:
    """Every step of the tab's recorded process as an RGB frame: from ``reset()`` through ``step_forward()``
    until it reports the end; the view shown before is restored. ``render`` defaults to the tab's view at
    its size on screen (animations at 2x would be four times the bytes for little gain on a slide)."""
    widget = tab.export_view()
    render = render or (lambda: render_2x(widget, 1.0))
    state = tab.state()
    tab.reset()
    QApplication.processEvents()
    frames = [qimage_rgb(render())]
    while len(frames) < limit and tab.step_forward():
        QApplication.processEvents()
        frames.append(qimage_rgb(render()))
    tab.set_state(state)
    return frames


def write_animation(path: str | Path, frames: list[np.ndarray], fps: float = 8.0, hold_last: int = 5) -> int:
    """Frames (H, W, 3) uint8 to a looping GIF or an H.264 MP4 by the path's suffix; the last frame is held
    ``hold_last`` steps longer (GIF: a longer duration; MP4: repeated). Returns how many frames the file has."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError("nothing to export: the process has no frames")
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise ValueError(f"{path.name}: animations are .gif or .mp4")
    if path.suffix.lower() == ".gif":  # one frame per step; the last one shown hold_last steps longer
        durations = [1000.0 / fps] * (len(frames) - 1) + [1000.0 / fps * (1 + hold_last)]
        # (Pillow writes a one-frame GIF by another path that takes a single duration, not a list)
        imageio.mimwrite(path, frames, duration=durations if len(frames) > 1 else durations[0], loop=0)
    else:
        frames = list(frames) + [frames[-1]] * hold_last
        h, w = frames[0].shape[:2]
        even = [f[: h - h % 2, : w - w % 2] for f in frames]  # yuv420p needs even sides
        imageio.mimwrite(path, even, fps=fps, codec="libx264", macro_block_size=1, quality=8,
                         output_params=["-pix_fmt", "yuv420p"])  # fmt: skip
    return len(frames)


def write_handout(path: str | Path, title: str, slides: list[tuple[str, QImage | None, str]]) -> int:
    """A landscape PDF handout: a page per slide with its title, its picture (the presentation view) large on
    the left and the presenter notes (Markdown, ``$...$`` typeset by matplotlib's mathtext) on the right.
    ``slides``: (title, picture or None when the slide could not be shown, notes). Returns the page count."""
    from app.mathtext import plain, set_markdown

    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("Generative Models Playground")
    layout = QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape,
                         QMarginsF(12, 12, 12, 12))  # fmt: skip
    writer.setPageLayout(layout)
    writer.setResolution(150)
    p = QPainter(writer)
    f = writer.resolution() / 96  # lay text out at screen density (fonts in points), then scale to the page
    p.scale(f, f)
    page = writer.pageLayout().paintRectPixels(writer.resolution())
    width, height = page.width() / f, page.height() / f
    body = QApplication.font()
    body.setPointSizeF(12)
    for i, (name, img, notes) in enumerate(slides):
        if i:
            writer.newPage()
        head = QTextDocument()
        head.setDefaultFont(body)
        head.setMarkdown(f"## {i + 1}. {plain(name)}" + (f" — *{title}*" if i == 0 else ""))
        head.setTextWidth(width)
        head.drawContents(p)
        y = head.size().height() + 8
        fig_w = width * 0.64
        if img is not None:
            fig_h = min(fig_w * img.height() / img.width(), height - y)
            p.drawImage(QRectF(0, y, fig_h * img.width() / img.height(), fig_h), img)
        else:
            p.drawText(QRectF(0, y, fig_w, 40), Qt.AlignmentFlag.AlignLeft, "(this slide could not be shown)")
        doc = QTextDocument()
        set_markdown(doc, notes or "*(no notes)*", body)
        doc.setTextWidth(width - fig_w - 16)
        p.save()
        p.translate(fig_w + 16, y)
        doc.drawContents(p, QRectF(0, 0, width - fig_w - 16, height - y))
        p.restore()
    p.end()
    return len(slides)
