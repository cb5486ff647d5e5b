"""Listen-equivalent checks of the shipped WaveNet: measure what it makes instead of trusting the ears.

For every voice: generate ``--seconds`` freely (fused kernel, temperature 1; a model with a frame
prior plans its log-mel frames first, as the app does, unless ``--no-plan``) and report level (RMS
dBFS, peak), the share of silent 10 ms frames, the pauses (runs of 100 ms or more of silent frames)
per second, the spectral centroid and the energy in four bands, next to the same figures of that
voice's test recordings. Then resynthesise each voice's longest test prompt from its log-mel frames
and report the log-mel distance to the original (and, as a yardstick, the distance between that
prompt and another prompt of the same voice), plus the correlation of the loudness contours. Prints
one JSON object, ending with a summary: each voice's mean share of silent frames over the draws and
its lowest draw (one 4 s draw holds a handful of pauses, so a single seed is noise).

    python scripts/measure_audio.py [--seconds 4] [--checkpoint PATH] [--no-plan] [--seeds N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.data.audio import VOICES, log_mel, mu_decode  # noqa: E402
from engines.resources import resource_path  # noqa: E402
from engines.wavenet import WaveNetEngine  # noqa: E402

BANDS = [(0, 500), (500, 1000), (1000, 2000), (2000, 4000)]


def stats(x: np.ndarray, rate: int) -> dict[str, float]:
    frames = x[: len(x) // 80 * 80].reshape(-1, 80)
    frame_rms = np.sqrt((frames**2).mean(axis=1))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = spec.sum() + 1e-12
    out = {
        "rms_dbfs": float(20 * np.log10(np.sqrt((x**2).mean()) + 1e-9)),
        "peak": float(np.abs(x).max()),
        "silent_frames": float((frame_rms < 0.005).mean()),
        "pauses_per_s": pauses(frame_rms < 0.005) / (len(x) / rate),
        "centroid_hz": float((freqs * spec).sum() / total),
    }
    for lo, hi in BANDS:
        out[f"band_{lo}_{hi}"] = float(spec[(freqs >= lo) & (freqs < hi)].sum() / total)
    return out


def pauses(silent: np.ndarray, frames: int = 10) -> int:
    """Runs of at least ``frames`` silent 10 ms frames in a row (pauses of 100 ms or more)."""
    edges = np.diff(np.concatenate([[0], silent.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(((ends - starts) >= frames).sum())


def mel_distance(a: np.ndarray, b: np.ndarray, rate: int) -> float:
    """Mean absolute difference of log-mel frames (in the conditioning's units), over the shorter clip."""
    ma, mb = log_mel(a, 20, 80, rate), log_mel(b, 20, 80, rate)
    n = min(ma.shape[1], mb.shape[1])
    return float(np.abs(ma[:, :n] - mb[:, :n]).mean())


def envelope(x: np.ndarray) -> np.ndarray:
    return np.sqrt((x[: len(x) // 400 * 400].reshape(-1, 400) ** 2).mean(axis=1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--no-plan", action="store_true", help="free generation without the frame prior's plan")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="also free-generate with seeds 0 .. N-1 per voice and report their silent frames and mean",
    )
    args = p.parse_args()
    engine = WaveNetEngine.from_checkpoint(args.checkpoint or resource_path("wavenet-speech"), device="cpu")
    rate = engine.config.sample_rate
    _, _, test = WaveNetEngine.load_data("speech8k")
    report: dict[str, dict] = {}
    for v, (short, _, _) in enumerate(VOICES[: engine.config.n_speakers or 1]):
        segs = sorted(test.of_voice(v).segments, key=len, reverse=True)
        real = mu_decode(np.concatenate(segs))
        made = np.concatenate(
            [c.audio for c in engine.sample(seconds=args.seconds, voice=v, seed=v, plan=not args.no_plan)]
        )
        entry = {"generated": stats(made, rate), "test_recordings": stats(real, rate)}
        if args.seeds > 1:  # one 4 s draw holds a handful of pauses: the spread over seeds says how sure the figure is
            sil = []
            for s in range(args.seeds):
                if s != v:  # seed v is the draw above
                    chunks = engine.sample(seconds=args.seconds, voice=v, seed=s, plan=not args.no_plan)
                    sil.append(stats(np.concatenate([c.audio for c in chunks]), rate)["silent_frames"])
                else:
                    sil.append(entry["generated"]["silent_frames"])
            entry["seeds"] = {
                "silent_frames": sil,
                "silent_frames_mean": float(np.mean(sil)),
                "silent_frames_min": min(sil),
            }
        if engine.config.local_channels:
            clip = mu_decode(segs[0][: 4 * rate])
            resyn = np.concatenate([c.audio for c in engine.resynthesize(clip, voice=v, seed=v)])
            other = mu_decode(segs[1][: len(clip)]) if len(segs) > 1 else clip[::-1].copy()
            entry["resynthesis"] = {
                "seconds": len(clip) / rate,
                "log_mel_distance": mel_distance(clip, resyn, rate),
                "log_mel_distance_other_prompt": mel_distance(clip, other, rate),
                "loudness_correlation": float(np.corrcoef(envelope(clip), envelope(resyn))[0, 1]),
            }
        report[short] = entry
    # the headline: silent frames over every draw (one 4 s draw holds a handful of pauses, so one seed is noise)
    draws = {
        k: r["seeds"]["silent_frames"] if "seeds" in r else [r["generated"]["silent_frames"]] for k, r in report.items()
    }
    speech = [short for short, _, source in VOICES if source != "moh" and short in draws]
    report["summary"] = {
        "draws_per_voice": max(args.seeds, 1),
        "silent_frames_mean": {k: float(np.mean(d)) for k, d in draws.items()},
        "silent_frames_lowest_draw": {k: min(d) for k, d in draws.items()},
        "speech_lowest_draw": min((min(draws[k]) for k in speech), default=float("nan")),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
