"""The paper's synthetic experiment (Edwards & Storkey 2017, Section 5.1): sets of 1-D samples, each set from one
of four families (exponential, Gaussian, uniform, Laplace) with its own mean ~ U(-1, 1) and variance
~ U(0.5, 2). A good statistic network separates the families in c without ever seeing the labels."""

from __future__ import annotations

import numpy as np

FAMILIES = ("exponential", "gaussian", "uniform", "laplace")


def sample_sets(n_sets: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (n_sets, size, 1) float32, family index (n_sets,), (mean, variance) (n_sets, 2))."""
    fam = rng.integers(len(FAMILIES), size=n_sets)
    mean = rng.uniform(-1, 1, n_sets)
    var = rng.uniform(0.5, 2, n_sets)
    sd = np.sqrt(var)
    x = np.empty((n_sets, size), np.float64)
    for i, (f, m, s) in enumerate(zip(fam, mean, sd)):
        if FAMILIES[f] == "exponential":  # rate 1/s has variance s², shifted to mean m
            x[i] = m - s + rng.exponential(s, size)
        elif FAMILIES[f] == "gaussian":
            x[i] = rng.normal(m, s, size)
        elif FAMILIES[f] == "uniform":  # width sqrt(12) s has variance s²
            w = np.sqrt(12) * s
            x[i] = rng.uniform(m - w / 2, m + w / 2, size)
        else:  # Laplace with scale s / sqrt(2) has variance s²
            x[i] = rng.laplace(m, s / np.sqrt(2), size)
    return x[..., None].astype(np.float32), fam, np.stack([mean, var], 1)
