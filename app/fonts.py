"""Fonts the app ships: the Noto letters of the glyph set's scripts (resources/data/glyph-fonts.zip), registered
once so that a set's name ("Tibetan ཀ") draws its letter on a machine without those fonts."""

from __future__ import annotations

import zipfile

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QFontDatabase

_families: list[str] | None = None


def register_letter_fonts() -> list[str]:
    """Add the shipped letter fonts to Qt's font database (once); the families added. A missing or bad file
    leaves the machine's own fonts (names then show what they can draw)."""
    global _families
    if _families is None:
        _families = []
        try:
            from engines.resources import resource_path

            with zipfile.ZipFile(resource_path("glyph-fonts")) as z:
                for name in z.namelist():
                    font_id = QFontDatabase.addApplicationFontFromData(QByteArray(z.read(name)))
                    if font_id >= 0:
                        _families += QFontDatabase.applicationFontFamilies(font_id)
        except Exception:  # noqa: BLE001 - fonts are a nicety: a damaged file must not stop the tab
            pass
    return _families
