"""The Statistician tab, driven with pytest-qt: sets filled by drops, samples, the query, the map, saved sets."""

import numpy as np
import pytest
from conftest import open_main_window
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QImage, QPainter


@pytest.fixture
def window(qtbot):
    w = open_main_window(qtbot, "statistician")
    tab = w.model_tabs["statistician"]
    if not tab.results:
        qtbot.waitUntil(lambda: bool(tab.results), timeout=60000)
    yield w
    w.close()


@pytest.fixture
def tab(window):
    return window.model_tabs["statistician"]


def drop(widget, mime: QMimeData) -> None:
    """A real QDropEvent delivered to the widget, as a drop from the file manager would be."""
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)  # fmt: skip
    widget.dropEvent(ev)


def url_mime(*paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def write_glyph_png(path, ink: bool = True) -> None:
    """A dark stroke on a white page, as a user's scan or drawing would be."""
    img = QImage(64, 64, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setPen(QColor("black"))
    p.setBrush(QColor("black"))
    p.drawEllipse(16, 8, 30, 46 if ink else 10)
    p.end()
    assert img.save(str(path))


def test_demo_shows_sets_their_samples_and_a_classified_query(tab):
    assert len(tab.rows) == 3 and all(len(r.images()) == 5 for r in tab.rows)
    assert all(r.samples.images.shape == (16, 28, 28) for r in tab.rows)
    cls = tab.classification
    assert cls is not None and cls.probs.sum() == pytest.approx(1.0) and len(cls.kl) == 3
    assert cls.best == 2  # the demo's query is another drawing of the third set's character
    assert "query →" in tab.class_label.text() and tab.rows[2].name.text() in tab.class_label.text()


def test_the_rule_box_switches_between_the_bound_and_the_papers_kl(tab, qtbot):
    assert tab.classification.rule == "bound" and tab.state()["rule"] == "bound"
    assert "log p(query | set)" in tab.class_label.text()
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        tab.rule_box.setCurrentIndex(tab.rule_box.findData("kl"))
        tab.rule_box.activated.emit(tab.rule_box.currentIndex())
    cls = tab.classification
    assert cls.rule == "kl" and cls.best == int(np.argmin(cls.kl)) and "KL" in tab.class_label.text()
    assert tab.state()["rule"] == "kl"


def test_dropped_files_join_a_set_and_bad_files_are_named_without_losing_items(window, tab, qtbot, tmp_path):
    write_glyph_png(tmp_path / "a.png")
    write_glyph_png(tmp_path / "b.png", ink=False)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    row = tab.rows[0]
    before = [x.copy() for x in row.images()]
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        drop(row.strip, url_mime(tmp_path / "a.png", tmp_path / "notes.txt", tmp_path / "broken.png",
                                 tmp_path / "b.png"))  # fmt: skip
    assert len(row.images()) == 7 and all((x == y).all() for x, y in zip(before, row.images()))
    assert "notes.txt" in window.last_error and "broken.png" in window.last_error
    new = row.images()[-2]
    assert new.max() == 255 and new[14, 14] == 255 and new[0, 0] == 0  # dark ink on white became white on black


def test_a_dropped_folder_starts_a_new_set_and_a_cross_removes_an_item(tab, qtbot, tmp_path):
    folder = tmp_path / "my set"
    (folder / "nested").mkdir(parents=True)
    for i in range(3):
        write_glyph_png(folder / f"{i}.png")
    write_glyph_png(folder / "nested" / "3.png")
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        drop(tab.new_set_strip, url_mime(folder))
    assert len(tab.rows) == 4 and len(tab.rows[3].images()) == 4 and tab.new_set_strip.images == []
    assert tab.rows[3].samples.images.shape == (16, 28, 28)
    strip = tab.rows[3].strip
    r = strip._cell_rect(0)
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=r.topRight().toPoint() + QPointF(-4, 4).toPoint())
    assert len(tab.rows[3].images()) == 3


def test_gallery_samples_drop_onto_the_query_and_into_sets(tab, qtbot):
    items = [tab.gallery.item(i) for i in range(2)]
    assert items[0].toolTip() == items[1].toolTip()  # the gallery groups drawings of one character
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        drop(tab.query_strip, tab.gallery.mimeData(items[:1]))
    first = items[0].data(Qt.ItemDataRole.UserRole)
    assert len(tab.query_strip.images) == 1 and (tab.query_strip.images[0] == first).all()
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        drop(tab.rows[1].strip, tab.gallery.mimeData(items))
    assert len(tab.rows[1].images()) == 7
    n = len(tab.rows)
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        tab.add_btn.click()
    assert len(tab.rows) == n + 1 and len(tab.rows[-1].images()) == tab.shot_spin.value()
    assert tab.rows[-1].name_text() not in {r.name_text() for r in tab.rows[:-1]}


def test_sets_save_and_load_and_a_bad_file_keeps_the_sets(window, tab, qtbot, tmp_path):
    path = tmp_path / "sets.json"
    from engines.statistician.data import save_sets

    save_sets(path, tab.set_list())
    names = [r.name.text() for r in tab.rows]
    tab.clear_sets()
    assert tab.rows == []
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        assert tab.load_sets_file(str(path))
    assert [r.name.text() for r in tab.rows] == names
    (tmp_path / "bad.json").write_text("{ not json")
    assert not tab.load_sets_file(str(tmp_path / "bad.json"))
    assert "bad.json" in window.last_error and [r.name.text() for r in tab.rows] == names


def test_context_map_places_the_users_sets(tab, qtbot):
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.views.setCurrentIndex(1)
    key = (tab.model_box.currentData(), "Held-out scripts")
    pts, labels, *_ = tab._maps[key]
    assert pts.shape[1] == 2 and len(np.unique(labels)) == 12  # coloured by the 12 held-out scripts
    stars = [i for i in tab.map_plot.plotItem.listDataItems() if i.opts.get("symbol") == "star"]
    assert len(stars) == 1 and len(stars[0].xData) == 3
    with qtbot.waitSignal(tab.result_ready, timeout=60000):
        tab.map_box.setCurrentText("Synthetic 1-D sets (the paper's figure)")
        tab.refresh()
    assert "Figure" in tab.map_note.text()


def test_state_round_trip_gives_the_same_samples(tab, qtbot):
    with qtbot.waitSignal(tab.result_ready, timeout=20000):
        tab.step_forward()
    state = tab.state()
    assert state["seed"] == 1 and len(state["sets"]) == 3 and state["query"]
    before = [r.samples.images.copy() for r in tab.rows]
    from app.tabs.statistician_tab import StatisticianTab

    other = StatisticianTab()
    qtbot.addWidget(other)
    other.set_state(state)
    assert [r.name.text() for r in other.rows] == [r.name.text() for r in tab.rows]
    assert all(np.array_equal(a, r.samples.images) for a, r in zip(before, other.rows))
    with pytest.raises(ValueError, match="unknown map source"):
        other.set_state({**state, "map_source": "nowhere"})


def test_the_conv_decoder_model_is_the_default_and_the_mlp_one_redraws_the_same_sets(tab, qtbot):
    assert tab.model_box.currentData() == "statistician-glyphs-conv" and "conv decoder" in tab.model_info.text()
    names = [r.name.text() for r in tab.rows]
    before = [r.samples.images.copy() for r in tab.rows]
    i = tab.model_box.findData("statistician-glyphs")
    assert i >= 0 and "MLP decoder" in tab.model_box.itemText(i)
    with qtbot.waitSignal(tab.result_ready, timeout=30000):
        tab.model_box.setCurrentIndex(i)
        tab.model_box.activated.emit(i)  # as a user's choice in the list
    assert "mlp decoder" in tab.model_info.text()
    assert [r.name.text() for r in tab.rows] == names  # the user's sets stay
    assert all(r.samples.images.shape == (16, 28, 28) for r in tab.rows)
    assert not any(np.array_equal(a, r.samples.images) for a, r in zip(before, tab.rows))
    assert tab.classification.best == 2


def test_training_panel_trains_a_statistician_and_the_tab_uses_it(window, tab, qtbot):
    panel = window.training
    panel.configure(model="statistician", preset="tiny", dataset="fashion", steps=8, batch=8, eval_every=4)
    with qtbot.waitSignal(panel.weights_ready, timeout=60000) as sig:
        qtbot.mouseClick(panel.start_btn, Qt.MouseButton.LeftButton)
    assert sig.args[0] == "statistician"
    assert {"loss", "recon", "kl_z", "kl_c"} <= set(panel.history) and len(panel.history["loss"]) == 8
    assert [x for x, _ in panel.valid_history][:2] == [4, 8] and np.isfinite([y for _, y in panel.valid_history]).all()
    assert tab.model_box.currentData().startswith("session:")
    qtbot.waitUntil(lambda: tab.engine().config.c_dim == 8 and bool(tab.results), timeout=20000)
    assert tab.rows[0].samples.images.shape == (16, 28, 28)


def test_every_script_name_draws_its_letter_with_the_shipped_fonts(qtbot):
    """CI has no Noto fonts: the letters come from resources/data/glyph-fonts.zip (a missing file, or fonts without
    their OpenType tables, which Qt refuses for complex scripts, left Tibetan and Indic letters out)."""
    from PySide6.QtGui import QFont, QFontMetrics
    from PySide6.QtWidgets import QLabel

    from app.fonts import register_letter_fonts
    from app.tabs.statistician_tab import displayable
    from engines.data.glyphs import load_glyphs

    families = register_letter_fonts()
    assert "Noto Serif Tibetan Letters" in families and "Noto Sans Letters" not in {"Noto Sans"}
    assert QFontMetrics(QFont("Noto Serif Tibetan Letters")).inFontUcs4(ord("ཀ"))
    font = QLabel().font()
    g = load_glyphs()
    names = {f"{g.scripts[int(s)]} {c}" for c, s in zip(g.chars, g.char_script)}
    assert len(names) == len(g.chars)
    assert [n for n in names if displayable(n, font) != n] == []
