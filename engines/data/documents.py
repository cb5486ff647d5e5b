"""Document collections for DocNADE and DESM: Wikipedia passages, the newsgroups sample, users' folders.

Shipped file ``resources/data/documents.json.gz`` (``python -m engines build-data documents``):

- ``wiki``: the articles of the shortened English Wikipedia dump in gensim's test data
  (``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``: 106 articles, ~480k
  words after markup removal), cleaned with gensim's ``filter_wiki`` and cut into passages: a section's
  paragraphs merged up to ~120 words, each passage keeping its article title and section heading.
  Sections with no prose (See also, References, tables...) are dropped. Split by article (seed 0):
  10% of articles test, 10% valid, so test passages come from articles never seen in training.
- ``newsgroups``: gensim's ``mini_newsgroup`` (200 posts of 20 Newsgroups: alt.atheism and sci.space,
  100 each), headers dropped except the subject, split 140 / 20 / 40 stratified by group (seed 0).
- ``stopwords``: gensim's English stop-word list, copied so the app needs no gensim at run time.

Shipped file ``resources/data/wiki-queries.json``: the labelled query set for ranked retrieval. A
query is a section heading with its article's title ("Alabama climate"); that section's passages are
relevant with grade 2 and the article's other passages with grade 1 (NDCG uses the grades); the
file lists the section's passage indices and the article index, one query per line. Headings
that say nothing about content (See also, History of ..., Notes) are kept: the title carries them.
Queries of valid articles tune the mixture; test queries give the figures.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.cancel import check_cancelled

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS_FILE = "mini_newsgroup"
WORD_RE = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
PASSAGE_WORDS = 120  # a section's paragraphs are merged up to about this many words
SKIP_SECTIONS = {"see also", "references", "external links", "further reading", "notes", "bibliography",
                 "sources", "footnotes", "citations", "notes and references", "gallery"}  # fmt: skip
FOLDER_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 20_000_000


class DocumentDataError(ValueError):
    """A document collection that cannot be used, with the reason."""


def words(text: str) -> list[str]:
    """Lower-cased words (letters, inner apostrophes kept): the tokens of BM25, DESM and DocNADE."""
    return WORD_RE.findall(text.lower().replace("’", "'"))


def content_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """The words a model reads: stop words and single letters left out."""
    return [w for w in words(text) if w not in stopwords and len(w) > 1]


@dataclass
class Passage:
    text: str
    title: str = ""  # article title, newsgroup subject or file name
    section: str = ""  # section heading (Wikipedia), group name (newsgroups) or ""
    source: str = "wiki"  # wiki | newsgroups | a folder path
    split: str = "train"
    label: int = -1  # newsgroup label, -1 where there is none
    article: int = -1  # index of the article (wiki) or file (folders) it comes from


@dataclass
class DocumentCorpus:
    passages: list[Passage]
    stopwords: frozenset[str]
    label_names: list[str] = field(default_factory=list)
    shipped: bool = False  # the shipped wiki + newsgroups corpus (the labelled queries refer to its passages)

    def subset(self, source: str | None = None, split: str | None = None) -> list[int]:
        return [
            i
            for i, p in enumerate(self.passages)
            if (source is None or p.source == source) and (split is None or p.split == split)
        ]

    def content_words(self, text: str) -> list[str]:
        return content_words(text, self.stopwords)


# -- building the shipped file -----------------------------------------------------------------------


def _clean_markup(text: str) -> str:
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"\(\s*[,;]?\s*\)", "", text)  # "()" left where templates were
    return re.sub(r"[ \t]+", " ", text)


def _prose(paragraph: str) -> bool:
    ws = paragraph.split()
    if len(ws) < 8:
        return False
    alpha = sum(1 for w in ws if re.search(r"[A-Za-z]{2}", w))
    return alpha / len(ws) > 0.7 and paragraph.rstrip()[-1:] in ".!?\"')"


def _chunk(paragraphs: list[str], limit: int = PASSAGE_WORDS) -> list[str]:
    """Merge paragraphs up to ~limit words; a longer paragraph is cut at sentence ends."""
    pieces = []
    for p in paragraphs:
        if len(p.split()) <= 2 * limit:
            pieces.append(p)
            continue
        cur: list[str] = []
        for s in re.split(r"(?<=[.!?])\s+", p):
            cur.append(s)
            if sum(len(x.split()) for x in cur) >= limit:
                pieces.append(" ".join(cur))
                cur = []
        if cur:
            pieces.append(" ".join(cur))
    out, cur, n = [], [], 0
    for p in pieces:
        k = len(p.split())
        if cur and n + k > limit:
            out.append("\n\n".join(cur))
            cur, n = [], 0
        cur.append(p)
        n += k
    if cur:
        out.append("\n\n".join(cur))
    return out


def wiki_passages(path: str) -> list[dict[str, Any]]:
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    heading = re.compile(r"^(={2,})\s*(.*?)\s*\1\s*$", re.M)
    out: list[dict[str, Any]] = []
    with bz2.open(path) as f:
        article = 0
        for title, text, _pid in extract_pages(f, filter_namespaces=("0",)):
            if text.lower().lstrip().startswith("#redirect") or "(disambiguation)" in title:
                continue
            clean = _clean_markup(filter_wiki(text))
            parts = heading.split(clean)  # [lead, "==", heading, body, "==", heading, body, ...]
            sections = [("", parts[0])] + [(parts[i + 1], parts[i + 2]) for i in range(1, len(parts) - 2, 3)]
            n_before = len(out)
            for name, body in sections:
                if name.lower().strip() in SKIP_SECTIONS:
                    continue
                paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
                for passage in _chunk([p for p in paragraphs if _prose(p)]):
                    out.append({"text": passage, "title": title, "section": name or "Introduction", "article": article})
            if len(out) > n_before:
                article += 1
    return out


def newsgroup_posts(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    class _Unpickler(pickle.Unpickler):  # the file is a pickled scikit-learn Bunch: read it as a dict
        def find_class(self, module, name):
            if name == "Bunch":
                return dict
            if module.startswith("numpy"):
                return super().find_class(module, name)
            if module in ("copy_reg", "copyreg", "__builtin__", "builtins"):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"unexpected type {module}.{name} in {path}")

    with open(path, "rb") as f:
        bunch = _Unpickler(io.BytesIO(zlib.decompress(f.read())), encoding="latin1").load()
    posts = []
    for text, label in zip(bunch["data"], bunch["target"]):
        head, _, body = text.partition("\n\n")
        subject = next((ln[8:].strip() for ln in head.splitlines() if ln.startswith("Subject:")), "")
        body = "\n".join(ln for ln in body.splitlines() if not ln.startswith(">") and "@" not in ln)
        posts.append({"text": body.strip(), "title": subject, "label": int(label)})
    return posts, list(bunch["target_names"])


def build_documents(out: Path, queries_out: Path, seed: int = 0) -> tuple[Path, Path]:
    from gensim.parsing.preprocessing import STOPWORDS

    from engines.checkpoint import atomic_write_bytes
    from engines.data.text import gensim_test_file

    rng = np.random.default_rng(seed)
    wiki = wiki_passages(gensim_test_file(WIKI_FILE))
    n_art = max(p["article"] for p in wiki) + 1
    order = rng.permutation(n_art)
    k = max(1, n_art // 10)
    split_of = {int(a): "test" for a in order[:k]} | {int(a): "valid" for a in order[k : 2 * k]}
    for p in wiki:
        p["split"] = split_of.get(p["article"], "train")
    posts, names = newsgroup_posts(gensim_test_file(NEWS_FILE))
    for label in range(len(names)):
        idx = rng.permutation([i for i, p in enumerate(posts) if p["label"] == label])
        n = len(idx)
        for j, i in enumerate(idx):
            posts[i]["split"] = "test" if j < n // 5 else "valid" if j < n // 5 + n // 10 else "train"
    data = {"version": 1, "stopwords": sorted(STOPWORDS), "wiki": wiki, "newsgroups": posts, "labels": names}
    blob = gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, lambda f: f.write(blob))
    queries = make_queries(wiki)
    text = '{"queries": [\n' + ",\n".join(json.dumps(q, ensure_ascii=False) for q in queries) + "\n]}\n"
    atomic_write_bytes(queries_out, lambda f: f.write(text.encode("utf-8")))
    _cache.clear()
    return out, queries_out


def make_queries(wiki: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One query per (article, section) that has passages: heading + title; grades 2 (the section's
    passages) and 1 (the rest of the article). The lead section ("Introduction") is skipped: its query
    would be the title alone."""
    by_section: dict[tuple[int, str], list[int]] = {}
    for i, p in enumerate(wiki):
        if p["section"] != "Introduction":
            by_section.setdefault((p["article"], p["section"]), []).append(i)
    queries = []
    for (article, section), ids in by_section.items():
        title = wiki[ids[0]]["title"]
        q = section if title.lower() in section.lower() else f"{title} {section}"
        queries.append({"query": q, "title": title, "section": section, "split": wiki[ids[0]]["split"],
                        "article": article, "section_passages": ids})  # fmt: skip
    return queries


