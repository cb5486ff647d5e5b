"""``python -m engines eval docnade``: perplexity of DocNADE, DocNADE-LM and LDA on the same test split,
and document retrieval on the newsgroups labels with DocNADE's hidden representation vs LDA's topics.

LDA is gensim's ``LdaModel`` (online variational Bayes, Hoffman et al.) trained on the same training
documents with the same vocabulary and as many topics as DocNADE has hidden units. Its perplexity uses
each test document's variational bound (ELBO ≤ log p(v), topics at their posterior mean), so LDA's
figure is an upper bound on its true perplexity; DocNADE's is exact for the reading order of the
words (the paper's estimate).

Topic coherence (Lau et al. 2014): the mean NPMI of each topic's top 10 words, by gensim's
``CoherenceModel`` (``c_npmi``, its boolean sliding window of 10 words) with the training passages as the
reference corpus; DocNADE's "topics" are its hidden units' largest weights, LDA's its topics, as many of each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.data import documents
from engines.docnade.engine import RECALL_LEVELS, DocNadeEngine, corpus_splits
from engines.docnade.model import perplexity


def precision_at_recall(query_vecs, query_labels, db_vecs, db_labels, levels=RECALL_LEVELS) -> dict[str, float]:
    """Mean over queries of the precision at which each recall level is first reached, ranking the
    database by cosine similarity (the paper's retrieval protocol)."""
    q = query_vecs / np.maximum(np.linalg.norm(query_vecs, axis=1, keepdims=True), 1e-8)
    d = db_vecs / np.maximum(np.linalg.norm(db_vecs, axis=1, keepdims=True), 1e-8)
    sims = q @ d.T
    out = {f"p@r{lv:g}": 0.0 for lv in levels}
    for i in range(len(q)):
        rel = db_labels[np.argsort(-sims[i], kind="stable")] == query_labels[i]
        hits = np.cumsum(rel)
        total = rel.sum()
        for lv in levels:
            k = int(np.searchsorted(hits, max(1, int(np.ceil(lv * total)))))  # 0-based rank reaching recall lv
            out[f"p@r{lv:g}"] += hits[k] / (k + 1)
    return {k: round(v / len(q), 4) for k, v in out.items()}


def npmi_coherence(topics: list[list[str]], texts: list[list[str]], topn: int = 10) -> list[float]:
    """NPMI coherence of each topic's first ``topn`` words over the reference ``texts`` (gensim's c_npmi)."""
    from gensim.corpora import Dictionary
    from gensim.models.coherencemodel import CoherenceModel

    dictionary = Dictionary(texts)
    known = [[w for w in t if w in dictionary.token2id][:topn] for t in topics]
    cm = CoherenceModel(topics=known, texts=texts, dictionary=dictionary, coherence="c_npmi", topn=topn,
                        processes=1)  # fmt: skip
    return [float(c) for c in cm.get_coherence_per_topic()]


def lda_topic_words(lda, n: int = 10) -> list[list[str]]:
    return [[w for w, _ in lda.show_topic(j, topn=n)] for j in range(lda.num_topics)]


def train_lda(engine: DocNadeEngine, train, topics: int, passes: int = 20, seed: int = 0):
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel

    dictionary = Dictionary([engine.vocab])  # ids differ from DocNADE's; only words matter
    bows = [dictionary.doc2bow([engine.vocab[i] for i in d]) for d in engine.nonempty(train)]
    lda = LdaModel(bows, id2word=dictionary, num_topics=topics, passes=passes, random_state=seed,
                   alpha="auto", eta="auto", chunksize=500, iterations=100)  # fmt: skip
    return lda, dictionary


def lda_doc_elbo(lda, bow: list[tuple[int, int]]) -> float:
    """The evidence lower bound of one document under LDA with the topics at their posterior mean:
    Σ_w n_w log Σ_k exp(E[log θ_k] + log β_kw) + E[log p(θ|α) - log q(θ|γ)] ≤ log p(doc) (Blei et al. 2003).
    gensim's ``bound`` adds the whole model's topic terms to every call, so it is written out here."""
    from scipy.special import gammaln, logsumexp, psi

    gamma, _ = lda.inference([bow])
    g = gamma[0].astype(np.float64)
    e_log_theta = psi(g) - psi(g.sum())
    log_beta = np.log(lda.get_topics().astype(np.float64) + 1e-300)  # (K, V) rows sum to 1
    alpha = np.asarray(lda.alpha, np.float64)
    score = sum(n * logsumexp(e_log_theta + log_beta[:, w]) for w, n in bow)
    score += np.sum((alpha - g) * e_log_theta) + np.sum(gammaln(g) - gammaln(alpha))
    score += gammaln(alpha.sum()) - gammaln(g.sum())
    return float(score)


def lda_perplexity(lda, dictionary, engine: DocNadeEngine, docs: list[np.ndarray]) -> float:
    nll, lengths = [], []
    for d in docs:
        bow = dictionary.doc2bow([engine.vocab[i] for i in d])
        nll.append(-lda_doc_elbo(lda, bow))  # in nats; an upper bound on the document's NLL
        lengths.append(len(d))
    return perplexity(np.array(nll), np.array(lengths))


def lda_vectors(lda, dictionary, engine: DocNadeEngine, docs: list[np.ndarray]) -> np.ndarray:
    bows = [dictionary.doc2bow([engine.vocab[i] for i in d]) for d in docs]
    gamma, _ = lda.inference(bows)
    return gamma / gamma.sum(1, keepdims=True)


def evaluate_all(lda_passes: int = 20) -> dict[str, Any]:
    from engines.resources import resource_path

    corpus = documents.load_corpus()
    train, _, test = corpus_splits(corpus)
    out: dict[str, Any] = {}
    engines = {
        key: DocNadeEngine.from_checkpoint(resource_path(name))
        for name, key in ((r, s.key) for r, s in DocNadeEngine.shipped.items())
    }
    news = {s: [i for i, lab in enumerate(x.labels) if lab >= 0] for s, x in (("train", train), ("test", test))}
    for key, engine in engines.items():
        m = engine.evaluate(test)
        out[f"ppl_{key}"] = m["ppl"]
        out[f"{key}_steps"] = engine.meta.get("trained_steps")  # the kept (best-validation) checkpoint's step
    base = engines["docnade"]
    test_docs = base.nonempty(test)
    out["test_docs"], out["test_words"] = len(test_docs), int(sum(len(d) for d in test_docs))
    lda, dictionary = train_lda(base, train, topics=base.config.hidden, passes=lda_passes)
    out["ppl_lda"] = round(lda_perplexity(lda, dictionary, base, test_docs), 2)
    out["lda_topics"] = base.config.hidden
    texts = [list(w) for w in train.words]  # the training passages' content words: the reference corpus
    out["coherence_docnade"] = round(float(np.mean(npmi_coherence(base.topics(10), texts))), 4)
    out["coherence_lda"] = round(float(np.mean(npmi_coherence(lda_topic_words(lda), texts))), 4)
    # retrieval: newsgroup test posts query the newsgroup training posts
    tr_docs = [base.encode(train)[i] for i in news["train"]]
    te_docs = [base.encode(test)[i] for i in news["test"]]
    tr_lab, te_lab = train.labels[news["train"]], test.labels[news["test"]]
    out["retrieval_docnade"] = precision_at_recall(
        base.document_vectors(te_docs), te_lab, base.document_vectors(tr_docs), tr_lab
    )
    out["retrieval_lda"] = precision_at_recall(
        lda_vectors(lda, dictionary, base, te_docs), te_lab, lda_vectors(lda, dictionary, base, tr_docs), tr_lab
    )
    out["retrieval_queries"], out["retrieval_database"] = len(te_docs), len(tr_docs)
    return out
