"""Read a user's image files (PNG, JPEG, ... anything Qt decodes) into MNIST-style arrays.

Decoding lives here, in the Qt layer; engines receive plain uint8 arrays (N, 28, 28), white on black.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QImageReader

IMAGE_SUFFIXES = {"." + bytes(f).decode() for f in QImageReader.supportedImageFormats()}


def image_to_array(img: QImage, size: int = 28) -> np.ndarray:
    """Grey, fitted into ``size`` x ``size`` keeping its aspect, centred, white strokes on black."""
    grey = img.convertToFormat(QImage.Format.Format_Grayscale8)
    grey = grey.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    h, w, bpl = grey.height(), grey.width(), grey.bytesPerLine()
    arr = np.frombuffer(grey.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, :w]
    if arr.mean() > 127:  # dark ink on a light page: invert to MNIST's convention
        arr = 255 - arr
    out = np.zeros((size, size), np.uint8)
    y0, x0 = (size - h) // 2, (size - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = arr
    return out


def load_image_folder(folder: str | Path, size: int = 28) -> tuple[np.ndarray, list[str]]:
    """Every readable image in ``folder`` (sorted by name) and the names of files that were skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    images, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        img = QImage(str(path)) if path.suffix.lower() in IMAGE_SUFFIXES else QImage()
        if img.isNull():
            skipped.append(path.name)
            continue
        images.append(image_to_array(img, size))
    if not images:
        raise ValueError(f"{folder.name}: no readable images (skipped: {', '.join(skipped) or 'none found'})")
    return np.stack(images), skipped