# -- loading ------------------------------------------------------------------------------------------

_cache: dict[str, Any] = {}


def _shipped() -> dict[str, Any]:
    if "documents" not in _cache:
        from engines.resources import resource_path

        with gzip.open(resource_path("documents"), "rt", encoding="utf-8") as f:
            _cache["documents"] = json.load(f)
    return _cache["documents"]


def load_corpus(sources: Iterable[str] = ("wiki", "newsgroups")) -> DocumentCorpus:
    """The shipped passages (wiki first, then newsgroups), as one corpus."""
    d = _shipped()
    passages = []
    if "wiki" in sources:
        passages += [
            Passage(p["text"], p["title"], p["section"], "wiki", p["split"], -1, p["article"]) for p in d["wiki"]
        ]
    if "newsgroups" in sources:
        passages += [
            Passage(p["text"], p["title"], d["labels"][p["label"]], "newsgroups", p["split"], p["label"], i)
            for i, p in enumerate(d["newsgroups"])
        ]
    return DocumentCorpus(
        passages, frozenset(d["stopwords"]), list(d["labels"]), shipped=tuple(sources) == ("wiki", "newsgroups")
    )


def load_queries(split: str | None = None) -> list[dict[str, Any]]:
    """The labelled wiki queries; ``relevant`` maps wiki passage indices (int) to grades."""
    if "queries" not in _cache:
        from engines.resources import resource_path

        with open(resource_path("wiki-queries"), encoding="utf-8") as f:
            qs = json.load(f)["queries"]
        article_of = [p["article"] for p in _shipped()["wiki"]]
        for q in qs:  # grades: 1 for the article's passages, 2 for the section's
            q["relevant"] = {i: 1 for i, a in enumerate(article_of) if a == q["article"]}
            q["relevant"].update({i: 2 for i in q["section_passages"]})
        _cache["queries"] = qs
    return [q for q in _cache["queries"] if split is None or q["split"] == split]


