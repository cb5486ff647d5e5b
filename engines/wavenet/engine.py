"""The WaveNet engine: the contract of :mod:`engines.base` around :class:`engines.wavenet.model.WaveNet`,
with the fused kernel of :mod:`engines.wavenet.fused` for generation on the CPU."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from engines.base import Engine, Shipped
from engines.cancel import check_cancelled
from engines.data.audio import (
    VOICES,
    AudioDataError,
    AudioSplit,
    load_audio_dataset,
    load_wav_folder,
    log_mel,
    mu_decode,
    mu_encode,
)
from engines.distributed import item_rng
from engines.wavenet.fused import HAVE_NUMBA, FusedGenerator
from engines.wavenet.model import WaveNet, WaveNetConfig

WINDOW = 6000  # training crop in samples (0.75 s at 8 kHz): about 3 receptive fields
PLAN_CROPS, PLAN_FRAMES = 8, 400  # the frame prior's batch: crops of 4 s of a voice's joined frames


@dataclass
class WaveChunk:
    """``len(q)`` new samples of one stream, after ``t`` samples of ``total``."""

    t: int
    total: int
    q: np.ndarray  # (n,) μ-law classes
    audio: np.ndarray  # (n,) float32 in [-1, 1]
    probs: np.ndarray  # (classes,) the predictive distribution of the chunk's last sample
    elapsed: float  # seconds spent computing so far (not waiting for the consumer)
    plan: np.ndarray | None = None  # free generation with a frame prior: the planned frames (F, n_frames)


def frames_for(audio: np.ndarray, cfg: WaveNetConfig) -> np.ndarray:
    """Log-mel conditioning frames (local_channels, n // hop + 1) of float audio, after a μ-law round
    trip so a user's clip looks like the training data."""
    return log_mel(mu_decode(mu_encode(audio)), cfg.local_channels, cfg.hop, cfg.sample_rate)


class WaveNetEngine(Engine):
    name = "wavenet"
    title = "WaveNet"
    config_class = WaveNetConfig
    selection_metric = "bits_per_sample"
    train_options = {"local_dropout": ("Crops without log-mel frames", (0.0, 1.0))}
    widenable = ("gate_channels",)  # WaveNet.widen_gates: new gated units that start silent
    trainable_parts = {"prosody": "prosody_nll"}  # train --only prosody: the frame prior alone (prosody.py)
    datasets = ("speech8k",)
    shipped = {"wavenet-speech": Shipped("Speech + music, 6 voices (shipped)", "nll_bits_model")}
    weights_licence = "CC BY-SA 3.0 (trained on the Asterisk recordings of resources/data/speech8k.npz)"
    default_batch_size = 8
    item_unit = "samples"
    loss_unit = "bits per sample"
    plot_terms = ("bits_per_sample",)  # "loss" is the same in nats
    data_file_filter = ("Audio (WAV file or folder of WAV files)", "WAV files (*.wav *.WAV);;All files (*)")
    data_folder = "Open a folder of WAV files…"
    ddp_unused_parameters = True  # the last layer's residual 1x1 feeds nothing (only its skip path is used)

    def build_model(self, config: WaveNetConfig) -> WaveNet:
        return WaveNet(config)

    def widen(self, sizes: dict[str, int], seed: int = 0) -> None:
        unknown = sorted(set(sizes) - set(self.widenable))
        if unknown:
            raise ValueError(f"wavenet can widen {', '.join(self.widenable)}, not {', '.join(unknown)}")
        if "gate_channels" in sizes:
            self.model.widen_gates(int(sizes["gate_channels"]), torch.Generator().manual_seed(seed))

    @classmethod
    def presets(cls) -> dict[str, WaveNetConfig]:
        # One model for both uses: trained with the log-mel frames dropped from half the crops, it
        # generates freely (frames=None) and resynthesises (frames given). The paper trained separate
        # models; one shipped file keeps resources/ lean.
        voices = len(VOICES)
        return {
            "default": WaveNetConfig(n_speakers=voices, local_channels=20),
            # the default with a frame prior (engines/wavenet/prosody.py) that plans free generation's frames
            "prosody": WaveNetConfig(n_speakers=voices, local_channels=20, prosody_hidden=128, prosody_mixture=4),
            "unconditional": WaveNetConfig(n_speakers=voices),
            "small": WaveNetConfig(
                residual_channels=16,
                gate_channels=16,
                skip_channels=32,
                end_channels=64,
                n_speakers=voices,
                local_channels=20,
            ),
            "tiny": WaveNetConfig(
                layers_per_stack=5,
                stacks=1,
                residual_channels=8,
                gate_channels=8,
                skip_channels=16,
                end_channels=16,
                n_speakers=voices,
                speaker_dim=4,
                local_channels=20,
            ),
        }

    @classmethod
    def load_data(cls, name: str) -> tuple[AudioSplit, AudioSplit, AudioSplit]:
        if name == "speech8k":
            from engines.resources import resource_path

            return load_audio_dataset(resource_path("speech8k"))
        path = Path(name)
        if not path.exists():
            raise AudioDataError(f"{name}: no such dataset, file or folder")
        if path.suffix == ".npz":
            return load_audio_dataset(path)
        return load_wav_folder(path, WaveNetConfig.sample_rate)

    def voice_names(self) -> list[str]:
        return [label for _, label, _ in VOICES][: self.config.n_speakers]

    # -- data -------------------------------------------------------------------------------------
    def batch_items(self, batch) -> int:
        if "q" not in batch:  # the frame prior alone: the audio samples its frames stand for
            return int(batch["plan"].shape[:2].numel()) * self.config.hop
        return int(batch["q"].numel())

    def _frames(self, split: AudioSplit) -> list[np.ndarray]:
        """Log-mel frames of every segment, computed once per split (training and validation alternate)."""
        cache = self.__dict__.setdefault("_frame_cache", {})
        hit = cache.get(id(split))
        key = (self.config.local_channels, self.config.hop)
        if hit is None or hit[0] is not split or hit[1] != key:
            if len(cache) >= 4:
                cache.clear()
            local = self.config.local_channels
            frames = [frames_for(mu_decode(s), self.config) if local else None for s in split.segments]
            cache[id(split)] = hit = (split, key, frames)
        return hit[2]

    def _streams(self, data: AudioSplit) -> dict[int, np.ndarray]:
        """Each voice's frames, its segments joined in order (F, total frames): what the frame prior learns,
        the pauses between prompts included. Kept for the last split asked (training draws from it every step)."""
        hit = self.__dict__.get("_stream_cache")
        if hit is None or hit[0] is not data:
            out: dict[int, list] = {}
            for f, v in zip(self._frames(data), data.voices, strict=True):
                out.setdefault(int(min(v, max(self.config.n_speakers, 1) - 1)), []).append(f)
            hit = self._stream_cache = (data, {v: np.concatenate(fs, axis=1) for v, fs in out.items()})
        return hit[1]

    def _plan_batch(self, data: AudioSplit, rng: np.random.Generator) -> dict:
        """``PLAN_CROPS`` crops of ``PLAN_FRAMES`` frames (fewer if a voice has less) for the frame prior."""
        streams = self._streams(data)
        voices = sorted(streams)
        length = min(PLAN_FRAMES, min(streams[v].shape[1] for v in voices))
        pick = rng.choice(voices, size=PLAN_CROPS)
        crops = []
        for v in pick:
            st = int(rng.integers(0, streams[v].shape[1] - length + 1))
            crops.append(streams[v][:, st : st + length].T)
        return {"plan": torch.from_numpy(np.stack(crops)).to(self.device),
                "plan_voice": torch.from_numpy(pick.astype(np.int64)).to(self.device)}  # fmt: skip

    def _usable(self, data: AudioSplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment lengths, segments long enough to crop, their sampling probabilities)."""
        lengths = np.array([len(s) for s in data.segments])
        usable = np.flatnonzero(lengths > self.config.hop * 2)
        if len(usable) == 0:
            raise AudioDataError("training data has no segment longer than a few milliseconds")
        return lengths, usable, lengths[usable] / lengths[usable].sum()

    def _crops(self, data: AudioSplit, idx: np.ndarray, rngs: list[np.random.Generator]) -> dict:
        """Crops of segments ``idx`` (one generator per crop: its start and whether it keeps its frames)."""
        cfg = self.config
        lengths = np.array([len(s) for s in data.segments])
        frames = self._frames(data)
        win = min(WINDOW, int(lengths[idx].min()) // cfg.hop * cfg.hop)
        q = np.empty((len(idx), win), np.int64)
        fr = np.zeros((len(idx), cfg.local_channels, win // cfg.hop + 1), np.float32)
        for b, (i, rng) in enumerate(zip(idx, rngs)):
            start = int(rng.integers(0, (lengths[i] - win) // cfg.hop + 1)) * cfg.hop  # frame-aligned
            q[b] = data.segments[i][start : start + win]
            if cfg.local_channels and rng.random() >= cfg.local_dropout:
                f = frames[i][:, start // cfg.hop : start // cfg.hop + fr.shape[2]]
                fr[b, :, : f.shape[1]] = f
        batch = {"q": torch.from_numpy(q).to(self.device)}
        if cfg.n_speakers:
            batch["speaker"] = torch.from_numpy(np.minimum(data.voices[idx], cfg.n_speakers - 1)).to(self.device)
        if cfg.local_channels:
            batch["frames"] = torch.from_numpy(fr).to(self.device)
        if self.model.prosody is not None:
            batch.update(self._plan_batch(data, rngs[0]))
        return batch

    def batches(self, data: AudioSplit, batch_size: int, rng: np.random.Generator) -> Iterator[dict]:
        """Endless random crops of ``WINDOW`` samples (segments drawn in proportion to their length),
        with their voice and, for half of them, their log-mel frames."""
        if self.train_only == "prosody":  # the frame prior alone: its crops of frames, no audio
            while True:
                yield self._plan_batch(data, rng)
        _, usable, p = self._usable(data)
        while True:
            idx = rng.choice(usable, size=batch_size, p=p)
            yield self._crops(data, idx, [rng] * batch_size)

    def num_items(self, data: AudioSplit) -> int:
        """Crop slots: as many as non-overlapping windows fit in the training audio."""
        lengths, usable, _ = self._usable(data)
        return max(1, int(lengths[usable].sum()) // WINDOW)

    def collate(self, data: AudioSplit, indices, seed: int, epoch: int) -> dict:
        """Each slot's own generator picks its segment (in proportion to length) and its crop."""
        _, usable, p = self._usable(data)
        rngs = [item_rng(seed, epoch, i) for i in indices]
        idx = np.array([usable[r.choice(len(usable), p=p)] for r in rngs])
        return self._crops(data, idx, rngs)

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def segment_bits(self, q: np.ndarray, voice: int | None, frames: np.ndarray | None, window: int = 16000) -> float:
        """Total -log2 p of a whole segment, teacher-forced, in windows that each carry a receptive
        field of true context (so the result equals one pass over the segment)."""
        self.model.eval()
        cfg = self.config
        R = cfg.receptive_field
        q_t = torch.from_numpy(q.astype(np.int64)).to(self.device)
        y = None
        if frames is not None:
            f = torch.from_numpy(frames).to(self.device)[None]
            y = self.model.upsample(f, len(q))  # (1, F, T)
        h = None
        if voice is not None and self.model.speaker is not None:
            h = self.model.speaker(torch.tensor([voice], device=self.device))
        total = 0.0
        for s in range(0, len(q), window):
            check_cancelled()
            a = max(0, s - R)
            x_in = torch.nn.functional.pad(q_t[None, a : s + window], (1, 0), value=cfg.classes // 2)[:, :-1]
            if a > 0:
                x_in[0, 0] = q_t[a - 1]
            x = self.model.embed(x_in).transpose(1, 2)
            logits = self.model._stack(x, h, None if y is None else y[:, :, a : s + window])[:, :, s - a :]
            nll = torch.nn.functional.cross_entropy(logits, q_t[None, s : s + window], reduction="sum")
            total += nll.item() / math.log(2)
        return total

    def evaluate(self, data: AudioSplit, max_seconds_per_voice: float | None = 5.0, **_) -> dict[str, float]:
        """Bits per sample of ``data`` (at most ``max_seconds_per_voice`` of each voice): with the voice
        only (``bits_per_sample``) and, if the model has local conditioning, with the log-mel frames too."""
        cfg = self.config
        bits, bits_mel, count = 0.0, 0.0, 0
        budget: dict[int, int] = {}
        for seg, v in zip(data.segments, data.voices, strict=True):
            if max_seconds_per_voice:  # the cap is per voice, so what earlier segments of the voice used counts
                seg = seg[: int(max(0, max_seconds_per_voice * cfg.sample_rate - budget.get(v, 0)))]
            if len(seg) == 0:
                continue
            budget[v] = budget.get(v, 0) + len(seg)
            voice = int(min(v, cfg.n_speakers - 1)) if cfg.n_speakers else None
            bits += self.segment_bits(seg, voice, None)
            if cfg.local_channels:
                bits_mel += self.segment_bits(seg, voice, frames_for(mu_decode(seg), cfg))
            count += len(seg)
        out = {"bits_per_sample": bits / max(count, 1)}
        if cfg.local_channels:
            out["bits_per_sample_mel"] = bits_mel / max(count, 1)
        if self.model.prosody is not None:
            out["prosody_nll"] = self.prosody_nll(data)
        out["seconds"] = count / cfg.sample_rate
        return out

    @torch.no_grad()
    def prosody_nll(self, data: AudioSplit) -> float:
        """The frame prior's NLL per frame value (nats) on each voice's joined frames, teacher-forced."""
        self.model.eval()
        total, count = 0.0, 0
        for v, f in self._streams(data).items():
            x = torch.from_numpy(f.T[None]).to(self.device)
            total += self.model.prosody.nll(x, torch.tensor([v], device=self.device)).item() * x.numel()
            count += x.numel()
        return total / max(count, 1)

    @staticmethod
    def unigram_bits(train: AudioSplit, test: AudioSplit, classes: int = 256) -> float:
        """The μ-law unigram baseline: -log2 of the training histogram (add-one smoothed) per test sample."""
        counts = np.bincount(np.concatenate(train.segments), minlength=classes) + 1.0
        logp = np.log2(counts / counts.sum())
        q = np.concatenate(test.segments)
        return float(-logp[q].mean())

    @classmethod
    def evaluate_shipped(cls, samples: int = 1) -> dict[str, float]:
        """The shipped model by :meth:`evaluate_by_voice` (``eval wavenet``)."""
        from engines.resources import resource_path

        return cls.from_checkpoint(resource_path(next(iter(cls.shipped)))).evaluate_by_voice()

    def evaluate_checkpoint(self, dataset: str, samples: int = 1) -> dict[str, float]:
        if dataset == self.datasets[0]:  # the shipped voices: the shipped model's protocol, so the two compare
            return self.evaluate_by_voice()
        return super().evaluate_checkpoint(dataset, samples)

    def evaluate_by_voice(self) -> dict[str, float]:
        """This model on the whole speech8k test split, per voice and over all voices, against the
        μ-law unigram baseline fitted on the training split of the same voice (``eval wavenet``)."""
        train, _, test = self.load_data("speech8k")
        out: dict[str, float] = {}
        tot = {"model": 0.0, "mel": 0.0, "unigram": 0.0, "n": 0}
        for v, (short, _, _) in enumerate(VOICES):
            te, tr = test.of_voice(v), train.of_voice(v)
            m = self.evaluate(te, max_seconds_per_voice=None)
            u = self.unigram_bits(tr, te)
            n = len(te)
            out[f"nll_bits_model_{short}"] = m["bits_per_sample"]
            out[f"nll_bits_model_mel_{short}"] = m.get("bits_per_sample_mel", float("nan"))
            out[f"nll_bits_unigram_{short}"] = u
            tot["model"] += m["bits_per_sample"] * n
            tot["mel"] += m.get("bits_per_sample_mel", float("nan")) * n
            tot["unigram"] += u * n
            tot["n"] += n
        head = {
            "nll_bits_model": tot["model"] / tot["n"],
            "nll_bits_model_mel": tot["mel"] / tot["n"],
            "nll_bits_unigram": tot["unigram"] / tot["n"],
            "test_seconds": tot["n"] / self.config.sample_rate,
        }
        if self.model.prosody is not None:
            head["prosody_nll"] = self.prosody_nll(test)  # nats per log-mel value, teacher-forced
        return {**head, **out}

    # -- sampling ---------------------------------------------------------------------------------
    def _generator(self, batch: int, voice, frames, seed: int):
        voice_t = None
        if voice is not None and self.config.n_speakers:
            voice_t = torch.as_tensor(voice, device=self.device).reshape(-1)
        if HAVE_NUMBA and self.device.type == "cpu":
            return FusedGenerator(self.model.cpu(), batch, speaker=voice_t, frames=frames, seed=seed)
        return _TorchGenerator(self, batch, voice_t, frames, seed)

    @torch.no_grad()
    def sample(self, seconds: float = 2.0, voice: int | None = 0, temperature: float = 1.0, seed: int = 0,
               frames: np.ndarray | None = None, chunk: int = 400,
               plan: bool = True) -> Iterator[WaveChunk]:  # fmt: skip
        """Generate ``seconds`` of audio in the given voice, ``chunk`` samples at a time (the fused
        kernel on CPU, the torch cached step elsewhere). With ``frames`` (log-mel, see
        :func:`frames_for`) it resynthesises the clip they came from. Without, a model with a frame prior
        first plans the frames (:meth:`plan`, unless ``plan`` is False) and renders them."""
        self.model.eval()
        cfg = self.config
        n = int(seconds * cfg.sample_rate)
        planned = None
        if frames is None and plan and self.model.prosody is not None:
            frames = planned = self.plan(seconds, voice, seed)
        if frames is not None:
            n = min(n, (frames.shape[-1] - 1) * cfg.hop + cfg.hop)
        gen = self._generator(1, None if voice is None else [voice], frames, seed)
        t, busy = 0, 0.0
        while t < n:
            check_cancelled()
            k = min(chunk, n - t)
            t0 = time.perf_counter()
            q = gen.run(k, temperature)[0]
            busy += time.perf_counter() - t0  # compute only: a consumer may pace us (streaming)
            t += k
            yield WaveChunk(t - k, n, q, mu_decode(q), gen.last_probs[0, 0].copy(), busy, planned)

    def plan(self, seconds: float, voice: int | None = 0, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Log-mel frames (F, n) for ``seconds`` of free speech in ``voice``, drawn from the frame prior."""
        if self.model.prosody is None:
            raise ValueError("this model has no frame prior (train the 'prosody' preset)")
        self.model.eval()
        n = int(seconds * self.config.sample_rate) // self.config.hop + 1
        v = int(min(voice or 0, max(self.config.n_speakers, 1) - 1))
        return self.model.prosody.sample(n, v, seed, temperature)

    def resynthesize(self, audio: np.ndarray, voice: int | None = 0, temperature: float = 1.0, seed: int = 0,
                     chunk: int = 400) -> Iterator[WaveChunk]:  # fmt: skip
        """Resynthesise a clip (float audio at the model's rate) from its log-mel frames, in ``voice``."""
        if not self.config.local_channels:
            raise ValueError("this model has no local conditioning (train the 'default' preset to resynthesise)")
        frames = frames_for(audio, self.config)
        yield from self.sample(len(audio) / self.config.sample_rate, voice, temperature, seed, frames, chunk)

    # -- speed --------------------------------------------------------------------------------------
    def bench(self, seconds: float = 1.0, repeats: int = 5) -> dict[str, float]:
        """Generation speed by the benchmark protocol (engines/benchmark.py: warm-up, the methods interleaved,
        ``repeats`` rounds, median and min, CPU time beside wall time, on the threads the caller pinned): the
        naive method (the receptive field recomputed per sample), the torch cached step, the fused kernel at
        batch 1 and batch 4 (voices 0-3, counted over all four streams), and the fused kernel of a real 16 kHz
        configuration (this architecture at 16,000 samples/s, its own weights: speed does not depend on them),
        and with a frame prior ``fused_planned``: free generation as the app runs it (plan the frames, render them).
        ``samples_per_s_*`` per wall second, ``samples_per_cpu_s_*`` per CPU second; ``rtf_*`` is seconds of
        audio per second of wall time (above 1: faster than real time)."""
        from engines.benchmark import measure

        cfg = self.config
        rate = cfg.sample_rate
        cpu = WaveNetEngine(replace(cfg), device="cpu")
        cpu.model.load_state_dict(self.model.state_dict())
        model = cpu.model.eval()
        voice = torch.tensor([0]) if cfg.n_speakers else None
        n_naive, n_torch, n_fused = 100, 1000, int(seconds * rate)

        def naive() -> int:
            with torch.no_grad():
                model.generate_naive(n_naive, speaker=voice)
            return n_naive

        def torch_cached() -> int:
            with torch.no_grad():
                for _ in model.generate(n_torch, speaker=voice, chunk=n_torch):
                    pass
            return n_torch

        methods = {"naive": naive, "torch_cached": torch_cached}
        if HAVE_NUMBA:
            hi = WaveNetEngine(replace(cfg, sample_rate=16000, hop=cfg.hop * 2), device="cpu")
            for key, m, batch in (("fused", model, 1), ("fused_batch4", model, 4), ("fused_16k", hi.model.eval(), 1)):
                voices = None if voice is None else torch.arange(batch) % cfg.n_speakers  # batch 4: four voices
                g = FusedGenerator(m, batch, speaker=voices)
                g.run(200)  # compile (cached on disk after the first run)
                n = n_fused * (2 if key == "fused_16k" else 1)
                methods[key] = lambda g=g, n=n, batch=batch: (g.run(n), n * batch)[1]
            if model.prosody is not None:  # free generation as the app runs it: plan the frames, then render

                def planned() -> int:
                    frames = cpu.plan(seconds, 0, seed=0)
                    FusedGenerator(model, 1, speaker=voice, frames=frames).run(n_fused)
                    return n_fused

                methods["fused_planned"] = planned
        figures = measure(methods, repeats=repeats)
        out: dict[str, float] = {"sample_rate": rate}
        for key in methods:
            out[f"samples_per_s_{key}"] = figures[f"{key}_per_s"]
            out[f"samples_per_cpu_s_{key}"] = figures[f"{key}_per_cpu_s"]
            out[f"{key}_wall_ms_min"] = figures[f"{key}_wall_ms_min"]
            out[f"{key}_wall_ms_median"] = figures[f"{key}_wall_ms_median"]
            out[f"rtf_{key}"] = round(figures[f"{key}_per_s"] / (16000 if key == "fused_16k" else rate), 3)
        if "fused" in methods:
            out["fused_vs_torch_cached"] = round(out["samples_per_s_fused"] / out["samples_per_s_torch_cached"], 1)
            out["fused_vs_torch_cached_per_cpu_s"] = round(
                out["samples_per_cpu_s_fused"] / out["samples_per_cpu_s_torch_cached"], 1
            )
            out["batch4_vs_batch1_per_sample"] = round(
                out["samples_per_cpu_s_fused_batch4"] / out["samples_per_cpu_s_fused"], 2
            )
        out.update({"receptive_field": cfg.receptive_field, "receptive_field_ms": 1000 * cfg.receptive_field / rate,
                    "layers": len(cfg.dilations), "parameters": self.num_parameters()})  # fmt: skip
        return out


class _TorchGenerator:
    """The torch cached step (for CUDA/MPS, or without numba) behind the fused kernel's interface."""

    def __init__(self, engine: WaveNetEngine, batch: int, voice, frames, seed: int):
        self.model, self.batch, cfg = engine.model, batch, engine.config
        self.cfg = cfg
        dev = engine.device
        self.state = self.model.init_state(batch)
        self.prev = torch.full((batch,), cfg.classes // 2, device=dev)
        self.h = self.model.speaker(voice.expand(batch)) if voice is not None else None
        self.y = None
        if frames is not None:
            f = torch.as_tensor(frames, dtype=torch.float32, device=dev)[None].expand(batch, -1, -1)
            self.y = self.model.upsample(f, f.shape[2] * cfg.hop)
        self.gen = torch.Generator(device=dev).manual_seed(seed)
        self.t = 0
        self.last_probs = np.zeros((batch, 1, cfg.classes), np.float32)

    @torch.no_grad()
    def run(self, n: int, temperature: float = 1.0) -> np.ndarray:
        out = []
        for _ in range(n):
            y_t = None if self.y is None else self.y[:, :, self.t]
            logits = self.model.step(self.prev, self.state, self.t, self.h, y_t)
            probs = torch.softmax(logits / max(temperature, 1e-5), dim=-1)  # as the fused kernel
            self.prev = torch.multinomial(probs, 1, generator=self.gen)[:, 0]
            out.append(self.prev)
            self.t += 1
        self.last_probs[:, 0] = probs.cpu().numpy()
        return torch.stack(out, 1).cpu().numpy()
