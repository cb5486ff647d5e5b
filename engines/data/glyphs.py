"""An Omniglot-like character set rendered from Debian's Noto fonts (``fonts-noto-core``), for the Neural
Statistician's few-shot experiments.

Omniglot (Lake et al. 2015) has 1,623 characters from 50 alphabets, each drawn by 20 people. Here each
character is a letter of a Noto font and each of its 20 "drawings" is a render of it with a different hand
standing in for a person: a randomly chosen face of the script (sans or serif, regular or bold), a stroke
width changed by dilation or erosion, an affine jitter (rotation, shear, scale, shift) and an elastic
distortion (Simard et al. 2003), rendered at 4x resolution, downsampled to 28 x 28 and binarised (Omniglot's
images are binary; the paper used them at 28 x 28).

Whole scripts are held out: the test scripts follow Omniglot's evaluation alphabets where Noto has them
(Ge'ez, Glagolitic, Gurmukhi, Kannada, Malayalam, Meetei Mayek, Mongolian, Oriya, Syloti Nagri, Syriac,
Tibetan, Avestan), a few others are kept for validation, and the rest (Omniglot's background alphabets that
Noto covers, and more) are for training.

Characters are the letters (Unicode categories Lo and Lu: for cased scripts the capitals only, since a
lower-case letter fitted into the same box often looks like its capital; Georgian's Mkhedruli is Ll) the
script's first font covers, at most ``MAX_CHARS`` evenly spread through the block, leaving out those whose
plain render is almost the same as one kept before (Hamming distance under ``MIN_DISTANCE`` pixels at 28 x 28).

Build: ``python -m engines build-data glyphs`` (needs ``fonts-noto-core``, Pillow and fontTools: the
``[data]`` extra). The app reads only the processed file (bits packed, about 2 MB).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.data.images import ImageDataError, ImageSplit

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
SIZE = 28
SCALE = 4  # render at 4 x 28 = 112 pixels, then average 4 x 4 blocks
DRAWINGS = 20  # per character, like Omniglot's 20 people
MAX_CHARS = 40
MIN_DISTANCE = 24  # pixels (of 784) two kept characters' plain renders must differ by
SEED = 0

# (script, Noto families (Sans first; Serif too where it exists), Unicode ranges, split)
SCRIPTS: list[tuple[str, tuple[str, ...], tuple[tuple[int, int], ...], str]] = [
    # training: Omniglot's background alphabets that Noto covers, then more scripts
    ("Latin", ("NotoSans", "NotoSerif"), ((0x41, 0x5A),), "train"),
    ("Greek", ("NotoSans", "NotoSerif"), ((0x391, 0x3A9),), "train"),
    ("Cyrillic", ("NotoSans", "NotoSerif"), ((0x410, 0x42F),), "train"),
    ("Armenian", ("NotoSansArmenian", "NotoSerifArmenian"), ((0x531, 0x556),), "train"),
    ("Georgian", ("NotoSansGeorgian", "NotoSerifGeorgian"), ((0x10D0, 0x10F0),), "train"),
    ("Hebrew", ("NotoSansHebrew", "NotoSerifHebrew"), ((0x5D0, 0x5EA),), "train"),
    ("Arabic", ("NotoSansArabic",), ((0x627, 0x64A),), "train"),
    ("Devanagari", ("NotoSansDevanagari", "NotoSerifDevanagari"), ((0x904, 0x939),), "train"),
    ("Bengali", ("NotoSansBengali", "NotoSerifBengali"), ((0x985, 0x9B9),), "train"),
    ("Gujarati", ("NotoSansGujarati", "NotoSerifGujarati"), ((0xA85, 0xAB9),), "train"),
    ("Myanmar", ("NotoSansMyanmar", "NotoSerifMyanmar"), ((0x1000, 0x102A),), "train"),
    ("Grantha", ("NotoSansGrantha", "NotoSerifGrantha"), ((0x11305, 0x11339),), "train"),
    ("Balinese", ("NotoSansBalinese", "NotoSerifBalinese"), ((0x1B05, 0x1B33),), "train"),
    ("Canadian Aboriginal", ("NotoSansCanadianAboriginal",), ((0x1401, 0x166C),), "train"),
    ("Runic", ("NotoSansRunic",), ((0x16A0, 0x16EA),), "train"),
    ("Imperial Aramaic", ("NotoSansImperialAramaic",), ((0x10840, 0x10855),), "train"),
    ("N'Ko", ("NotoSansNKo",), ((0x7CA, 0x7EA),), "train"),
    ("Tagalog", ("NotoSansTagalog",), ((0x1700, 0x1711),), "train"),
    ("Tifinagh", ("NotoSansTifinagh",), ((0x2D30, 0x2D67),), "train"),
    ("Thai", ("NotoSansThai", "NotoSerifThai"), ((0xE01, 0xE2E),), "train"),
    ("Lao", ("NotoSansLao", "NotoSerifLao"), ((0xE81, 0xEAE),), "train"),
    ("Khmer", ("NotoSansKhmer", "NotoSerifKhmer"), ((0x1780, 0x17B3),), "train"),
    ("Sinhala", ("NotoSansSinhala", "NotoSerifSinhala"), ((0xD85, 0xDC6),), "train"),
    ("Tamil", ("NotoSansTamil", "NotoSerifTamil"), ((0xB85, 0xBB9),), "train"),
    ("Telugu", ("NotoSansTelugu", "NotoSerifTelugu"), ((0xC05, 0xC39),), "train"),
    ("Coptic", ("NotoSansCoptic",), ((0x2C80, 0x2CE3),), "train"),
    ("Gothic", ("NotoSansGothic",), ((0x10330, 0x1034A),), "train"),
    ("Old Italic", ("NotoSansOldItalic",), ((0x10300, 0x1031F),), "train"),
    ("Phoenician", ("NotoSansPhoenician",), ((0x10900, 0x10915),), "train"),
    ("Ogham", ("NotoSansOgham",), ((0x1681, 0x169A),), "train"),
    ("Yi", ("NotoSansYi",), ((0xA000, 0xA48C),), "train"),
    ("Javanese", ("NotoSansJavanese",), ((0xA984, 0xA9B2),), "train"),
    ("Samaritan", ("NotoSansSamaritan",), ((0x800, 0x815),), "train"),
    ("Deseret", ("NotoSansDeseret",), ((0x10400, 0x10427),), "train"),
    ("Osage", ("NotoSansOsage",), ((0x104B0, 0x104D3),), "train"),
    ("Ol Chiki", ("NotoSansOlChiki",), ((0x1C5A, 0x1C77),), "train"),
    ("Bamum", ("NotoSansBamum",), ((0xA6A0, 0xA6E5),), "train"),
    ("Adlam", ("NotoSansAdlam",), ((0x1E900, 0x1E921),), "train"),
    ("Linear B", ("NotoSansLinearB",), ((0x10000, 0x1005D),), "train"),
    # validation (checkpoint selection)
    ("Cherokee", ("NotoSansCherokee",), ((0x13A0, 0x13F5),), "valid"),
    ("Thaana", ("NotoSansThaana",), ((0x780, 0x7A5),), "valid"),
    ("Old Turkic", ("NotoSansOldTurkic",), ((0x10C00, 0x10C48),), "valid"),
    ("Vai", ("NotoSansVai",), ((0xA500, 0xA60B),), "valid"),
    # test: Omniglot's evaluation alphabets that Noto covers
    ("Avestan", ("NotoSansAvestan",), ((0x10B00, 0x10B35),), "test"),
    ("Ge'ez (Ethiopic)", ("NotoSansEthiopic", "NotoSerifEthiopic"), ((0x1200, 0x1357),), "test"),
    ("Glagolitic", ("NotoSansGlagolitic",), ((0x2C00, 0x2C2E),), "test"),
    ("Gurmukhi", ("NotoSansGurmukhi", "NotoSerifGurmukhi"), ((0xA05, 0xA39),), "test"),
    ("Kannada", ("NotoSansKannada", "NotoSerifKannada"), ((0xC85, 0xCB9),), "test"),
    ("Malayalam", ("NotoSansMalayalam", "NotoSerifMalayalam"), ((0xD05, 0xD3A),), "test"),
    ("Meetei Mayek", ("NotoSansMeeteiMayek",), ((0xABC0, 0xABE2),), "test"),
    ("Mongolian", ("NotoSansMongolian",), ((0x1820, 0x1878),), "test"),
    ("Oriya", ("NotoSansOriya",), ((0xB05, 0xB39),), "test"),
    ("Syloti Nagri", ("NotoSansSylotiNagri",), ((0xA800, 0xA822),), "test"),
    ("Syriac", ("NotoSansSyriac",), ((0x710, 0x72F),), "test"),
    ("Tibetan", ("NotoSerifTibetan",), ((0xF40, 0xF6C),), "test"),
]


@dataclass
class GlyphSet:
    """The processed glyphs: 28 x 28 uint8 images (0 or 255), each with its character and script."""

    images: np.ndarray  # (N, 28, 28) uint8
    char: np.ndarray  # (N,) index into chars
    chars: list[str]  # each character
    char_script: np.ndarray  # (C,) index into scripts
    scripts: list[str]
    script_split: list[str]  # "train" | "valid" | "test" per script

    def split(self, name: str) -> ImageSplit:
        """The drawings of the characters of the scripts in split ``name``; labels are character indices."""
        keep = np.array([self.script_split[s] == name for s in self.char_script])[self.char]
        return ImageSplit(self.images[keep], self.char[keep].astype(np.int64))

    def script_of(self, label: int) -> str:
        return self.scripts[int(self.char_script[label])]


# ----------------------------------------------------------------------------- rendering


def _faces(families: tuple[str, ...]) -> list[Path]:
    out = []
    for fam in families:
        for weight in ("Regular", "Bold"):
            p = FONT_DIR / f"{fam}-{weight}.ttf"
            if p.is_file():
                out.append(p)
    if not out:
        raise ImageDataError(f"{FONT_DIR}: no font of {', '.join(families)} (apt-get install fonts-noto-core)")
    return out


def _letters(font_path: Path, ranges) -> list[str]:
    from fontTools.ttLib import TTFont

    cmap = TTFont(font_path, lazy=True).getBestCmap()
    cps = [chr(cp) for lo, hi in ranges for cp in range(lo, hi + 1) if cp in cmap]
    letters = [c for c in cps if unicodedata.category(c) in ("Lo", "Lu")]
    return letters or [c for c in cps if unicodedata.category(c) == "Ll"]  # Georgian Mkhedruli is Ll


def _ink(font, ch: str) -> np.ndarray:
    """The glyph's ink at 4x resolution, cropped to its bounding box (float in [0, 1])."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(canvas).text((160, 160), ch, fill=255, font=font, anchor="mm")
    a = np.asarray(canvas, np.float32) / 255
    ys, xs = np.nonzero(a > 0.1)
    if len(ys) == 0:
        return np.zeros((0, 0), np.float32)
    return a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _fit(ink: np.ndarray, box: int = 20 * SCALE) -> np.ndarray:
    """Scale the ink so its longer side is ``box`` (MNIST's 20-pixel box), centred on the 112 canvas."""
    from PIL import Image

    h, w = ink.shape
    s = box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((nw, nh), Image.BILINEAR), np.float32)
    out = np.zeros((SIZE * SCALE, SIZE * SCALE), np.float32)
    y, x = (SIZE * SCALE - nh) // 2, (SIZE * SCALE - nw) // 2
    out[y : y + nh, x : x + nw] = img / 255
    return out


