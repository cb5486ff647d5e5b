"""The largest GUI-thread gap while a tab takes worker results: a 10 ms timer stamps the GUI thread while the
DRAW tab samples 64 images and while the WaveNet tab generates 3 s (not streamed), each repeated.

    python scripts/measure_gui_gaps.py [--repeats 5]

Prints one JSON object: per case the largest gap of each repeat (ms), their median and the machine's load
average at the start (a loaded machine stretches every gap; the README's figures are from an idle one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from app.main_window import MainWindow
    from app.worker import Worker

    window = MainWindow()
    window.resize(1400, 860)
    window.show()

    def settle(tab) -> None:
        end = time.time() + 0.5
        while tab.busy or time.time() < end:
            app.processEvents()
            time.sleep(0.002)

    def largest_gap(start, done) -> int:
        stamps, clock = [], QElapsedTimer()
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: stamps.append(clock.elapsed()))
        clock.start()
        timer.start()
        start()
        while not done():
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        return int(np.diff(stamps).max())

    out = {"load_average": [round(x, 2) for x in os.getloadavg()], "repeats": args.repeats}
    window.select_tab("draw")
    draw = window.model_tabs["draw"]
    settle(draw)
    draw.count_box.setValue(64)
    settle(draw)
    total = draw.engine().config.glimpses
    gaps = []
    for i in range(args.repeats):
        gaps.append(largest_gap(lambda i=i: draw.seed_box.setValue(100 + i),
                                lambda: len(draw.frames) == total and not draw.busy))  # fmt: skip
        settle(draw)
    out["draw_sample_64_gap_ms"] = {"each": gaps, "median": float(np.median(gaps))}
    window.select_tab("wavenet")
    wave = window.model_tabs["wavenet"]
    wave.stream_check.setChecked(False)
    settle(wave)
    wave.seconds_box.setValue(3.0)
    gaps = []
    for _ in range(args.repeats):
        gaps.append(largest_gap(wave.generate, lambda: not wave.busy and wave.generate_btn.isEnabled()))
        settle(wave)
    out["wavenet_generate_3s_gap_ms"] = {"each": gaps, "median": float(np.median(gaps))}
    Worker.cancel_all_and_wait(5000)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
