"""DESM with BM25: the equations, NDCG, the shipped vectors, keyword stuffing, the CLI figures."""

import json

import numpy as np
import pytest

from engines.__main__ import main
from engines.data import documents
from engines.desm import DesmEngine, SearchIndex
from engines.desm.engine import evaluate_queries
from engines.desm.model import centroids, desm_scores, mixture, ndcg, normalise
from engines.resources import resource_path


@pytest.fixture(scope="module")
def engine():
    return DesmEngine.from_checkpoint(resource_path("desm-wiki"))


@pytest.fixture(scope="module")
def wiki_index(engine):
    return engine.index(documents.load_corpus())


def test_desm_score_is_the_mean_cosine_of_eq_6():
    rng = np.random.default_rng(0)
    IN, OUT = normalise(rng.normal(size=(20, 8))), normalise(rng.normal(size=(20, 8)))
    docs = [[1, 2, 2, 5], [7], [3, 4, 9, 11, 12]]
    c = centroids(docs, OUT)
    q = [0, 6, 13]
    got = desm_scores(q, IN, c)
    for d, ids in enumerate(docs):
        bar = OUT[ids].mean(0)  # eq. 5
        cos = [IN[t] @ bar / (np.linalg.norm(IN[t]) * np.linalg.norm(bar)) for t in q]
        assert got[d] == pytest.approx(np.mean(cos), abs=1e-5)
    assert np.all(desm_scores([], IN, c) == 0)


def test_ndcg_and_mixture():
    rel = {1: 2, 2: 1}
    assert ndcg([1, 2, 3], rel, 3) == pytest.approx(1.0)
    assert ndcg([3, 2, 1], rel, 3) == pytest.approx((1 / np.log2(3) + 3 / np.log2(4)) / (3 + 1 / np.log2(3)))
    assert ndcg([3, 4], rel, 1) == 0.0
    m = mixture(np.array([0.5, 0.1]), np.array([2.0, 4.0]), alpha=0.5)
    assert np.allclose(m, [0.5 * 0.5 + 0.5 * 0.5, 0.5 * 0.1 + 0.5 * 1.0])


def test_every_score_of_a_hit_is_the_paper_formula_with_an_asymmetric_alpha(wiki_index, engine):
    """Mutations: α and 1 - α swapped in the mixture; IN-IN scored against the OUT centroids. Each hit's
    scores are recomputed here from the vectors: IN-OUT with OUT centroids, IN-IN with IN centroids, and
    MM = 0.2 DESM + 0.8 BM25 / max BM25 over the candidates."""
    alpha = 0.2
    r = wiki_index.search("Alabama climate", alpha=alpha, top=8)
    q = engine.IN[[engine.word_index[w] for w in r.known]]
    bm = wiki_index.scores("Alabama climate")["bm25"]
    top_bm25 = bm[wiki_index.candidates(bm, 100)].max()
    for hit in r.hits:
        ids = [engine.word_index[w] for w in wiki_index.tokens[hit.passage] if w in engine.word_index]
        c_out, c_in = normalise(engine.OUT[ids].mean(0)[None])[0], normalise(engine.IN[ids].mean(0)[None])[0]
        assert hit.in_out == pytest.approx(float(np.mean(q @ c_out)), abs=1e-4)
        assert hit.in_in == pytest.approx(float(np.mean(q @ c_in)), abs=1e-4)
        assert hit.mixture == pytest.approx(alpha * hit.in_out + (1 - alpha) * hit.bm25 / top_bm25, abs=1e-4)
    assert mixture(np.array([1.0]), np.array([0.0, 2.0])[1:], alpha=0.25)[0] == pytest.approx(0.25 + 0.75)
    assert mixture(np.array([1.0, 0.0]), np.array([0.0, 2.0]), alpha=0.25).tolist() == pytest.approx([0.25, 0.75])


def test_in_in_finds_types_and_in_out_finds_company(engine):
    near = engine.nearest("space", 10)
    assert len(near["in_in"]) == len(near["in_out"]) == 10
    assert [w for w, _ in near["in_in"]] != [w for w, _ in near["in_out"]]
    assert "space" not in [w for w, _ in near["in_in"]]
    assert engine.nearest("qwxzv")["in_in"] == []


def test_a_keyword_stuffed_passage_ranks_lower_under_desm_than_under_bm25(engine):
    """The paper's point (Section 5): BM25 rewards the query's words wherever they are; DESM asks whether
    the passage is about the query."""
    corpus = documents.load_corpus(("wiki",))
    query = "Alabama climate"
    off_topic = next(p for p in corpus.passages if p.title == "Aristotle" and p.section != "Introduction")
    stuffed = documents.Passage(off_topic.text + " Alabama climate. Alabama climate.", "stuffed", "", "test")
    passages = corpus.passages + [stuffed]
    index = SearchIndex(engine, passages, corpus.stopwords)
    s = index.scores(query)
    me = len(passages) - 1
    rank = {m: index.rank(s, m, alpha=engine.alpha).index(me) for m in ("bm25", "desm_in_out", "mixture")}
    assert rank["bm25"] < 10  # term matching puts it near the top
    assert rank["desm_in_out"] > rank["bm25"] + 10
    assert rank["mixture"] > rank["bm25"]
    climate = [i for i, p in enumerate(passages) if p.title == "Alabama" and "limate" in p.section]
    assert s["in_out"][me] < min(s["in_out"][climate])


def test_shipped_mixture_beats_bm25_on_the_test_queries(wiki_index, engine):
    m = evaluate_queries(wiki_index, documents.load_queries("test"), alpha=engine.alpha)
    assert m["queries"] > 100
    for k in (1, 3, 10):
        assert m[f"ndcg{k}_mixture"] > m[f"ndcg{k}_bm25"], m
    assert m["ndcg10_desm_in_out_full"] < m["ndcg10_bm25"]  # DESM alone over everything: the paper's caveat


def test_search_reports_every_score_and_unknown_words(wiki_index):
    r = wiki_index.search("Achilles etymology zzqxv", alpha=0.5, top=5)
    assert r.unknown == ["zzqxv"] and set(r.known) == {"achilles", "etymology"}
    assert len(r.hits) == 5 and r.hits[0].mixture >= r.hits[-1].mixture
    top = wiki_index.passages[r.hits[0].passage]
    assert top.title == "Achilles"
    words = dict(wiki_index.highlight("Achilles etymology", r.hits[0].passage))
    assert max(words.values()) > 0.2


def test_cli_figures(capsys):
    assert main(["bench", "desm", "--json", "--quick", "--repeats", "2"]) == 0
    b = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert b["n_passages"] >= 10_000 and 0 < b["query_ms_min"] <= b["query_ms_median"] and b["query_ms_p95"] > 0
    assert b["threads"] == 1 and b["repeats"] == 2 and "large_query_ms_median" not in b  # --quick
    assert main(["train", "desm", "--preset", "nope"]) == 2
    assert "unknown preset 'nope' for desm" in capsys.readouterr().err
