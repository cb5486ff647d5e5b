"""Lesson files from outside: crafted member names and lesson.json structures end as a lesson or one
LessonError line, never a traceback, and nothing a lesson says is written outside its folder."""

import hashlib
import json
import os
import string
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.lesson import FORMAT, INPUT_PREFIX, Lesson, LessonError, Slide, load_lesson, save_lesson, write_input

DATA = b"RIFF a file the lesson embeds"
SHA = hashlib.sha256(DATA).hexdigest()
TABS = {"draw", "wavenet", "sentences", "docnade", "desm", "statistician"}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def lesson_json(key: str, **extra) -> bytes:
    slide = {"tab": "wavenet", "state": {"clip": INPUT_PREFIX + key}}
    return json.dumps({"format": FORMAT, "version": 1, "title": "t", "slides": [slide], **extra}).encode()


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def open_and_write_inputs(path: Path, sandbox: Path) -> Lesson | None:
    """What the player does with a lesson: open it, then write each embedded input a state names."""
    try:
        lesson = load_lesson(path, TABS)
    except LessonError as e:
        assert "\n" not in str(e) and str(e).startswith(path.name)
        return None
    for slide in lesson.slides:
        assert isinstance(slide.state, dict) and isinstance(slide.compare, dict) and isinstance(slide.title, str)
        for value in [*slide.state.values(), *slide.compare.values()]:
            if isinstance(value, str) and value.startswith(INPUT_PREFIX) and not slide.problem:
                written = write_input(lesson, value[len(INPUT_PREFIX) :], sandbox)
                assert written.resolve().is_relative_to(sandbox.resolve())
    return lesson


TRAVERSALS = [f"{SHA}/../../../pwned.txt", f"{SHA}/../../pwned.txt", f"../{SHA}/pwned.txt", f"{SHA}/sub/pwned.txt",
              f"/{SHA}/pwned.txt", f"{SHA}/C:pwned.txt", f"{SHA}/..\\..\\pwned.txt", f"{SHA}/..", f"{SHA}/.",
              f"{SHA}/", f"{SHA.upper()}/pwned.txt", "0" * 63 + "/pwned.txt"]  # fmt: skip


@pytest.mark.parametrize("key", TRAVERSALS)
def test_crafted_input_names_are_refused_and_write_nothing(tmp_path, key):
    """Mutation: load_lesson accepting any ``inputs/`` member (the issue's reproduction wrote outside)."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    sandbox = deep / "sandbox"
    sandbox.mkdir()
    path = write_zip(deep / "evil.lesson", {"lesson.json": lesson_json(key), f"inputs/{key}": DATA})
    before = files_under(tmp_path)
    with pytest.raises(LessonError) as e:
        load_lesson(path, TABS)
    assert "\n" not in str(e.value) and str(e.value).startswith("evil.lesson: ")
    # and a lesson.json naming such a key, with the member stored under a valid name, is refused as well
    ok = write_zip(deep / "named.lesson", {"lesson.json": lesson_json(key), f"inputs/{SHA}/clip.wav": DATA})
    with pytest.raises(LessonError, match="named.lesson: slide 1"):
        load_lesson(ok, TABS)
    assert files_under(tmp_path) == before | {ok}


def test_write_input_stays_in_its_folder_even_for_a_lesson_made_in_memory(tmp_path):
    """Defence in depth: a Lesson built without load_lesson's checks still cannot write outside."""
    sandbox = tmp_path / "x" / "sandbox"
    sandbox.mkdir(parents=True)
    evil = f"{SHA}/../../pwned.txt"
    lesson = Lesson("evil", [Slide("wavenet", {"clip": INPUT_PREFIX + evil})], inputs={evil: DATA})
    with pytest.raises(LessonError, match="has no input"):
        write_input(lesson, evil, sandbox)
    assert not list(tmp_path.rglob("pwned.txt"))
    good = Lesson("good", inputs={f"{SHA}/clip.wav": DATA})
    path = write_input(good, f"{SHA}/clip.wav", sandbox)
    assert path == sandbox.resolve() / SHA / "clip.wav" and path.read_bytes() == DATA


@pytest.mark.parametrize(
    "obj, said",
    [({"format": FORMAT, "version": 1, "slides": 5}, "'slides' must be a list, not int"),
     ({"format": FORMAT, "version": "1"}, "version must be a whole number from 1, not '1'"),
     ({"format": FORMAT, "version": True}, "version must be a whole number"),
     ({"format": FORMAT, "version": 2}, "made by a newer version"),
     ({"format": FORMAT, "version": 1, "title": ["x"]}, "'title' must be a str"),
     ({"format": FORMAT, "version": 1, "slides": [{"tab": "draw", "state": {}, "about": "yes"}]},
      "slide 1: 'about' must be bool"),
     ({"format": FORMAT, "version": 1, "slides": [{"tab": "draw", "state": {}, "media": "exe"}]}, "media 'exe'"),
     ({"format": FORMAT, "version": 1, "slides": [{"tab": "draw", "state": {}, "model_sha256": "../x"}]},
      "'model_sha256' is not a sha256"),
     ({"format": FORMAT, "version": 1, "slides": [7]}, "slide 1 is not an object"),
     ([1, 2], "not a lesson file")],
)  # fmt: skip
def test_malformed_lesson_json_fields_get_one_line(tmp_path, obj, said):
    path = write_zip(tmp_path / "bad.lesson", {"lesson.json": json.dumps(obj).encode()})
    with pytest.raises(LessonError) as e:
        load_lesson(path, TABS)
    assert said in str(e.value) and "\n" not in str(e.value)


