"""Lessons: an ordered list of slides, each a tab, the tab's state, presenter notes (Markdown) and which
panels show; one ``*.lesson`` file, a zip of ``lesson.json`` plus the checkpoints and input files it embeds
(models the user trained, files a state names; shipped models are referenced by their manifest sha256).

No Qt here: the format, its checks and the shipped lessons' definitions. ``app/lesson_player.py`` shows
slides in the window and exports them.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "genplay-lesson"
VERSION = 1


class LessonError(ValueError):
    """A lesson file that cannot be opened at all, with the reason."""


@dataclass
class Slide:
    tab: str  # the tab's engine name: draw, wavenet, sentences, docnade, desm, statistician
    state: dict[str, Any]  # the tab's state() (plain data)
    title: str = ""
    notes: str = ""  # presenter notes, Markdown
    about: bool = False  # show the "About this model" panel beside the tab
    media: str = ""  # also export the slide's process as "gif" or "mp4", or its audio as "wav"
    # side by side: a second view of the same tab, ``state`` with these entries changed (one seed), stepping
    # in lockstep with the first (DRAW with and without attention, two decoders, two temperatures)
    compare: dict[str, Any] = field(default_factory=dict)
    compare_sha256: str = ""  # the second view's checkpoint, when ``compare`` names another model
    model_sha256: str = ""  # the checkpoint the state's model names (shipped: its manifest sha256)
    problem: str = ""  # filled when opening: why this slide cannot be shown ("" = it can)


@dataclass
class Lesson:
    title: str
    slides: list[Slide] = field(default_factory=list)
    checkpoints: dict[str, bytes] = field(default_factory=dict)  # sha256 -> checkpoint bytes (embedded)
    # files a state names (a WAV clip): "SHA256/NAME" -> bytes; the state says "lesson-input:SHA256/NAME"
    inputs: dict[str, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        slides = [{k: v for k, v in asdict(s).items() if k != "problem"} for s in self.slides]
        return {"format": FORMAT, "version": VERSION, "title": self.title, "slides": slides,
                "checkpoints": sorted(self.checkpoints), "inputs": sorted(self.inputs)}  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shipped_sha256(model: str) -> str:
    """The manifest sha256 of a shipped checkpoint name ("" when it is not a shipped one)."""
    from engines.resources import load_manifest

    return load_manifest().get(model, {}).get("sha256", "")


def save_lesson(path: str | Path, lesson: Lesson) -> None:
    """Write the lesson atomically (a failed write leaves an earlier file whole). Members are written in a
    fixed order with a fixed timestamp, so the same lesson gives the same bytes."""
    from engines.checkpoint import atomic_write_bytes

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        put("lesson.json", json.dumps(lesson.to_json(), indent=1, sort_keys=True).encode("utf-8"))
        for sha, data in sorted(lesson.checkpoints.items()):
            put(f"checkpoints/{sha}.pt", data)
        for key, data in sorted(lesson.inputs.items()):
            put(f"inputs/{key}", data)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


MAX_UNPACKED = 1 << 30  # a lesson whose members expand past 1 GiB is refused (a zip bomb, or no lesson)
MEDIA = ("", "gif", "mp4", "wav")
_HEX = set("0123456789abcdef")


def is_sha256(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and set(text) <= _HEX


def is_plain_name(name: object) -> bool:
    """A file name with no folder in it: no separators, not '.' or '..', no drive letter, no control
    characters, at most 255 characters."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name not in (".", "..")
        and not any(c in name for c in '/\\:') and all(ord(c) >= 32 and c != "\x7f" for c in name)
    )  # fmt: skip


def is_input_key(key: object) -> bool:
    """An embedded input's key: ``<64 hex>/<plain file name>``."""
    if not isinstance(key, str) or key.count("/") != 1:
        return False
    sha, name = key.split("/")
    return is_sha256(sha) and is_plain_name(name)


