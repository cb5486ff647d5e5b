"""The About panels: every equation of every model's write-up is typeset (app/mathtext.py)."""

import pytest

from app.mathtext import MATH, math_image
from app.tabs.docnade_tab import DocNadeTab
from app.tabs.draw_tab import DrawTab
from app.tabs.search_tab import SearchTab
from app.tabs.sentences_tab import SentencesTab
from app.tabs.statistician_tab import StatisticianTab
from app.tabs.wavenet_tab import WaveNetTab

TABS = [DrawTab, WaveNetTab, SentencesTab, DocNadeTab, SearchTab, StatisticianTab]


@pytest.mark.parametrize("cls", TABS, ids=lambda c: c.__name__)
def test_every_equation_in_the_about_panel_is_typeset(cls, qtbot):
    tab = cls()
    qtbot.addWidget(tab)
    text = tab.about_markdown()
    equations = MATH.findall(text)
    assert len(equations) >= 3  # each write-up states its model in equations
    refused = [e for e in equations if math_image(e, 11.0) is None]
    assert refused == []
    assert tab.typeset_about() == len(equations)
    shown = tab.about.toPlainText()
    assert "$" not in shown and "\\" not in shown  # no TeX source left in the panel
    # one picture per equation (TeX in an image's alt text was parsed as Markdown and split it into several)
    assert shown.count("\ufffc") == len(equations)
