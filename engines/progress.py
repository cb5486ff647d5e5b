"""A dependency-free progress bar for the command line (stderr), with ETA."""

from __future__ import annotations

import sys
import time


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(max(0.0, seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """``bar.update(done, info)``; prints at most ~10 times a second; silent when ``enabled`` is False."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream=None):
        self.total = max(1, int(total))
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        elapsed = now - self.t0
        eta = elapsed / frac * (1 - frac) if frac > 0 else None
        width = 24
        fill = int(frac * width)
        bar = "#" * fill + "." * (width - fill)
        self.stream.write(
            f"\r{self.label} [{bar}] {frac * 100:5.1f}% {done}/{self.total} ETA {format_eta(eta)} {info}   "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
