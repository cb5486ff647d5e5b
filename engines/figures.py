"""What the views draw, computed here as pure functions on plain arrays (no Qt): the tabs only paint them,
and the tests, lessons and command line get the same numbers."""

from __future__ import annotations

import numpy as np


def spectrogram(x: np.ndarray, n_fft: int = 256, hop: int = 64) -> np.ndarray:
    """Log power (frames, n_fft // 2 + 1) in dB, for display."""
    if len(x) < n_fft:
        return np.full((1, n_fft // 2 + 1), -100.0, np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    return (10 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10)).astype(np.float32)


def mass_range(probs: np.ndarray, mass: float = 0.998, margin: int = 6, least: int = 24) -> tuple[float, float]:
    """The classes that hold the central ``mass`` of a distribution, widened by ``margin`` and to at least
    ``least`` classes (a spike stays readable), as an x range for its bars."""
    c = np.cumsum(probs)
    if len(c) == 0 or c[-1] <= 0:
        return -0.5, len(probs) - 0.5
    c = c / c[-1]
    lo = int(np.searchsorted(c, (1 - mass) / 2)) - margin
    hi = int(np.searchsorted(c, 1 - (1 - mass) / 2)) + margin
    if hi - lo < least:
        mid = (lo + hi) // 2
        lo, hi = mid - least // 2, mid + least // 2
    lo, hi = max(0, lo), min(len(probs) - 1, hi)
    return lo - 0.5, hi + 0.5


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components (2, d)) of the principal plane of ``points`` (n, d); for the context map."""
    mean = points.mean(0)
    _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:  # a 1-D context: the second axis is zero
        comps = np.vstack([comps, np.zeros_like(comps)])
    return mean, comps


def project_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``points`` (n, d) on their principal plane: (mean, axes (d, 2), coordinates (n, 2))."""
    mean, comps = pca_2d(points)
    return mean, comps.T, (points - mean) @ comps.T