def _members(z: zipfile.ZipFile, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The embedded checkpoints and inputs as {sha256 or key: member name}; any other member, or one whose
    name is not of the format (a folder in it, '..', an absolute path), refuses the lesson."""
    checkpoints, inputs = {}, {}
    total = 0
    for info in z.infolist():
        member = info.filename
        total += info.file_size
        if total > MAX_UNPACKED:
            raise LessonError(f"{name}: its members unpack to more than {MAX_UNPACKED >> 30} GiB")
        if member == "lesson.json" or (info.is_dir() and member in ("checkpoints/", "inputs/")):
            continue
        if member.startswith("checkpoints/") and member.endswith(".pt") and is_sha256(member[12:-3]):
            checkpoints[member[12:-3]] = member
        elif member.startswith("inputs/") and is_input_key(member[7:]):
            inputs[member[7:]] = member
        else:
            raise LessonError(f"{name}: member {member[:80]!r} is not part of a lesson (checkpoints/<sha256>.pt and "
                              "inputs/<sha256>/<file name> only)")  # fmt: skip
    return checkpoints, inputs


_SLIDE_TYPES = {"tab": str, "state": dict, "title": str, "notes": str, "about": bool, "media": str,
                "compare": dict, "compare_sha256": str, "model_sha256": str}  # fmt: skip


def _slide(raw: object, i: int, name: str) -> Slide:
    """One slide of lesson.json, every field checked; a wrong one refuses the lesson naming the slide."""
    where = f"{name}: slide {i + 1}"
    if not isinstance(raw, dict):
        raise LessonError(f"{where} is not an object")
    if not isinstance(raw.get("tab"), str) or not isinstance(raw.get("state"), dict):
        raise LessonError(f"{where} has no tab or state")
    for key, kind in _SLIDE_TYPES.items():
        if key in raw and not isinstance(raw[key], kind):
            raise LessonError(f"{where}: '{key}' must be {kind.__name__}, not {type(raw[key]).__name__}")
    if raw.get("media", "") not in MEDIA:
        raise LessonError(f"{where}: media {str(raw['media'])[:20]!r} is not one of gif, mp4, wav")
    for key in ("compare_sha256", "model_sha256"):
        if raw.get(key) and not is_sha256(raw[key]):
            raise LessonError(f"{where}: '{key}' is not a sha256")
    for part in ("state", "compare"):
        for k, v in raw.get(part, {}).items():
            if isinstance(v, str) and v.startswith(INPUT_PREFIX) and not is_input_key(v[len(INPUT_PREFIX) :]):
                raise LessonError(f"{where}: {part} '{k}' names an input that is not <sha256>/<file name>")
    return Slide(**{k: raw[k] for k in _SLIDE_TYPES if k in raw})


def load_lesson(path: str | Path, tabs: set[str] | None = None) -> Lesson:
    """Open a lesson. A file that is not a lesson, is corrupt, comes from a newer version, or has a field or
    member name not of the format raises :class:`LessonError` with one line; a slide whose tab is unknown or
    whose checkpoint is neither shipped (same sha256) nor embedded is kept with its ``problem`` set, so the
    other slides still open."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            if "lesson.json" not in z.namelist():
                raise LessonError(f"{p.name}: not a lesson file (no lesson.json inside)")
            found_checkpoints, found_inputs = _members(z, p.name)
            obj = json.loads(z.read("lesson.json").decode("utf-8"))
            checkpoints = {sha: z.read(m) for sha, m in found_checkpoints.items()}
            inputs = {key: z.read(m) for key, m in found_inputs.items()}
    except FileNotFoundError:
        raise LessonError(f"{p.name}: no such file") from None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError, RecursionError,
            NotImplementedError, RuntimeError) as e:  # fmt: skip
        if isinstance(e, LessonError):
            raise
        raise LessonError(
            f"{p.name}: not a readable lesson file ({str(e).splitlines()[0] if str(e) else e!r})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise LessonError(f"{p.name}: not a lesson file (format {obj.get('format') if isinstance(obj, dict) else '?'})")
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LessonError(f"{p.name}: lesson format version must be a whole number from 1, not {version!r}"[:200])
    if version > VERSION:
        raise LessonError(f"{p.name}: made by a newer version of the app (lesson format {version}; this app reads "
                          f"up to {VERSION})")  # fmt: skip
    for key, kind in (("title", str), ("slides", list), ("checkpoints", list), ("inputs", list)):
        if key in obj and not isinstance(obj[key], kind):
            raise LessonError(f"{p.name}: '{key}' must be a {kind.__name__}, not {type(obj[key]).__name__}")
    for sha, data in checkpoints.items():
        if sha256_bytes(data) != sha:
            raise LessonError(f"{p.name}: embedded checkpoint {sha[:12]}… is corrupt (its sha256 differs)")
    for key, data in inputs.items():
        if sha256_bytes(data) != key.split("/")[0]:
            raise LessonError(f"{p.name}: embedded input {key.split('/')[-1]} is corrupt (its sha256 differs)")
    slides = []
    for i, raw in enumerate(obj.get("slides", [])):
        slide = _slide(raw, i, p.name)
        slide.problem = _problem(slide, tabs, checkpoints, inputs)
        slides.append(slide)
    return Lesson(obj.get("title", p.stem), slides, checkpoints, inputs)


def write_input(lesson: Lesson, key: str, folder: str | Path) -> Path:
    """Write embedded input ``key`` to ``folder/<sha256>/<name>`` (once) and return that path. The key is
    checked again here, and the path must resolve inside ``folder``: nothing a lesson says is written elsewhere."""
    if not is_input_key(key) or key not in lesson.inputs:
        raise LessonError(f"the lesson has no input {key[:80]!r}")
    root = Path(folder).resolve()
    path = (root / key).resolve()
    if not path.is_relative_to(root):
        raise LessonError(f"input {key[:80]!r} would be written outside its folder")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lesson.inputs[key])
    return path


