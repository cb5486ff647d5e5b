#!/usr/bin/env bash
# Regenerate the README's screenshots (offscreen; no display needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p docs
$PY main.py --tab draw --state '{"seed": 3, "step": 19}' --screenshot docs/draw-tab.png
$PY main.py --tab draw --state '{"mode": "reconstruct", "count": 9, "step": 11}' --screenshot docs/draw-reconstruct.png
$PY main.py --tab wavenet --state '{"voice": 0, "seconds": 4.0, "seed": 1, "stream": false}' --screenshot docs/wavenet-tab.png
$PY main.py --tab wavenet --state '{"mode": "resynthesize", "clip": "test:2", "voice": 3, "stream": false}' --screenshot docs/wavenet-resynthesis.png
$PY main.py --tab sentences --state '{"steps": 8}' --screenshot docs/sentences-tab.png
$PY main.py --tab sentences --state '{"view": "sa", "sa_task": "word_class", "label_index": 2}' --screenshot docs/sentences-sa-lstm.png
$PY main.py --tab sentences --state '{"view": "paragraph"}' --screenshot docs/sentences-paragraph.png
$PY main.py --tab docnade --screenshot docs/docnade-tab.png
$PY main.py --tab docnade --state '{"view": 1}' --screenshot docs/docnade-topics.png
$PY main.py --tab desm --state '{"query": "Alabama climate", "term": "space"}' --screenshot docs/search-tab.png
$PY main.py --tab statistician --screenshot docs/statistician-tab.png
$PY main.py --tab statistician --state '{"view": 1}' --screenshot docs/statistician-map.png
$PY main.py --tab statistician --state '{"view": 1, "map_source": "Synthetic 1-D sets (the paper'"'"'s figure)"}' --screenshot docs/statistician-synthetic.png
$PY main.py --tab training --screenshot docs/training-tab.png
$PY main.py --tab training --state '{"model": "sentences", "options": {"anneal_steps": 40}}' --screenshot docs/training-sentences.png
# a side-by-side lesson slide (DRAW with and without attention at glimpse 13), exported at 2x and halved
$PY - <<'PYEOF'
from app.lesson import Lesson, Slide, save_lesson, shipped_sha256
state = {"mode": "sample", "model": "draw-attention", "seed": 3, "step": 12}
slide = Slide("draw", state, model_sha256=shipped_sha256("draw-attention"), compare={"model": "draw-no-attention"},
              compare_sha256=shipped_sha256("draw-no-attention"))
save_lesson("/tmp/genplay-side-by-side.lesson", Lesson("README", [slide]))
PYEOF
$PY main.py --lesson /tmp/genplay-side-by-side.lesson --export-slides /tmp/genplay-side-by-side >/dev/null
$PY -c "
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
QImage('/tmp/genplay-side-by-side/slide-01.png').scaledToWidth(1280, Qt.TransformationMode.SmoothTransformation).save('docs/lesson-side-by-side.png')"
# each tab's presentation view (F5) at 1920x1080, halved for the README
$PY main.py --tab draw --present --size 1920x1080 --state '{"seed": 3, "step": 12, "trail": true}' --screenshot /tmp/genplay-present-draw.png
$PY main.py --tab wavenet --present --size 1920x1080 --state '{"voice": 0, "seconds": 3.0, "seed": 1, "stream": false}' --screenshot /tmp/genplay-present-wavenet.png
$PY main.py --tab sentences --present --size 1920x1080 --state '{"steps": 8}' --screenshot /tmp/genplay-present-sentences.png
$PY main.py --tab docnade --present --size 1920x1080 --screenshot /tmp/genplay-present-docnade.png
$PY main.py --tab desm --present --size 1920x1080 --state '{"query": "Alabama climate", "term": "climate"}' --screenshot /tmp/genplay-present-desm.png
$PY main.py --tab statistician --present --size 1920x1080 --screenshot /tmp/genplay-present-statistician.png
$PY main.py --tab statistician --present --size 1920x1080 --state '{"model": "statistician-glyphs"}' --screenshot /tmp/genplay-present-statistician-mlp.png
$PY - <<'PYEOF'
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
for tab in ("draw", "wavenet", "sentences", "docnade", "desm", "statistician", "statistician-mlp"):
    img = QImage(f"/tmp/genplay-present-{tab}.png")
    img.scaledToWidth(960, Qt.TransformationMode.SmoothTransformation).save(f"docs/present-{tab}.png")
PYEOF
# 256 colours (Pillow, from the [data] extra): a third of the size; the working tree stays small enough to travel
$PY - <<'PYEOF'
from pathlib import Path
from PIL import Image
for p in sorted(Path("docs").glob("*.png")):
    Image.open(p).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(p, optimize=True)
PYEOF
echo "wrote docs/present-*.png docs/draw-*.png docs/wavenet-*.png docs/sentences-*.png docs/docnade-*.png docs/search-tab.png docs/statistician-*.png docs/lesson-side-by-side.png docs/training-*.png"
