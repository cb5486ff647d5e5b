"""Sentence corpora for the sentence models: WordNet examples, KJV verses, Pang & Lee polarity.

Shipped file ``resources/data/sentences.json.gz`` (``python -m engines build-data sentences``):

- ``wordnet``: the example sentences quoted in WordNet 3.0's glosses (Debian ``wordnet-base``),
  de-duplicated, 1-30 tokens, none with a hyphen or dash, in a *closed vocabulary*: only sentences
  whose every word is in the vocabulary are kept (:func:`closed_vocabulary`), so no model ever reads
  or needs to write ``<unk>`` (with 8,000 words and every sentence kept, 12% of WordNet's tokens were
  ``<unk>`` and greedy decodes stopped on "the" where they wanted a rare noun). Split by synset,
  2,000 test / 2,000 valid / the rest train (seed 0) before the split-wise pass of the filter. The
  ``doc`` of a sentence is its synset, so a synset's examples form a small passage.
- ``kjv``: King James Version verses (Debian ``bible-kjv``'s text), 1-40 tokens; every 20th chapter
  is test, every 20th + 1 valid. ``doc`` is the chapter, so consecutive verses form passages.
- ``polarity``: the 200 labelled movie-review sentences (Pang & Lee 2005) in gensim's test data.

Tokens are lower-cased words (with an apostrophe suffix kept: ``it's``) and single punctuation
marks. The vocabulary is built from the training split only; other words map to ``<unk>``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
MIN_COUNT = 2  # a word needs two training occurrences to get its own id
MAX_VOCAB = 16000  # a cap; WordNet's closed vocabulary holds about 11,300 words, KJV 7,500


class TextDataError(ValueError):
    """A text file that cannot be used, with the reason."""


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower().replace("`", "'").replace("_", " "))


@dataclass
class Vocab:
    words: list[str]  # the specials first
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        if tuple(self.words[:4]) != SPECIALS:
            raise TextDataError("a vocabulary must start with <pad>, <s>, </s>, <unk>")
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, sentences: list[list[str]], min_count: int = MIN_COUNT, max_size: int = MAX_VOCAB) -> Vocab:
        counts = Counter(w for s in sentences for w in s)
        common = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
        return cls(list(SPECIALS) + common[: max_size - len(SPECIALS)])

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.index.get(w, UNK_ID) for w in tokens]

    def decode(self, ids, stop_at_eos: bool = True) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID and stop_at_eos:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.words[i] if 0 <= i < len(self.words) else UNK)
        return out


def detokenize(tokens: list[str]) -> str:
    """Tokens back to readable text: no space before punctuation and after opening brackets."""
    text = ""
    for t in tokens:
        if text and not (t in ".,;:!?)'" or text[-1] in "($"):
            text += " "
        text += t
    return text


@dataclass
class SentenceSplit:
    tokens: list[list[str]]
    doc: np.ndarray  # (N,) int: sentences of one doc are consecutive
    labels: np.ndarray | None = None  # (N,) int, for labelled sets

    def __len__(self) -> int:
        return len(self.tokens)

    def num_tokens(self) -> int:
        return sum(len(t) + 1 for t in self.tokens)  # + </s>

    def passages(self, size: int = 3) -> list[list[list[str]]]:
        """Consecutive runs of ``size`` sentences of the same doc (the hierarchical autoencoder's units)."""
        out, start = [], 0
        n = len(self.tokens)
        while start < n:
            end = start
            while end < n and self.doc[end] == self.doc[start]:
                end += 1
            for i in range(start, end - size + 1, size):
                out.append(self.tokens[i : i + size])
            start = end
        return out


@dataclass
class SentenceDataset:
    name: str
    train: SentenceSplit
    valid: SentenceSplit
    test: SentenceSplit
    vocab: Vocab


def _data_path() -> Path:
    from engines.resources import resource_path

    return resource_path("sentences")


_cache: dict[str, Any] = {}  # the shipped file's JSON, and each corpus built from it


def _load_shipped() -> dict:
    if "shipped" not in _cache:
        with gzip.open(_data_path(), "rt", encoding="utf-8") as f:
            _cache["shipped"] = json.load(f)
    return _cache["shipped"]


def _split(d: dict) -> SentenceSplit:
    labels = np.asarray(d["labels"], dtype=np.int64) if "labels" in d else None
    return SentenceSplit([s.split(" ") for s in d["text"]], np.asarray(d["doc"], dtype=np.int64), labels)


# Each shipped corpus's example pair A, B (test sentences) for homotopies: the Sentences tab's defaults
# follow the model's corpus, since a model trained on KJV verses reads WordNet's "park" as <unk>.
EXAMPLE_PAIRS = {
    "wordnet": ("the children played in the park", "he sold his old car to a dealer"),
    "kjv": ("blessed shall be thy basket and thy store.", "and abraham sojourned in the philistines' land many days."),
}


def load_sentences(name: str) -> SentenceDataset:
    """A shipped corpus by name (``wordnet``, ``kjv``) or a user's UTF-8 text file (one sentence a
    line; blank lines separate passages), split 90/5/5 in file order."""
    if name in ("wordnet", "kjv"):
        if name not in _cache:  # parsed and counted once per process; nothing changes a split
            d = _load_shipped()[name]
            train, valid, test = (_split(d[k]) for k in ("train", "valid", "test"))
            _cache[name] = SentenceDataset(name, train, valid, test, Vocab.build(train.tokens))
        return _cache[name]
    return load_text_file(name)


def load_polarity() -> SentenceSplit:
    return _split(_load_shipped()["polarity"])


def load_text_file(path: str | os.PathLike, max_tokens: int = 60) -> SentenceDataset:
    path = Path(path)
    if not path.is_file():
        raise TextDataError(f"{path}: no such file (give a shipped corpus name: wordnet, kjv, or a text file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TextDataError(f"{path.name}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise TextDataError(f"{path.name}: unreadable ({e.strerror})") from None
    tokens, doc, d = [], [], 0
    for line in text.splitlines():
        toks = tokenize(line)[:max_tokens]
        if not toks:
            d += 1
            continue
        tokens.append(toks)
        doc.append(d)
    if len(tokens) < 20:
        raise TextDataError(f"{path.name}: {len(tokens)} sentences; at least 20 are needed (one per line)")
    n = len(tokens)
    a, b = int(n * 0.9), int(n * 0.95)
    doc_arr = np.asarray(doc, dtype=np.int64)
    train = SentenceSplit(tokens[:a], doc_arr[:a])
    return SentenceDataset(
        path.name, train, SentenceSplit(tokens[a:b], doc_arr[a:b]), SentenceSplit(tokens[b:], doc_arr[b:]),
        Vocab.build(train.tokens),
    )  # fmt: skip


# ----------------------------------------------------------------------------- building


def wordnet_examples(root: str = "/usr/share/wordnet") -> list[tuple[int, list[str]]]:
    """(synset offset, tokens) of every quoted example in the glosses of WordNet's data files."""
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(root, f"data.{pos}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                offset = int(line[:8]) * 4 + "nvar".index(pos[0])
                for q in re.findall(r'"([^"]+)"', line.split(" | ", 1)[1]):
                    out.append((offset, tokenize(q)))
    return out


def kjv_verses() -> list[tuple[int, list[str]]]:
    """(chapter number, tokens) of every KJV verse, read with Debian's ``bible`` program."""
    proc = subprocess.run(["bible", "gen1:1-rev22:21"], input="", capture_output=True, text=True, check=True)
    out, chapter, verse = [], -1, None
    for line in proc.stdout.splitlines():
        if re.match(r"^[1-3A-Z][A-Za-z ]* \d+$", line.strip()) and not line.startswith(" "):
            chapter += 1
            continue
        m = re.match(r"^\s+\d+ (.*)$", line)
        if m:
            if verse is not None:
                out.append(verse)
            verse = (chapter, m.group(1))
        elif line.strip() and verse is not None:
            verse = (verse[0], verse[1] + " " + line.strip())
    if verse is not None:
        out.append(verse)
    return [(c, tokenize(t)) for c, t in out]


def _pack(items: list[tuple[int, list[str]]]) -> dict:
    return {"text": [" ".join(t) for _, t in items], "doc": [int(d) for d, _ in items]}


def closed_vocabulary(splits: dict[str, list[tuple[int, list[str]]]]) -> dict[str, list[tuple[int, list[str]]]]:
    """Keep the sentences whose every word is in the vocabulary of ``splits["train"]`` (:meth:`Vocab.build`),
    rebuilding it and filtering again until no training sentence is dropped, so the vocabulary a model builds
    from the kept training split covers every kept sentence of every split."""
    while True:
        vocab = Vocab.build([t for _, t in splits["train"]]).index
        kept = {k: [(d, t) for d, t in v if all(w in vocab for w in t)] for k, v in splits.items()}
        if len(kept["train"]) == len(splits["train"]):
            return kept
        splits = kept


def build_sentences(out: Path, polarity_file: str | None = None) -> Path:
    """Build ``sentences.json.gz`` from the Debian packages and gensim's polarity file."""
    rng = np.random.default_rng(0)
    seen, wn = set(), []
    for off, toks in wordnet_examples():
        key = " ".join(toks)
        if 1 <= len(toks) <= 30 and key not in seen:
            seen.add(key)
            wn.append((off, toks))
    synsets = sorted({o for o, _ in wn})
    rank = dict(zip(synsets, rng.permutation(len(synsets)).tolist()))
    wn.sort(key=lambda x: rank[x[0]])  # whole synsets to one split; stable within a synset
    # no split hyphens or dashes ("a - bomb"): 5% of the sentences; greedy decoders looped on "-" ("a good - - - -")
    wn = [(o, t) for o, t in wn if "-" not in t]
    wn = closed_vocabulary({"train": wn})["train"]  # on the whole pool first, so the split sizes hold
    parts = closed_vocabulary({"test": wn[:2000], "valid": wn[2000:4000], "train": wn[4000:]})
    data = {"wordnet": {k: _pack(v) for k, v in parts.items()}}
    kjv = [(c, t) for c, t in kjv_verses() if 1 <= len(t) <= 40]
    parts = {"train": [], "valid": [], "test": []}
    for c, t in kjv:
        parts["test" if c % 20 == 0 else "valid" if c % 20 == 1 else "train"].append((c, t))
    data["kjv"] = {k: _pack(v) for k, v in parts.items()}
    polarity_file = polarity_file or _find_polarity()
    text, labels = [], []
    with open(polarity_file, encoding="cp1252", errors="replace") as f:  # the file is Windows-1252
        for line in f:
            label, _, sentence = line.strip().partition(" ")
            text.append(" ".join(tokenize(sentence)))
            labels.append(1 if label == "__label__pos" else 0)
    data["polarity"] = {"text": text, "doc": list(range(len(text))), "labels": labels}
    from engines.checkpoint import atomic_write_bytes

    blob = gzip.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, lambda f: f.write(blob))
    _cache.clear()
    return out


def gensim_test_file(name: str) -> str:
    """A file of gensim's ``gensim/test/test_data`` (real corpora gensim ships for its tests), from an
    installed gensim or a downloaded wheel whose path ``GENSIM_WHEEL`` gives."""
    import importlib.util
    import zipfile

    spec = importlib.util.find_spec("gensim")
    if spec and spec.origin:
        p = Path(spec.origin).parent / "test" / "test_data" / name
        if p.is_file():
            return str(p)
    wheel = os.environ.get("GENSIM_WHEEL")
    if wheel:
        target = Path(wheel).with_name(name)
        with zipfile.ZipFile(wheel) as z:
            target.write_bytes(z.read(f"gensim/test/test_data/{name}"))
        return str(target)
    raise TextDataError(f"gensim's test file {name} not found: pip install gensim, or set GENSIM_WHEEL")


def _find_polarity() -> str:
    return gensim_test_file("pang_lee_polarity.cor")
