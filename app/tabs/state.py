"""A tab's declared state: one dataclass per tab (everything that decides what the tab shows) and one table
that binds its fields to the tab's controls. :class:`app.tabs.base.ModelTab` reads and applies every tab's
state through the table: read the controls; parse and check the whole state (types, then whether each control
can show its value, then the tab's own checks); only then write the controls and apply. A bad state (a lesson
from elsewhere, an old file) is refused with one line and changes nothing.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from engines.base import _fits


@dataclass(frozen=True)
class Bind:
    """One row of a tab's state table: the state field ``field`` is shown by the control ``self.<control>``."""

    field: str
    control: str
    by: str = ""  # "data": a combo box's item data; "text": its text; "index": an index; "": the control's value
    names: tuple[str, ...] = ()  # with by="index": the field holds names[index] instead of the index
    scale: float = 1.0  # a slider's integer value is the field times scale (volume 0.8 <-> 80)


def _kind(control: QWidget, bind: Bind) -> str:
    if bind.by:
        return bind.by
    if isinstance(control, QComboBox):
        return "data"
    if isinstance(control, QTabWidget | QStackedWidget):
        return "index"
    return "value"


def read_control(control: QWidget, bind: Bind) -> Any:
    kind = _kind(control, bind)
    if kind == "data":
        return control.currentData()
    if kind == "index":
        i = control.currentIndex()
        return bind.names[i] if bind.names else i
    if kind == "text" or isinstance(control, QLineEdit):
        return control.currentText() if isinstance(control, QComboBox) else control.text()
    if isinstance(control, QPlainTextEdit):
        return control.toPlainText()
    if isinstance(control, QAbstractButton):
        return control.isChecked()
    if isinstance(control, QAbstractSlider):
        return control.value() / bind.scale if bind.scale != 1 else control.value()
    if isinstance(control, QSpinBox | QDoubleSpinBox):
        return control.value()
    raise TypeError(f"no state binding for {type(control).__name__}")


def refusal(control: QWidget, bind: Bind, value: Any) -> str:
    """Why ``control`` cannot show ``value`` ("" when it can)."""
    kind = _kind(control, bind)
    if kind == "data" and control.findData(value) < 0:
        return f"unknown {bind.field} {value!r}"
    if kind == "index":
        i = bind.names.index(value) if value in bind.names else (-1 if bind.names else value)
        if not isinstance(i, int) or not 0 <= i < control.count():
            return f"unknown {bind.field} {value!r}"
    if isinstance(control, QSpinBox | QDoubleSpinBox | QAbstractSlider) and kind == "value":
        shown = value * bind.scale
        if not control.minimum() <= shown <= control.maximum():
            lo, hi = control.minimum() / bind.scale, control.maximum() / bind.scale
            return f"{bind.field} {value!r} is outside {lo:g}..{hi:g}"
    return ""


def write_control(control: QWidget, bind: Bind, value: Any) -> None:
    """Show ``value`` (checked by :func:`refusal`) without the control's change signals."""
    kind = _kind(control, bind)
    blocked = control.blockSignals(True)
    try:
        if kind == "data":
            control.setCurrentIndex(control.findData(value))
        elif kind == "index":
            control.setCurrentIndex(bind.names.index(value) if bind.names else value)
        elif isinstance(control, QComboBox):  # by text: an editable combo box takes any text
            control.setCurrentText(value)
        elif isinstance(control, QLineEdit):
            control.setText(value)
        elif isinstance(control, QPlainTextEdit):
            control.setPlainText(value)
        elif isinstance(control, QAbstractButton):
            control.setChecked(value)
        elif isinstance(control, QAbstractSlider):
            control.setValue(round(value * bind.scale))
        else:
            control.setValue(value)
    finally:
        control.blockSignals(blocked)


def parse_state(cls: type, state: dict[str, Any], title: str) -> Any:
    """``state`` as a ``cls`` instance: keys ``cls`` does not have are ignored (a newer file's extras), missing
    ones take their defaults, a value of the wrong type raises ValueError naming the field."""
    if not isinstance(state, dict):
        raise ValueError(f"{title}: the saved state is not a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in known & set(state):
        if not _fits(state[key], hints[key]):
            raise ValueError(f"{title}: {key} = {str(state[key])[:40]!r} in the saved state is not a {hints[key]}")
    return cls(**{k: v for k, v in state.items() if k in known})


__all__ = ["Bind", "parse_state", "read_control", "refusal", "write_control"]