INPUT_PREFIX = "lesson-input:"


def _problem(slide: Slide, tabs: set[str] | None, checkpoints: dict[str, bytes], inputs: dict[str, bytes]) -> str:
    if tabs is not None and slide.tab not in tabs:
        return f"this app has no '{slide.tab}' tab"
    for value in [*slide.state.values(), *slide.compare.values()]:
        if isinstance(value, str) and value.startswith(INPUT_PREFIX) and value[len(INPUT_PREFIX) :] not in inputs:
            return f"the input file {value.split('/')[-1]} is not in the lesson"
    views = [(slide.model_sha256, str(slide.state.get("model", "")))]
    if slide.compare:
        views.append((slide.compare_sha256, str(slide.compare.get("model", slide.state.get("model", "")))))
    for sha, model in views:
        if sha and sha not in checkpoints and shipped_sha256(model) != sha:
            return f"checkpoint '{model}' (sha256 {sha[:12]}…) is missing: not shipped with this app, not embedded"
    return ""


# ----------------------------------------------------------------------------- the shipped lessons

DRAW_NOTES = {
    "start": "DRAW writes the image in $T$ steps onto a canvas: $c_t = c_{t-1} + \\mathrm{write}(h^{dec}_t)$. "
    "The vermillion box is where glimpse $t$ writes: a grid of $N \\times N$ Gaussian filters whose centre, stride "
    "and width the decoder chooses (eqs. 19-22). Press → to step through the glimpses.",
    "middle": "Halfway: strokes are laid down where the box moves. The canvas is a sum of writes; the image is "
    "$\\sigma(c_T)$.",
    "end": "The last glimpse. Each image took its own path of boxes: attention lets the model spend glimpses "
    "where the ink is.",
    "read": "Reconstruction: the encoder *reads* a patch (sky blue) of the image and of the error image "
    "$\\hat{x}_t = x - \\sigma(c_{t-1})$ (eq. 27); the bars are the KL of each glimpse's latent $z_t$, the nats "
    "spent at that step.",
    "none": "Without attention each glimpse writes the whole canvas (eq. 18): no boxes, and the image fades in "
    "everywhere at once. Compare the test bound in the README: attention is the better model.",
}


