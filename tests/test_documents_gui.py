"""The Search (DESM + BM25) and DocNADE tabs, driven with pytest-qt."""

import numpy as np
import pytest
from conftest import open_main_window
from PySide6.QtCore import Qt


@pytest.fixture
def search(qtbot):
    w = open_main_window(qtbot, "desm")
    tab = w.model_tabs["desm"]
    if not tab.ranked:
        qtbot.waitUntil(lambda: bool(tab.ranked), timeout=60000)
    yield tab
    w.close()


def column(tab, c: int) -> list[float]:
    return [float(tab.table.item(r, c).text()) for r in range(tab.table.rowCount())]


def test_a_query_lists_every_score_and_alpha_reranks_live(search, qtbot):
    tab = search
    tab.query_edit.setText("Achilles etymology")
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        qtbot.keyClick(tab.query_edit, Qt.Key.Key_Return)
    assert tab.table.rowCount() == 20
    assert "Achilles" in tab.table.item(0, 1).text()
    tab.alpha_slider.setValue(0)  # BM25 alone: the BM25 column is in order and 'BM25 rank' counts up
    bm = column(tab, 2)
    assert bm == sorted(bm, reverse=True) and column(tab, 6)[:5] == [1, 2, 3, 4, 5]
    tab.alpha_slider.setValue(100)  # DESM alone re-ranks BM25's top k by IN-OUT
    io = column(tab, 3)
    assert io == sorted(io, reverse=True) and column(tab, 6) != list(range(1, 21))
    mix = column(tab, 5)
    assert mix == pytest.approx(io, abs=1e-3)
    html = tab.passage_view.toHtml()
    assert "font-weight" in html and "background-color" in html  # query words bold, near words shaded
    assert tab.state()["alpha"] == 1.0


def test_unknown_query_words_are_named_and_nearest_words_show_both_spaces(search, qtbot):
    tab = search
    tab.query_edit.setText("space qqzzx")
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        tab.run_query()
    assert "qqzzx" in tab.info.text()
    tab.term_edit.setText("shuttle")
    tab.show_nearest()
    assert tab.nearest_table.rowCount() == 12
    in_in = [tab.nearest_table.item(r, 0).text().split()[0] for r in range(12)]
    in_out = [tab.nearest_table.item(r, 1).text().split()[0] for r in range(12)]
    assert in_in != in_out and "shuttle" not in in_in


def test_indexing_a_folder_lists_unreadable_files_and_searches_the_rest(search, qtbot, tmp_path):
    tab = search
    (tmp_path / "rockets.txt").write_text("The rocket reached orbit.\n\nIts engines burned liquid oxygen.")
    (tmp_path / "recipes.md").write_text("Bake the bread in a hot oven until the crust is brown.")
    (tmp_path / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    tab.query_edit.setText("rocket engines")
    progress = []
    tab.indexing.connect(lambda *a: progress.append(a))
    with qtbot.waitSignal(tab.result_ready, timeout=30000):
        tab.index_folder(str(tmp_path))
    assert ("files", 3, 3) in progress and ("passages", 2, 2) in progress  # reported from the worker
    assert (
        "broken.txt" in tab.info.text() and "2 passages indexed" in tab.info.text()
    )  # short paragraphs of a file merge into one passage
    assert tab.table.item(0, 1).text().startswith("rockets — “The rocket reached orbit.")  # title, first words
    assert not tab.index_progress.isVisible()


@pytest.fixture
def docnade(qtbot):
    w = open_main_window(qtbot, "docnade")
    tab = w.model_tabs["docnade"]
    if tab.score is None:
        qtbot.waitUntil(lambda: tab.score is not None, timeout=60000)
    yield tab
    w.close()


def test_docnade_scores_a_document_word_by_word(docnade, qtbot):
    tab = docnade
    tab.text_edit.setPlainText("The space shuttle carried astronauts to the orbiting station. Blorptastic!")
    with qtbot.waitSignal(tab.result_ready, timeout=30000):
        qtbot.mouseClick(tab.score_btn, Qt.MouseButton.LeftButton)
    s = tab.score
    assert {"space", "shuttle", "astronauts", "station"} <= set(s.words) and "blorptastic" in s.unknown
    assert "perplexity" in tab.ppl_label.text() and "blorptastic" in tab.ppl_label.text()
    assert tab.heat_view.toHtml().count("background-color") == len(s.words)  # one coloured span per scored word
    assert "Blorptastic" in tab.heat_view.toHtml()  # the text as written, unscored words in grey
    heights = tab.bars.opts["height"]
    assert np.allclose(heights, s.log_probs)
    assert tab.topics_table.rowCount() == tab.engine().config.hidden
    npmi = [float(tab.topics_table.item(r, 1).text()) for r in range(tab.topics_table.rowCount())]
    assert npmi == sorted(npmi, reverse=True) and all(-1 <= v <= 1 for v in npmi)  # most coherent unit first
    units = {int(tab.topics_table.item(r, 0).text()) for r in range(tab.topics_table.rowCount())}
    assert units == set(range(tab.engine().config.hidden))
    assert tab.near_table.rowCount() == 15
    cos = [float(tab.near_table.item(r, 0).text()) for r in range(15)]
    assert cos == sorted(cos, reverse=True)


def test_docnade_state_round_trips_and_bad_state_is_refused(docnade, qtbot):
    tab = docnade
    with qtbot.waitSignal(tab.result_ready, timeout=30000):
        qtbot.mouseClick(tab.next_btn, Qt.MouseButton.LeftButton)
    st = tab.state()
    assert st["passage"] == 1 and st["text"] == ""  # the shipped test passage is named by its number
    ppl = tab.score.perplexity
    tab.set_state({**st, "model": "docnade-lm-wiki"})
    tab.run_demo_blocking()
    assert tab.score.perplexity != pytest.approx(ppl)
    tab.set_state(st)
    tab.run_demo_blocking()
    assert tab.score.perplexity == pytest.approx(ppl)
    with pytest.raises(ValueError, match="unknown model"):
        tab.set_state({**st, "model": "nope"})


def test_training_panel_offers_docnade_with_folders_but_not_desm(qtbot):
    w = open_main_window(qtbot, "training")
    panel = w.training
    names = [panel.model_box.itemData(i) for i in range(panel.model_box.count())]
    assert "docnade" in names and "desm" not in names
    panel.model_box.setCurrentIndex(names.index("docnade"))
    entries = [panel.data_box.itemText(i) for i in range(panel.data_box.count())]
    assert entries == ["wiki+newsgroups", "Open a folder of .txt / .md files…"]
    w.close()