def test_random_bytes_and_deep_json_get_one_line(tmp_path):
    (tmp_path / "noise.lesson").write_bytes(os.urandom(3000))
    deep = "[" * 100_000 + "]" * 100_000
    write_zip(tmp_path / "deep.lesson", {"lesson.json": deep.encode()})
    write_zip(tmp_path / "latin1.lesson", {"lesson.json": '{"title": "caf\xe9"}'.encode("latin-1")})
    for name in ("noise.lesson", "deep.lesson", "latin1.lesson"):
        with pytest.raises(LessonError, match=f"{name}: not a"):
            load_lesson(tmp_path / name, TABS)


# -- property-based: any lesson.json and any member names ------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
name_parts = st.sampled_from(["..", ".", "", "a", "clip.wav", "C:", "x\\..", SHA, SHA[:10], "\x00", "é"])
member_names = st.one_of(
    st.lists(name_parts, min_size=1, max_size=5).map("/".join),
    st.lists(name_parts, min_size=1, max_size=4).map(lambda p: "inputs/" + "/".join(p)),
    st.lists(name_parts, min_size=1, max_size=3).map(lambda p: "checkpoints/" + "/".join(p) + ".pt"),
    st.text(alphabet=string.printable, max_size=30),
)
slide_fields = st.fixed_dictionaries(
    {},
    optional={"tab": st.sampled_from(["draw", "wavenet", "nope"]) | json_values,
              "state": st.dictionaries(st.sampled_from(["clip", "seed", "model"]),
                                       member_names.map(lambda n: INPUT_PREFIX + n.removeprefix("inputs/"))
                                       | json_values, max_size=3) | json_values,
              "title": st.text(max_size=5) | json_values, "about": st.booleans() | json_values,
              "media": st.sampled_from(["", "gif", "wav", "exe"]) | json_values,
              "compare": st.dictionaries(st.text(max_size=4), json_values, max_size=2) | json_values,
              "model_sha256": st.sampled_from(["", SHA, "../" + SHA[3:]]) | json_values},
)  # fmt: skip
lessons = (
    st.fixed_dictionaries(
        {"format": st.sampled_from([FORMAT, FORMAT, "other"]), "version": st.sampled_from([1, 1, 1, 0, 2, "1", None])},
        optional={
            "title": st.text(max_size=5) | json_values,
            "slides": st.lists(slide_fields, max_size=3) | json_values,
        },
    )
    | json_values
)


# a fixed sequence of examples in the suite (the same cases every CI run); GENPLAY_HYPOTHESIS_EXAMPLES=5000
# explores afresh (random) when looking for new cases
EXPLORE = int(os.environ.get("GENPLAY_HYPOTHESIS_EXAMPLES", "0"))


@settings(max_examples=EXPLORE or 300, derandomize=not EXPLORE, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(obj=lessons, names=st.lists(member_names, max_size=4))
def test_any_lesson_file_opens_or_is_refused_in_one_line_and_writes_nowhere_else(obj, names):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        deep = root / "a" / "b" / "c" / "d" / "e" / "f"
        sandbox = deep / "sandbox"
        sandbox.mkdir(parents=True)
        members = {"lesson.json": json.dumps(obj).encode()}
        for n in names:
            if n and n != "lesson.json" and "\x00" not in n:  # (zipfile cuts a name at NUL, writing and reading)
                members[n] = DATA
        path = write_zip(deep / "x.lesson", members)
        before = files_under(root)
        open_and_write_inputs(path, sandbox)
        assert all(p.is_relative_to(sandbox) for p in files_under(root) - before)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(names=st.lists(st.sampled_from(["clip.wav", "a b.wav", "é.wav", "x.y.z"]), min_size=1, max_size=3, unique=True))
def test_valid_lessons_round_trip_with_their_inputs(names):
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {f"{hashlib.sha256(n.encode()).hexdigest()}/{n}": n.encode() for n in names}
        slides = [Slide("wavenet", {"clip": INPUT_PREFIX + k}, title=f"s{i}") for i, k in enumerate(inputs)]
        save_lesson(Path(tmp) / "ok.lesson", Lesson("ok", slides, inputs=inputs))
        back = open_and_write_inputs(Path(tmp) / "ok.lesson", Path(tmp) / "sandbox")
        assert back is not None and back.inputs == inputs and [s.problem for s in back.slides] == [""] * len(names)
        for k, data in inputs.items():
            assert (Path(tmp) / "sandbox" / k).read_bytes() == data


def test_the_crafted_lesson_exits_1_from_the_command_line_and_writes_nothing(tmp_path, root):
    """The issue's reproduction: ``main.py --lesson evil.lesson --export-slides DIR`` exited 0 and wrote
    outside its temporary folder."""
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "g" / "h"
    deep.mkdir(parents=True)
    key = f"{SHA}/../../../../../../../../../../../../{tmp_path.relative_to('/')}/pwned.txt"
    path = write_zip(deep / "evil.lesson", {"lesson.json": lesson_json(key), f"inputs/{key}": DATA})
    before = files_under(tmp_path)
    proc = subprocess.run([sys.executable, "main.py", "--lesson", str(path), "--export-slides", str(deep / "out")],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "evil.lesson: member 'inputs/" in proc.stderr, proc.stderr
    assert files_under(tmp_path) == before
