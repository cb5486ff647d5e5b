"""The Sentences tab and the training panel's model options, driven with pytest-qt."""

import numpy as np
import pytest
from conftest import open_main_window
from PySide6.QtCore import Qt

from app.tabs.sentences_tab import SentencesTab
from engines.data.text import load_sentences
from engines.sentences import SentencesEngine


@pytest.fixture
def window(qtbot):
    w = open_main_window(qtbot, "sentences")
    yield w
    w.close()


@pytest.fixture
def tab(window):
    return window.model_tabs["sentences"]


def test_interpolation_fills_the_list_and_the_map_and_state_reproduces_it(tab, qtbot):
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        qtbot.mouseClick(tab.interp_btn, Qt.MouseButton.LeftButton)
    assert tab.result_list.count() == 8
    first = tab.result_list.item(0).text()
    assert first.strip().startswith("A")
    xy = tab.map_points.getData()
    n_test = len(load_sentences("wordnet").test)
    assert len(xy[0]) == min(2000, n_test) and np.isfinite(xy[0]).all()  # the test set's posterior means, projected
    path = tab.path_line.getData()
    assert len(path[0]) == 8
    # the path's ends are the projections of A's and B's posterior means
    e = tab.engine()
    mean, axes, _, _ = tab.maps[tab.model_box.currentData()]
    mu = e.encode_texts([tab.a_box.currentText(), tab.b_box.currentText()])
    ends = (mu - mean) @ axes
    assert np.allclose([path[0][0], path[1][0]], ends[0], atol=1e-4)
    assert np.allclose([path[0][-1], path[1][-1]], ends[1], atol=1e-4)
    tab.result_list.setCurrentRow(3)  # a clicked line is marked on the map
    mx, my = tab.mark.getData()
    assert (mx[0], my[0]) == pytest.approx((path[0][3], path[1][3]))
    state = tab.state()
    texts = [tab.result_list.item(i).text() for i in range(8)]
    tab.a_box.setCurrentText("a completely different sentence about rain")
    tab.set_state(state)
    assert [tab.result_list.item(i).text() for i in range(8)] == texts
    with pytest.raises(ValueError, match="unknown"):
        tab.set_state({**state, "model": "nope"})


def test_switching_the_decoder_changes_the_interpolation(tab, qtbot):
    tab.set_state({**tab.state(), "steps": 6})
    lstm = [tab.result_list.item(i).text() for i in range(6)]
    i = tab.model_box.findData("sentences-cnn-small")
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.model_box.setCurrentIndex(i)
        tab._on_model_chosen(i)
    cnn = [tab.result_list.item(i).text() for i in range(6)]
    assert cnn != lstm
    assert "sees 2 words" in tab.model_info.text()
    # the CNN-VAEs learnt KJV verses: A and B are a KJV pair, every word one the model knows
    e = tab.engine()
    assert e.meta["dataset"] == "kjv"
    for box in (tab.a_box, tab.b_box):
        assert "thy" in " ".join(box.itemText(i) for i in range(box.count()))
        assert e.in_vocab(box.currentText())[1] == []
    assert cnn[0].strip().startswith("A")


def test_a_typed_sentence_survives_a_change_of_corpus(tab, qtbot):
    tab.a_box.setCurrentText("the old man walked to the market")
    i = tab.model_box.findData("sentences-cnn-small")
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.model_box.setCurrentIndex(i)
        tab._on_model_chosen(i)
    assert tab.a_box.currentText() == "the old man walked to the market"
    kjv_b = tab.b_box.currentText()
    assert kjv_b != SentencesTab.state_class().b
    state = tab.state()
    i = tab.model_box.findData("sentences-lstm-vae-annealed")
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.model_box.setCurrentIndex(i)
        tab._on_model_chosen(i)
    assert tab.b_box.currentText() == SentencesTab.state_class().b  # back to WordNet's pair
    tab.set_state(state, run=False)  # a saved state's A and B stay as saved
    assert (tab.a_box.currentText(), tab.b_box.currentText()) == (state["a"], state["b"])


