"""Every tab's declared state (app/tabs/state.py): one table binds a dataclass to the controls, and a bad state
is refused whole, before any control changes."""

import dataclasses

import pytest

from app.tabs.docnade_tab import DocNadeTab
from app.tabs.draw_tab import DrawTab
from app.tabs.search_tab import SearchTab
from app.tabs.sentences_tab import SentencesTab
from app.tabs.state import Bind, read_control, refusal
from app.tabs.statistician_tab import StatisticianTab
from app.tabs.wavenet_tab import WaveNetTab

TABS = [DrawTab, WaveNetTab, SentencesTab, DocNadeTab, SearchTab, StatisticianTab]


@pytest.fixture(params=TABS, ids=lambda c: c.__name__)
def tab(request, qtbot):
    t = request.param()  # not shown: no demo runs, the controls hold their defaults
    qtbot.addWidget(t)
    return t


def test_the_table_binds_real_fields_to_real_controls(tab):
    fields = {f.name for f in dataclasses.fields(tab.state_class)}
    assert isinstance(tab.st, tab.state_class)
    for b in tab.state_table:
        assert b.field in fields, b
        control = getattr(tab, b.control)
        assert refusal(control, b, read_control(control, b)) == "", b  # what a control holds it can show


def test_a_state_round_trips_through_the_controls(tab):
    state = tab.state()
    tab.set_state(state, run=False)
    assert tab.state() == state


def _wrong_type(value):
    return "five" if not isinstance(value, str) else 5


def test_a_value_of_the_wrong_type_is_refused_and_nothing_changes(tab):
    before = tab.state()
    for b in tab.state_table:
        with pytest.raises(ValueError, match=b.field):
            tab.set_state({**before, b.field: _wrong_type(before[b.field])}, run=False)
        assert tab.state() == before, b


def test_a_value_no_control_can_show_is_refused_before_any_control_changes(tab):
    before = tab.state()
    # the first bound control changed to something valid, the last one to something it cannot show: the state is
    # checked whole, so the first control keeps its value too
    numeric = [b for b in tab.state_table if isinstance(before[b.field], int | float) and not b.by and not b.names
               and not isinstance(before[b.field], bool)]  # fmt: skip
    if not numeric:
        pytest.skip("no numeric control")
    last = numeric[-1]
    bad = {**before, last.field: 10**9}
    first = numeric[0]
    if first is not last:
        bad[first.field] = before[first.field] + 1
    with pytest.raises(ValueError, match=last.field):
        tab.set_state(bad, run=False)
    assert tab.state() == before


def test_unknown_choices_are_refused():
    b = Bind("mode", "mode_box")
    tab = DrawTab()
    try:
        assert "unknown mode" in refusal(tab.mode_box, b, "paint")
        assert refusal(tab.mode_box, b, "sample") == ""
        with pytest.raises(ValueError, match="unknown mode"):
            tab.set_state({**tab.state(), "mode": "paint"}, run=False)
    finally:
        tab.deleteLater()
