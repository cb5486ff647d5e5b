"""Audio data for WaveNet: real 8 kHz speech in five languages and music, WAV files in and out.

The shipped set (``resources/data/speech8k.npz``) is built from Debian's Asterisk prompt packages
(one professional speaker per language) and its music-on-hold package, all CC BY-SA 3.0:

    voice 0  en  Allison Smith, US English           asterisk-core-sounds-en-wav
    voice 1  es  Allison Smith, Mexican Spanish      asterisk-core-sounds-es-wav (the same speaker as en)
    voice 2  fr  June Wallack, Canadian French       asterisk-core-sounds-fr-wav
    voice 3  it  Carlo, Italian (male)               asterisk-core-sounds-it-wav
    voice 4  ru  IvrvoiceRU, Russian                 asterisk-core-sounds-ru-wav
    voice 5  music  Macroform, Reno Project, Manolo Camp   asterisk-moh-opsound-wav

Speech is split *by file* (a prompt is in exactly one split); music by track (one whole track is
held out for valid/test). Samples are stored μ-law companded (the model's own input, 1 byte each);
log-mel frames for local conditioning are computed from them at load time.

WAV files are read by a small RIFF parser (PCM 8/16/24/32-bit and 32/64-bit float, any rate,
any channel count: mixed to mono, resampled to the model's rate by band-limited FFT resampling).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engines.checkpoint import atomic_write_bytes

MU = 255
SOUNDS = Path("/usr/share/asterisk/sounds")
MOH = Path("/usr/share/asterisk/moh")
VOICES: list[tuple[str, str, str]] = [
    # (short name, label, source directory or "moh")
    ("en", "English (Allison)", "en_US_f_Allison"),
    ("es", "Spanish (Allison)", "es_MX_f_Allison"),
    ("fr", "French (June)", "fr_CA_f_June"),
    ("it", "Italian (Carlo)", "it_IT_m_Carlo"),
    ("ru", "Russian (IvrvoiceRU)", "ru_RU_f_IvrvoiceRU"),
    ("music", "Music (opsound)", "moh"),
]
MUSIC_HELD_OUT = "manolo_camp-morning_coffee.wav"
SECONDS = {"train": 150.0, "valid": 10.0, "test": 30.0}  # per voice


class AudioDataError(ValueError):
    """An audio file or folder that cannot be used, with the reason."""


# ----------------------------------------------------------------------------- μ-law (numpy)


def mu_encode(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to uint8 μ-law classes (the same formula as the model's)."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.clip(((y + 1) / 2 * MU + 0.5).astype(np.int64), 0, MU).astype(np.uint8)


def mu_decode(q: np.ndarray) -> np.ndarray:
    y = 2 * q.astype(np.float32) / MU - 1
    return (np.sign(y) * ((1 + MU) ** np.abs(y) - 1) / MU).astype(np.float32)


# ----------------------------------------------------------------------------- WAV files


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A WAV file as mono float32 in [-1, 1] and its sample rate; :class:`AudioDataError` otherwise."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AudioDataError(f"{name}: cannot be read ({e.strerror or e})") from e
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioDataError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioDataError(f"{name}: broken 'fmt ' chunk")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first 2 bytes
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            samples = body
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise AudioDataError(f"{name}: WAV file without {'a format' if fmt is None else 'audio data'}")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1000:
        raise AudioDataError(f"{name}: unusable format ({channels} channels at {rate} Hz)")
    dtypes = {(1, 8): np.uint8, (1, 16): "<i2", (1, 32): "<i4", (3, 32): "<f4", (3, 64): "<f8"}
    if (tag, bits) == (1, 24):
        raw = np.frombuffer(samples[: len(samples) // 3 * 3], np.uint8).reshape(-1, 3)
        x = (
            raw[:, 0].astype(np.int32)
            | raw[:, 1].astype(np.int32) << 8
            | raw[:, 2].astype(np.int8).astype(np.int32) << 16
        )
        x = x / float(1 << 23)
    elif (tag, bits) in dtypes:
        dt = np.dtype(dtypes[(tag, bits)])
        x = np.frombuffer(samples[: len(samples) // dt.itemsize * dt.itemsize], dt).astype(np.float64)
        if tag == 1:
            x = (x - 128) / 128 if bits == 8 else x / float(1 << (bits - 1))
    else:
        kind = {1: "PCM", 3: "float", 6: "A-law", 7: "μ-law", 0x55: "MP3"}.get(tag, f"format {tag}")
        raise AudioDataError(f"{name}: {kind} with {bits} bits is not supported (use PCM or float WAV)")
    n = len(x) // channels
    if n == 0:
        raise AudioDataError(f"{name}: contains no samples")
    x = x[: n * channels].reshape(n, channels).mean(axis=1)
    return np.clip(x, -1, 1).astype(np.float32), int(rate)


def write_wav(path: str | os.PathLike, audio: np.ndarray, rate: int) -> None:
    """Mono 16-bit PCM WAV, written atomically."""
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1, 1) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(pcm))
    atomic_write_bytes(path, lambda f: f.write(header + pcm))


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling by truncating/zero-padding the spectrum (exact for periodic signals;
    the implied low-pass removes everything above the lower Nyquist frequency)."""
    if src == dst or len(x) == 0:
        return x.astype(np.float32)
    n_out = max(1, round(len(x) * dst / src))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spec), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out[:keep] = spec[:keep]
    return (np.fft.irfft(out, n_out) * (n_out / len(x))).astype(np.float32)