def test_collapsed_model_is_flagged_and_an_lm_only_samples(tab, qtbot):
    i = tab.model_box.findData("sentences-lstm-vae")
    tab.model_box.setCurrentIndex(i)
    tab._show_model_info()
    assert "Posterior collapse" in tab.model_info.text()
    i = tab.model_box.findData("sentences-lstm-lm")
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.model_box.setCurrentIndex(i)
        tab._on_model_chosen(i)
    assert not tab.interp_btn.isEnabled()
    assert tab.st.action == "sample" and tab.result_list.count() == tab.count_box.value()
    assert "No latent space" in tab.map_plot.getPlotItem().titleLabel.text


def test_prior_samples_are_written_word_by_word_and_depend_on_the_seed(tab, qtbot):
    tab.count_box.setValue(5)
    seen = []
    show = tab._show_partial
    tab._show_partial = lambda d: (seen.append(sum(len(w) for w in d.words)), show(d))
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        qtbot.mouseClick(tab.sample_btn, Qt.MouseButton.LeftButton)
    assert len(seen) > 2 and seen == sorted(seen)  # the list grew a word at a time
    a = [tab.result_list.item(i).text() for i in range(5)]
    assert not any(t.endswith("…") for t in a)
    tab.seed_box.setValue(1)
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        qtbot.mouseClick(tab.sample_btn, Qt.MouseButton.LeftButton)
    b = [tab.result_list.item(i).text() for i in range(5)]
    assert a != b and len(tab.path_line.getData()[0]) == 5


def test_sa_lstm_view_shows_both_curves_and_the_marked_count(tab):
    tab.views.setCurrentIndex(1)
    for task in ("polarity", "word_class"):
        tab.sa_task_box.setCurrentIndex(tab.sa_task_box.findData(task))
        r = tab.sa_results[task]
        assert len(r["pretrained"]) == len(r["random"]) == len(r["label_counts"])
        xs, ys = tab.sa_pre.getData()
        assert np.allclose(ys, 100 * np.array(r["pretrained"])) and np.allclose(10**xs, r["label_counts"])  # log x
        tab.sa_slider.setValue(1)
        assert tab.sa_line.value() == pytest.approx(np.log10(r["label_counts"][1]))
        assert f"{r['label_counts'][1]} labels" in tab.sa_count_label.text()


def test_paragraph_view_reconstructs_a_passage(tab, qtbot):
    tab.views.setCurrentIndex(2)
    tab.para_edit.setPlainText("")
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        qtbot.mouseClick(tab.para_btn, Qt.MouseButton.LeftButton)
    html = tab.para_out.toHtml()
    assert html.count("in:") == 3 and html.count("out:") == 3  # three verses in, three out
    assert "words in place" in tab.para_acc.text()


def test_training_panel_model_options_reach_the_engine(window, qtbot):
    panel = window.training
    panel.configure(model="sentences", preset="tiny", dataset="wordnet", steps=6, batch=16, eval_every=0)
    assert panel.options_box.isVisibleTo(panel) and panel.sched_plot.isVisibleTo(panel)
    panel.configure(options={"kl_anneal": "linear", "anneal_steps": 4, "word_dropout": 0.5})
    xs, ys = panel.sched_preview.getData()
    assert ys[0] == 0 and ys[-1] == 1.0  # the planned linear schedule, reaching 1 at step 4
    with qtbot.waitSignal(panel.weights_ready, timeout=60000) as sig:
        qtbot.mouseClick(panel.start_btn, Qt.MouseButton.LeftButton)
    engine = sig.args[1]
    assert engine.config.kl_anneal == "linear" and engine.config.word_dropout == 0.5
    weights = [w for _, w in panel.history["kl_weight"]]
    assert weights == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])  # the live curve follows the schedule
    assert "kl_weight" not in panel.curves and "kl_weight" in panel.sched_curves
    assert isinstance(engine, SentencesEngine) and int(engine.model.steps) == 6
    # the tab uses the new weights at once
    assert window.model_tabs["sentences"].model_box.currentData().startswith("session:")
    panel.configure(model="draw")
    assert not panel.options_box.isVisibleTo(panel) and not panel.sched_plot.isVisibleTo(panel)
