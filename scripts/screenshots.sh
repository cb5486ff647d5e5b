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
if command -v convert >/dev/null; then convert /tmp/genplay-side-by-side/slide-01.png -resize 50% docs/lesson-side-by-side.png; fi
# 256 colours (ImageMagick): a third of the size, and the working tree stays small enough to travel
if command -v convert >/dev/null; then
    for f in docs/*.png; do convert "$f" -dither None -colors 256 "PNG8:$f"; done
fi
echo "wrote docs/draw-*.png docs/wavenet-*.png docs/sentences-*.png docs/docnade-*.png docs/search-tab.png docs/statistician-*.png docs/lesson-side-by-side.png docs/training-*.png"