def load_clip(path: str | os.PathLike, rate: int, max_seconds: float | None = None) -> np.ndarray:
    """A user's WAV file at the model's rate (mono float32), optionally cut to ``max_seconds``."""
    x, src = read_wav(path)
    if max_seconds is not None:
        x = x[: int(max_seconds * src)]
    return resample(x, src, rate)


def trim_silence(x: np.ndarray, rate: int, threshold: float = 0.01, margin: float = 0.05) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``margin`` seconds of it."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    if len(loud) == 0:
        return x[:0]
    m = int(margin * rate)
    return x[max(0, loud[0] - m) : loud[-1] + m + 1]


# ----------------------------------------------------------------------------- log-mel frames


def mel_filterbank(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """Triangular filters equally spaced on the mel scale (HTK formula), (n_mels, n_fft // 2 + 1)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)
    edges = hz(np.linspace(mel(0), mel(rate / 2), n_mels + 2))
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = edges[i : i + 3]
        fb[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return fb.astype(np.float32)


def log_mel(audio: np.ndarray, n_mels: int, hop: int, rate: int, n_fft: int = 256) -> np.ndarray:
    """Log-mel frames (n_mels, len // hop + 1); frame i is centred on sample i * hop. Scaled to
    roughly zero mean and unit spread on speech (fixed constants, so every clip is treated alike)."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if len(x) < n_fft // 2 + 1:
        x = torch.nn.functional.pad(x, (0, n_fft // 2 + 1 - len(x)))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True)
    power = spec.abs().square().numpy()  # (n_fft // 2 + 1, frames)
    mel = mel_filterbank(n_mels, n_fft, rate) @ power
    frames = (np.log10(mel + 1e-6) + 1.0) / 1.75
    return frames[:, : len(audio) // hop + 1].astype(np.float32)


# ----------------------------------------------------------------------------- datasets


@dataclass
class AudioSplit:
    """Segments of μ-law samples (uint8), each with its voice id."""

    segments: list[np.ndarray]
    voices: np.ndarray  # (n_segments,) int64
    voice_names: list[str] = field(default_factory=lambda: [v[0] for v in VOICES])
    rate: int = 8000

    def __len__(self) -> int:
        return int(sum(len(s) for s in self.segments))

    def seconds(self) -> float:
        return len(self) / self.rate

    def of_voice(self, v: int) -> AudioSplit:
        keep = [i for i, vi in enumerate(self.voices) if vi == v]
        return AudioSplit([self.segments[i] for i in keep], self.voices[keep], self.voice_names, self.rate)


def _pack(split: AudioSplit) -> dict[str, np.ndarray]:
    return {
        "q": np.concatenate(split.segments) if split.segments else np.zeros(0, np.uint8),
        "lengths": np.array([len(s) for s in split.segments], np.int64),
        "voices": np.asarray(split.voices, np.int64),
    }


def _unpack(z, prefix: str, names: list[str], rate: int) -> AudioSplit:
    q, lengths = z[f"{prefix}_q"], z[f"{prefix}_lengths"]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    segs = [q[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
    return AudioSplit(segs, z[f"{prefix}_voices"].astype(np.int64), names, rate)


def save_audio_dataset(path: Path, splits: dict[str, AudioSplit]) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for name, split in splits.items():
        arrays.update({f"{name}_{k}": v for k, v in _pack(split).items()})
    first = next(iter(splits.values()))
    arrays["voice_names"] = np.array(first.voice_names)
    arrays["rate"] = np.array(first.rate)

    def write(f):
        np.savez_compressed(f, **arrays)

    atomic_write_bytes(path, write)
    return path


def load_audio_dataset(path: str | os.PathLike) -> tuple[AudioSplit, AudioSplit, AudioSplit]:
    try:
        with np.load(path) as z:
            names, rate = [str(s) for s in z["voice_names"]], int(z["rate"])
            return tuple(_unpack(z, p, names, rate) for p in ("train", "valid", "test"))  # type: ignore[return-value]
    except (OSError, KeyError, ValueError) as e:
        raise AudioDataError(f"{Path(path).name}: not a usable audio dataset ({e})") from e


def load_wav_folder(path: str | os.PathLike, rate: int, voice: int = 0) -> tuple[AudioSplit, AudioSplit, AudioSplit]:
    """A user's WAV file or folder of WAV files (searched recursively) as one voice; every tenth
    file (or the last 10% of a single file) is held out for validation and test."""
    path = Path(path)
    files = sorted(path.rglob("*.wav")) + sorted(path.rglob("*.WAV")) if path.is_dir() else [path]
    if not files:
        raise AudioDataError(f"{path.name}: no .wav files in this folder")
    clips, problems = [], []
    for f in files:
        try:
            x = trim_silence(load_clip(f, rate), rate)
            if len(x) > rate // 10:
                clips.append(mu_encode(x))
        except AudioDataError as e:
            problems.append(str(e))
    if not clips:
        raise AudioDataError(problems[0] if problems else f"{path.name}: only silence or clips under 0.1 s")
    if len(clips) < 3:  # split one long recording by time
        whole = np.concatenate(clips)
        n = len(whole)
        clips = [whole[: int(n * 0.9)], whole[int(n * 0.9) : int(n * 0.95)], whole[int(n * 0.95) :]]
        parts = ([clips[0]], [clips[1]], [clips[2]])
    else:
        parts = (
            [c for i, c in enumerate(clips) if i % 10 not in (4, 9)],
            [clips[4]],
            [c for i, c in enumerate(clips) if i % 10 == 9] or [clips[-1]],
        )
    names = [v[0] for v in VOICES]
    return tuple(AudioSplit(p, np.full(len(p), voice, np.int64), names, rate) for p in parts)  # type: ignore[return-value]


def build_speech8k(out: Path, seed: int = 0) -> Path:
    """Build the shipped set from the Debian packages (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rate = 8000
    splits = {k: AudioSplit([], np.zeros(0, np.int64)) for k in SECONDS}
    for vid, (short, _, src) in enumerate(VOICES):
        if src == "moh":
            tracks = sorted(MOH.glob("*.wav"))
            if not tracks:
                raise AudioDataError(f"{MOH} has no WAV files: apt-get install asterisk-moh-opsound-wav")
            held = [t for t in tracks if t.name == MUSIC_HELD_OUT]
            train_tracks = [t for t in tracks if t.name != MUSIC_HELD_OUT]
            per = int(SECONDS["train"] * rate / len(train_tracks))
            parts = {"train": []}
            for t in train_tracks:
                x = load_clip(t, rate)
                start = (len(x) - per) // 2  # the middle of each track
                parts["train"].append(x[start : start + per])
            h = load_clip(held[0], rate)
            nv, nt = int(SECONDS["valid"] * rate), int(SECONDS["test"] * rate)
            parts["valid"] = [h[rate * 5 : rate * 5 + nv]]
            parts["test"] = [h[rate * 20 : rate * 20 + nt]]
        else:
            files = sorted((SOUNDS / src).rglob("*.wav"))
            if not files:
                pkg = f"asterisk-core-sounds-{short}-wav"
                raise AudioDataError(f"{SOUNDS / src} has no WAV files: apt-get install {pkg}")
            order = rng.permutation(len(files))
            parts = {k: [] for k in SECONDS}
            filled = dict.fromkeys(SECONDS, 0)
            for i in order:
                need = [k for k in ("test", "valid", "train") if filled[k] < SECONDS[k] * rate]
                if not need:
                    break
                x = trim_silence(load_clip(files[i], rate), rate)
                if len(x) < rate // 4:
                    continue
                parts[need[0]].append(x)
                filled[need[0]] += len(x)
        for k, clips in parts.items():
            segs = [mu_encode(c) for c in clips]
            sp = splits[k]
            sp.segments.extend(segs)
            sp.voices = np.concatenate([sp.voices, np.full(len(segs), vid, np.int64)])
    return save_audio_dataset(out, splits)