def _down(a: np.ndarray) -> np.ndarray:
    """4 x 4 block means, binarised at 0.4: uint8 0 / 255."""
    g = a.reshape(SIZE, SCALE, SIZE, SCALE).mean((1, 3))
    return np.where(g > 0.4, 255, 0).astype(np.uint8)


def _hand(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One person's drawing: stroke width, affine jitter and elastic distortion on the 112-pixel render."""
    from scipy import ndimage

    n = a.shape[0]
    binary = a > 0.5
    width = int(rng.integers(-2, 5))  # pixels at 4x: thinner by up to 2, thicker by up to 4
    if width > 0:
        binary = ndimage.binary_dilation(binary, ndimage.generate_binary_structure(2, 1), iterations=width)
    elif width < 0:
        thin = ndimage.binary_erosion(binary, iterations=-width)
        binary = thin if thin.sum() > 0.4 * binary.sum() else binary  # never erase a thin glyph
    img = binary.astype(np.float32)
    # affine: rotation ±12°, shear ±0.25, scale 0.85-1.1 per axis, shift ±1.5 pixels at 28
    t = np.deg2rad(rng.uniform(-12, 12))
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    shear = np.array([[1, rng.uniform(-0.25, 0.25)], [0, 1]])
    scale = np.diag(rng.uniform(0.85, 1.1, 2))
    m = rot @ shear @ scale
    inv = np.linalg.inv(m)
    centre = np.array([n / 2, n / 2])
    shift = rng.uniform(-1.5, 1.5, 2) * SCALE
    offset = centre - inv @ (centre + shift)
    img = ndimage.affine_transform(img, inv, offset=offset, order=1)
    # elastic: a smooth random displacement field, random on a 7 x 7 grid and interpolated (cubic) to the
    # 112-pixel canvas: strokes bend by up to about 1 pixel at 28
    dy, dx = (ndimage.zoom(rng.uniform(-1, 1, (7, 7)), n / 7, order=3) * 1.2 * SCALE for _ in range(2))
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return ndimage.map_coordinates(img, [yy + dy, xx + dx], order=1)


def build_glyphs(out: Path, seed: int = SEED) -> tuple[Path, dict]:
    """Render every script's characters, 20 drawings each; write the packed npz. Returns (path, figures)."""
    from PIL import ImageFont

    from engines.checkpoint import atomic_write_bytes

    rng = np.random.default_rng(seed)
    images, char, chars, char_script, scripts, splits = [], [], [], [], [], []
    for si, (script, families, ranges, split) in enumerate(SCRIPTS):
        faces = _faces(families)
        fonts = [ImageFont.truetype(str(p), 200) for p in faces]
        letters = _letters(faces[0], ranges)
        kept, protos = [], []
        for ch in letters:
            inks = [_ink(f, ch) for f in fonts]
            if any(i.size == 0 for i in inks):
                continue
            proto = _down(_fit(inks[0]))
            if (proto > 0).sum() < 20 or any(int((proto != p).sum()) < MIN_DISTANCE for p in protos):
                continue
            kept.append((ch, inks))
            protos.append(proto)
        if len(kept) > MAX_CHARS:
            kept = [kept[i] for i in np.linspace(0, len(kept) - 1, MAX_CHARS).round().astype(int)]
        if len(kept) < 10:
            raise ImageDataError(f"{script}: only {len(kept)} usable letters in {faces[0].name}")
        scripts.append(script)
        splits.append(split)
        for ch, inks in kept:
            ci = len(chars)
            chars.append(ch)
            char_script.append(si)
            fitted = [_fit(i) for i in inks]
            for _ in range(DRAWINGS):
                images.append(_down(_hand(fitted[int(rng.integers(len(fitted)))], rng)))
                char.append(ci)
    images = np.stack(images)
    packed = np.packbits(images > 0, axis=-1)  # (N, 28, 4)

    def write(f):
        np.savez_compressed(
            f, bits=packed, char=np.asarray(char, np.int32), chars=np.asarray(chars),
            char_script=np.asarray(char_script, np.int16), scripts=np.asarray(scripts), splits=np.asarray(splits),
        )  # fmt: skip

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, write)
    per_split = {s: sum(1 for c in char_script if splits[c] == s) for s in ("train", "valid", "test")}
    figures = {
        "scripts": {s: [n for n, sp in zip(scripts, splits) if sp == s] for s in ("train", "valid", "test")},
        "characters": per_split,
        "drawings_per_character": DRAWINGS,
        "images": int(len(images)),
    }
    return out, figures