def shipped_lessons() -> dict[str, Lesson]:
    """The lessons in ``resources/lessons/``, as data (``python main.py --build-lessons DIR`` writes them)."""
    from engines.data.text import EXAMPLE_PAIRS

    KJV_PAIR = dict(zip(("a", "b"), EXAMPLE_PAIRS["kjv"], strict=True))  # noqa: N806 (a constant of the lessons)

    def slide(tab: str, state: dict, title: str, notes: str, about: bool = False, media: str = "",
              compare: dict | None = None) -> Slide:  # fmt: skip
        compare = compare or {}
        return Slide(tab, state, title, notes, about, media, compare=compare,
                     compare_sha256=shipped_sha256(str(compare.get("model", ""))),
                     model_sha256=shipped_sha256(str(state.get("model", ""))))  # fmt: skip

    draw = Lesson("How DRAW draws with attention", [
        slide("draw", {"mode": "sample", "model": "draw-attention", "seed": 3, "step": 0}, "Glimpse 1",
              DRAW_NOTES["start"], about=True),
        slide("draw", {"mode": "sample", "model": "draw-attention", "seed": 3, "step": 12}, "Glimpse 13",
              DRAW_NOTES["middle"]),
        slide("draw", {"mode": "sample", "model": "draw-attention", "seed": 3, "step": 31}, "The last glimpse",
              DRAW_NOTES["end"], media="gif"),
        slide("draw", {"mode": "reconstruct", "model": "draw-attention", "count": 9, "step": 11}, "Reading",
              DRAW_NOTES["read"]),
        slide("draw", {"mode": "sample", "model": "draw-no-attention", "seed": 3, "step": 31}, "No attention",
              DRAW_NOTES["none"]),
        slide("draw", {"mode": "sample", "model": "draw-attention", "seed": 3, "step": 9},
              "With and without attention, in lockstep",
              "Left: with attention; right: without, the same seed. → steps both: one writes where its box is, "
              "the other everywhere at once.", compare={"model": "draw-no-attention"}),
    ])  # fmt: skip
    sentences = Lesson("Why a sentence VAE ignores its latent", [
        slide("sentences", {"model": "sentences-lstm-vae", "action": "interpolate"}, "LSTM-VAE, no annealing",
              "Trained on the plain ELBO, the LSTM decoder models the sentence alone: "
              "$\\mathrm{KL}(q(z|x) \\,\\|\\, p(z))$ falls to about zero and every point of the "
              "homotopy decodes to the same sentence (the tab flags the collapse)."),
        slide("sentences", {"model": "sentences-lstm-vae-annealed", "action": "interpolate"}, "With KL annealing",
              "Bowman et al.: the KL term's weight $\\beta$ rises from 0 to 1 over training. Now z carries "
              "about 7 nats and the homotopy moves from sentence A towards B, one phrase at a time (not every step "
              "is grammatical: a 24,000-sentence corpus is small for an LSTM)."),
        slide("sentences", {"model": "sentences-cnn-small", "action": "interpolate", **KJV_PAIR},
              "CNN decoder, small context",
              "Yang et al.: a dilated CNN decoder that sees only a few previous words cannot model the sentence on "
              "its own, so it should use z. This one, trained on KJV verses of about 25 words, sees 2 words and "
              "keeps 4.2 nats of KL."),
        slide("sentences", {"model": "sentences-cnn-large", "action": "interpolate", **KJV_PAIR},
              "CNN decoder, large context",
              "Yang et al. found that a receptive field as long as the sentence behaves like the LSTM again and the "
              "KL shrinks. Here it sees 32 words (the whole verse), is as deep as the small one, and keeps 2.2 "
              "nats: the paper's ordering (the medium one, 4 words, keeps 3.0). A and B are two KJV test verses."),
        slide("sentences", {"model": "sentences-lstm-vae", "action": "interpolate", **KJV_PAIR}, "LSTM against CNN",
              "The same two verses through the collapsed LSTM-VAE (left; trained on WordNet's sentences, it decodes "
              "one sentence whatever z is) and the small-context CNN-VAE (right).",
              compare={"model": "sentences-cnn-small"}),
    ])  # fmt: skip
    wavenet = Lesson("How WaveNet sees the past", [
        slide("wavenet", {"mode": "generate", "voice": 0, "seconds": 2.0, "seed": 1, "stream": False},
              "Generating speech",
              "Each sample $x_t$ is drawn from a 256-way softmax over μ-law levels, $p(x_t \\mid "
              "x_{<t})$, computed by a stack of causal convolutions whose dilation doubles each layer: the lit "
              "bands are the receptive field.",
              about=True, media="wav"),
        slide("wavenet", {"mode": "generate", "voice": 5, "seconds": 2.0, "seed": 1, "stream": False}, "Music",
              "The same network, another global condition (the voice embedding): music."),
        slide("wavenet", {"mode": "generate", "voice": 0, "seconds": 2.0, "seed": 1, "stream": False,
                          "temperature": 1.0}, "Two temperatures",
              "The same voice and seed at temperature 1.0 (left) and 0.7 (right): dividing the logits sharpens "
              "$p(x_t \\mid x_{<t})$; too sharp and the speech turns to a hum.", compare={"temperature": 0.7}),
        slide("wavenet", {"mode": "resynthesize", "clip": "test:2", "voice": 3, "stream": False},
              "Local conditioning",
              "Log-mel frames of a French prompt, upsampled to the sample rate, condition every layer; the voice "
              "embedding says Italian. Original and resynthesis: spectrograms one above the other."),
    ])  # fmt: skip
    from engines.statistician import StatisticianEngine
    from engines.statistician.data import demo_sets, encode_images

    sets, query = demo_sets(StatisticianEngine.load_data("glyphs")[2])
    shown = {"sets": [{"name": n, "images": encode_images(x)} for n, x in sets], "query": encode_images(query[None])}
    statistician = Lesson("What a statistic network summarises", [
        slide("statistician", shown, "Sets and their contexts",
              "$q(c \\mid D)$: encode each item, average, map to a Gaussian. New items come from "
              "$p(x \\mid z, c)$; the query joins the set whose model explains it best, $p(x \\mid D)$ (the "
              "paper's rule, the nearest context posterior in KL, is the tab's other Rule).", about=True),
        slide("statistician", {**shown, "view": 1}, "The map of contexts",
              "Context means of sets of five held-out characters, on two principal axes, coloured by script."),
        slide("statistician", {**shown, "view": 1, "map_source": "Synthetic 1-D sets (the paper's figure)"},
              "Distributions as sets",
              "Sets of 200 numbers from four families: the context separates the families without their labels "
              "(the paper's Figure 2)."),
    ])  # fmt: skip
    for lesson in (wavenet, statistician):  # their states name no model: the tab's default shipped one
        for s in lesson.slides:
            s.model_sha256 = ""
    docnade = Lesson("Documents as autoregressive bags of words", [
        slide("docnade", {"model": "docnade-wiki", "view": 0}, "Every word given the words before it",
              "DocNADE reads a document's words in some order and predicts each from those before it: "
              "$h_i = g(c + \\sum_{k<i} W_{:,v_k})$, $p(v_i \\mid v_{<i})$ by a tree softmax. Orange "
              "words surprised the model.",
              about=True),
        slide("docnade", {"model": "docnade-wiki", "view": 1}, "Topics",
              "Each hidden unit's largest weights $W_{v,j}$: the words it stands for. No topic model was asked for."),
        slide("docnade", {"model": "docnade-wiki", "view": 2}, "Nearest documents",
              "The hidden vector of the whole document is its representation; cosine finds passages on the same "
              "subject."),
    ])  # fmt: skip
    search = Lesson("Ranking with word embeddings", [
        slide("desm", {"query": "Alabama climate", "alpha": 0.0}, "BM25 alone",
              "$\\alpha = 0$: BM25's ranking, exact terms only. → raises $\\alpha$ by 0.05: DESM's IN-OUT score, "
              "$\\cos(q_{IN}, \\bar{D}_{OUT})$, takes over and the list re-sorts.", about=True),
        slide("desm", {"query": "Alabama climate", "alpha": -1.0}, "The tuned mixture",
              "$\\alpha$ tuned on the validation queries: the mixture $\\alpha\\,\\mathrm{DESM} + "
              "(1-\\alpha)\\,\\mathrm{BM25}$ beats BM25 at NDCG@1, 3 and 10 (README)."),
        slide("desm", {"query": "Alabama climate", "term": "climate"}, "IN-IN against IN-OUT",
              "A word's IN-IN neighbours are words like it (typical); IN-OUT neighbours are words found with it "
              "(topical): the distinction DESM rests on."),
    ])  # fmt: skip
    return {"draw-attention": draw, "sentence-vae-latent": sentences, "wavenet-past": wavenet,
            "statistician-sets": statistician, "documents-docnade": docnade, "search-desm": search}  # fmt: skip