def read_folder(
    folder: str | os.PathLike,
    stopwords: frozenset[str] = frozenset(),
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[list[Passage], list[tuple[str, str]]]:
    """A user's folder of .txt/.md files (searched recursively) as passages: each file cut at blank lines
    into ~120-word passages. Returns (passages, skipped) where skipped lists (file, reason) for files that
    could not be read; nothing is changed on disk."""
    root = Path(folder)
    if not root.is_dir():
        raise DocumentDataError(f"{root} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    if not files:
        raise DocumentDataError(f"{root} holds no .txt or .md files")
    passages: list[Passage] = []
    skipped: list[tuple[str, str]] = []
    for n, path in enumerate(files):
        check_cancelled()  # a worker's cancel stops the scan between files
        if cancelled and cancelled():
            break
        rel = str(path.relative_to(root))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise DocumentDataError(f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
            text = path.read_bytes().decode("utf-8")
            if "\x00" in text:
                raise DocumentDataError("binary content")
        except UnicodeDecodeError:
            skipped.append((rel, "not UTF-8 text"))
        except (OSError, DocumentDataError) as e:
            skipped.append((rel, getattr(e, "strerror", None) or str(e)))
        else:
            paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
            chunks = _chunk(paragraphs)
            if not any(words(c) for c in chunks):
                skipped.append((rel, "no words"))
            for c in chunks:
                passages.append(Passage(c, path.stem, "", str(root), "train", -1, n))
        if progress:
            progress(n + 1, len(files))
    return passages, skipped


# -- bags of words for DocNADE ------------------------------------------------------------------------


@dataclass
class BowSplit:
    docs: list[np.ndarray]  # word ids in reading order (DocNADE-LM uses the order; DocNADE shuffles)
    labels: np.ndarray  # -1 where unlabelled
    index: list[int]  # passage index in the corpus

    def __len__(self) -> int:
        return len(self.docs)

    def num_words(self) -> int:
        return int(sum(len(d) for d in self.docs))


def build_vocab(corpus: DocumentCorpus, ids: list[int], size: int) -> tuple[list[str], list[int]]:
    """The ``size`` most frequent content words of the given passages, and their counts."""
    counts = Counter(w for i in ids for w in corpus.content_words(corpus.passages[i].text))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    return [w for w, _ in top], [c for _, c in top]


def encode(corpus: DocumentCorpus, ids: list[int], vocab: list[str], min_words: int = 1) -> BowSplit:
    index = {w: i for i, w in enumerate(vocab)}
    docs, labels, kept = [], [], []
    for i in ids:
        d = [index[w] for w in corpus.content_words(corpus.passages[i].text) if w in index]
        if len(d) >= min_words:
            docs.append(np.asarray(d, np.int64))
            labels.append(corpus.passages[i].label)
            kept.append(i)
    return BowSplit(docs, np.asarray(labels, np.int64), kept)