def load_glyphs(path: str | Path | None = None) -> GlyphSet:
    """The shipped glyph set (sha256-checked), or an npz built by :func:`build_glyphs`."""
    if path is None:
        from engines.resources import resource_path

        path = resource_path("glyphs")
    key = str(path)
    if key not in _CACHE:
        try:
            with np.load(path) as z:
                bits = z["bits"]
                images = (np.unpackbits(bits, axis=-1)[..., :SIZE] * 255).astype(np.uint8)
                _CACHE[key] = GlyphSet(
                    images, z["char"].astype(np.int64), [str(c) for c in z["chars"]], z["char_script"].astype(np.int64),
                    [str(s) for s in z["scripts"]], [str(s) for s in z["splits"]],
                )  # fmt: skip
        except (OSError, KeyError, ValueError) as e:
            raise ImageDataError(f"{Path(path).name}: not a glyph set ({e})") from e
    return _CACHE[key]


_CACHE: dict[str, GlyphSet] = {}


# ----------------------------------------------------------------------------- the letters' fonts, for the app


def _empty_gsub(script_tags: list[str]):
    """A GSUB table that names ``script_tags`` with no features or lookups."""
    from fontTools.ttLib import newTable
    from fontTools.ttLib.tables import otTables as ot

    table = ot.GSUB()
    table.Version = 0x00010000
    table.ScriptList = ot.ScriptList()
    table.ScriptList.ScriptRecord = []
    for tag in script_tags:
        rec = ot.ScriptRecord()
        rec.ScriptTag = tag
        rec.Script = ot.Script()
        rec.Script.DefaultLangSys = ot.DefaultLangSys()
        rec.Script.DefaultLangSys.LookupOrder = None
        rec.Script.DefaultLangSys.ReqFeatureIndex = 0xFFFF
        rec.Script.DefaultLangSys.FeatureIndex = []
        rec.Script.DefaultLangSys.FeatureCount = 0
        rec.Script.LangSysRecord = []
        rec.Script.LangSysCount = 0
        table.ScriptList.ScriptRecord.append(rec)
    table.ScriptList.ScriptCount = len(script_tags)
    table.FeatureList = ot.FeatureList()
    table.FeatureList.FeatureRecord = []
    table.FeatureList.FeatureCount = 0
    table.LookupList = ot.LookupList()
    table.LookupList.Lookup = []
    table.LookupList.LookupCount = 0
    gsub = newTable("GSUB")
    gsub.table = table
    return gsub


def build_letter_fonts(out: Path, glyphs: str | Path | None = None) -> tuple[Path, dict]:
    """Each script's Noto face (its first family, regular) cut down to the letters the glyph set holds, in one zip
    of TTF files: the app registers them so that a set's name ("Tibetan ཀ") draws its letter on any machine.
    Deterministic (fixed zip dates), a few kB a script."""
    import io
    import zipfile

    from fontTools import subset
    from fontTools.ttLib import TTFont

    from engines.checkpoint import atomic_write_bytes

    g = load_glyphs(glyphs)
    by_script: dict[str, set[str]] = {}
    for ch, si in zip(g.chars, g.char_script):
        by_script.setdefault(g.scripts[int(si)], set()).add(ch)
    families = {script: fams for script, fams, _, _ in SCRIPTS}
    files: dict[str, bytes] = {}
    for script, letters in by_script.items():
        face = _faces(families[script][:1])[0]
        font = TTFont(face)
        family = font["name"].getDebugName(1) + " Letters"
        gpos_scripts = [r.ScriptTag for r in font["GPOS"].table.ScriptList.ScriptRecord] if "GPOS" in font else []
        opts = subset.Options()
        opts.hinting = False
        opts.layout_features = ["*"]  # Qt takes a font for a complex script (Tibetan, Indic) only with its tables
        opts.name_IDs = [0, 13, 14]  # copyright and the OFL: the names are set below
        opts.notdef_outline = True
        opts.prune_unicode_ranges = False  # Qt picks fallback fonts by these bits (a pruned Thaana font had none)
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=[ord(c) for c in sorted(letters)])
        sub.subset(font)
        if "GSUB" not in font and gpos_scripts:  # Qt draws a complex script (Thaana) only from a font whose GSUB
            font["GSUB"] = _empty_gsub(gpos_scripts)  # lists it; Noto Thaana has none (no fallback was found)
        # a family of its own ("Noto Sans Tibetan Letters"): a subset must never stand in for the full face
        for name_id, text in ((1, family), (2, "Regular"), (4, family), (6, family.replace(" ", "") + "-Regular"),
                              (16, family), (17, "Regular")):  # fmt: skip
            font["name"].setName(text, name_id, 3, 1, 0x409)
            font["name"].setName(text, name_id, 1, 0, 0)
        font.recalcTimestamp = False  # head.modified kept from the source face: the same bytes on every build
        buf = io.BytesIO()
        font.save(buf)
        files[f"{face.stem}-letters.ttf"] = buf.getvalue()

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for name in sorted(files):
                z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), files[name], zipfile.ZIP_DEFLATED)

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, write)
    return out, {"fonts": len(files), "letters": sum(map(len, by_script.values())), "scripts": len(by_script)}
