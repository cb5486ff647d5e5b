"""The WaveNet engine: fused kernel against the full forward pass, data, WAV files, training, evaluation."""

import json
import math
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from engines.data.audio import (
    AudioDataError,
    AudioSplit,
    load_wav_folder,
    log_mel,
    mu_decode,
    read_wav,
    resample,
    write_wav,
)
from engines.train import TrainConfig, Trainer
from engines.wavenet import WaveNet, WaveNetConfig, WaveNetEngine, frames_for
from engines.wavenet.fused import FusedGenerator


def _model(**kw):
    torch.manual_seed(0)
    kw = {"residual_channels": 8, "gate_channels": 8, **kw}
    cfg = WaveNetConfig(layers_per_stack=5, stacks=2, skip_channels=16, end_channels=16, speaker_dim=4, hop=5, **kw)
    return WaveNet(cfg).eval()


@pytest.mark.parametrize(
    "kw", [{}, {"n_speakers": 3}, {"local_channels": 6}, {"n_speakers": 3, "local_channels": 6},
           {"n_speakers": 3, "local_channels": 6, "widen": 12}],
    ids=["plain", "global", "local", "both", "widened"],
)  # fmt: skip
def test_fused_kernel_reproduces_the_full_forward_pass(kw):
    kw = dict(kw)
    widen = kw.pop("widen", None)
    m = _model(**kw)
    if widen:  # more gated units than residual channels, as train --widen makes them
        m.widen_gates(widen, torch.Generator().manual_seed(0))
        with torch.no_grad():  # and give the new units a say, so the kernel must use them right
            for layer in m.layers:
                layer.residual.weight.normal_(0, 0.3)
                layer.skip.weight.normal_(0, 0.3)
    B, T = 2, 300  # ten times the receptive field (63): every queue wraps many times
    q = torch.randint(0, 256, (B, T))
    speaker = torch.tensor([0, 2]) if kw.get("n_speakers") else None
    frames = torch.randn(B, 6, T // 5) if kw.get("local_channels") else None
    with torch.no_grad():
        full = m.logits(q, speaker, frames).transpose(1, 2).numpy()  # (B, T, 256)
    g = FusedGenerator(m, B, speaker=speaker, frames=frames)
    fused = np.concatenate(
        [g.teacher_forced_logits(q[:, :137].numpy()), g.teacher_forced_logits(q[:, 137:].numpy())], axis=1
    )  # fmt: skip  (two calls: the state carries over)
    err = np.abs(fused - full).max(axis=(0, 2))
    assert err.max() < 1e-4, f"first bad position {int(np.argmax(err > 1e-4))}"


def test_fused_sampling_matches_the_torch_step_and_the_softmax():
    m = _model(n_speakers=3)
    # near-zero temperature: both must pick the argmax at every step, so whole sequences agree
    g = FusedGenerator(m, 1, speaker=torch.tensor([1]), seed=0)
    fused = g.run(150, temperature=1e-5)[0]
    state, prev, h = m.init_state(1), torch.tensor([128]), m.speaker(torch.tensor([1]))
    greedy = []
    with torch.no_grad():
        for t in range(150):
            prev = m.step(prev, state, t, h).argmax(-1)
            greedy.append(prev.item())
    assert fused.tolist() == greedy
    # at temperature 1, last_probs is the model's softmax for the last drawn sample
    m = _model()
    g = FusedGenerator(m, 1, seed=3)
    out = g.run(40)[0]
    with torch.no_grad():
        logits = m.logits(torch.from_numpy(out)[None])[0, :, -1]
    np.testing.assert_allclose(g.last_probs[0, 0], torch.softmax(logits, 0).numpy(), atol=1e-5)
    again = FusedGenerator(m, 1, seed=3).run(40)[0]
    assert np.array_equal(out, again) and len(np.unique(out)) > 5  # seeded, and not a constant


def test_fused_refuses_to_run_past_the_local_conditioning():
    m = _model(local_channels=6)
    g = FusedGenerator(m, 1, frames=torch.randn(6, 4))  # 4 frames x hop 5 = 20 samples
    g.run(20)
    with pytest.raises(ValueError, match="covers 20 samples"):
        g.run(1)


# ------------------------------------------------------------------------------------------ WAV files


@pytest.mark.parametrize("fmt", ["pcm8", "pcm16", "pcm24", "pcm32", "float32", "stereo16"])
def test_read_wav_formats(tmp_path, fmt):
    rate, n = 11025, 2000
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(n) / rate)).astype(np.float64)
    channels, tag = (2, 1) if fmt == "stereo16" else (1, 3 if fmt == "float32" else 1)
    bits = {"pcm8": 8, "pcm24": 24, "pcm32": 32, "float32": 32}.get(fmt, 16)
    if fmt == "pcm8":
        data = np.round(x * 127 + 128).astype(np.uint8).tobytes()
    elif fmt == "pcm24":
        v = np.round(x * (2**23 - 1)).astype(np.int32)
        data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    elif fmt == "pcm32":
        data = np.round(x * (2**31 - 1)).astype("<i4").tobytes()
    elif fmt == "float32":
        data = x.astype("<f4").tobytes()
    else:
        v = np.round(x * 32767).astype("<i2")
        data = (np.stack([v, v], 1) if channels == 2 else v).tobytes()
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    y, r = read_wav(path)
    assert r == rate and len(y) == n
    assert np.abs(y - x).max() < (0.01 if fmt == "pcm8" else 1e-4)


def test_write_read_round_trip_and_clear_errors(tmp_path):
    x = np.linspace(-0.9, 0.9, 1000, dtype=np.float32)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, r = read_wav(tmp_path / "a.wav")
    assert r == 8000 and np.abs(y - x).max() < 1e-4
    (tmp_path / "junk.wav").write_bytes(b"hello, not audio")
    with pytest.raises(AudioDataError, match="junk.wav: not a WAV file"):
        read_wav(tmp_path / "junk.wav")
    mp3 = b"RIFF" + struct.pack("<I", 40) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 0x55, 1, 8000, 1000, 1, 0)
    (tmp_path / "mp3.wav").write_bytes(mp3 + b"data" + struct.pack("<I", 4) + b"\x00" * 4)
    with pytest.raises(AudioDataError, match="MP3 .* not supported"):
        read_wav(tmp_path / "mp3.wav")


def test_resample_keeps_the_pitch():
    src, dst = 44100, 8000
    t = np.arange(src) / src
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), src, dst)
    assert len(y) == dst
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * dst / len(y) - 1000) < 2
    # above the new Nyquist frequency, a tone is removed, not folded down
    z = resample(np.sin(2 * np.pi * 6000 * t).astype(np.float32), src, dst)
    assert np.abs(z).max() < 1e-3


def test_user_wav_folder_skips_unreadable_files(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        write_wav(tmp_path / f"clip{i}.wav", 0.3 * rng.standard_normal(4000).astype(np.float32), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVE")
    train, valid, test = load_wav_folder(tmp_path, 8000)
    assert len(train.segments) == 8 and len(valid.segments) == 1 and len(test.segments) == 1
    assert all(len(s) == 2000 for s in train.segments)  # resampled 16 kHz -> 8 kHz
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioDataError, match="no .wav files"):
        load_wav_folder(tmp_path / "empty", 8000)
    with pytest.raises(AudioDataError, match="broken.wav: WAV file without a format"):
        load_wav_folder(tmp_path / "broken.wav", 8000)


# ------------------------------------------------------------------------------------------ the engine


def _tiny_engine():
    torch.manual_seed(0)
    return WaveNetEngine(WaveNetEngine.presets()["tiny"], device="cpu")


def test_shipped_dataset_voices_and_splits():
    train, valid, test = WaveNetEngine.load_data("speech8k")
    for split, lo in ((train, 140), (valid, 8), (test, 25)):
        secs = [split.of_voice(v).seconds() for v in range(6)]
        assert min(secs) > lo, secs
    # no prompt is in two splits: compare the segments' bytes
    seen = {s.tobytes() for s in train.segments}
    assert not any(s.tobytes() in seen for s in test.segments)
    q = np.concatenate(test.segments)
    assert 20 < np.bincount(q, minlength=256).nonzero()[0].size and q.std() > 10  # real audio, not silence


def test_batches_carry_voice_and_aligned_frames():
    e = _tiny_engine()
    train, _, _ = e.load_data("speech8k")
    batch = next(e.batches(train, 6, np.random.default_rng(0)))
    assert batch["q"].shape == (6, 6000) and batch["speaker"].shape == (6,)
    fr = batch["frames"]
    assert fr.shape == (6, 20, 6000 // 80 + 1)
    kept = [b for b in range(6) if fr[b].abs().sum() > 0]
    assert 0 < len(kept) < 6  # half the crops lose their frames (conditioning dropout), in expectation
    b = kept[0]
    # the kept frames are those of the crop's own audio (away from the crop's edges)
    own = log_mel(mu_decode(batch["q"][b].numpy().astype(np.uint8)), 20, 80, 8000)
    np.testing.assert_allclose(fr[b, :, 2:-2].numpy(), own[:, 2:-2], atol=1e-4)


@pytest.mark.parametrize("share", [0.0, 0.85, 1.0])
def test_local_dropout_option_sets_the_share_of_crops_without_frames(share):
    e = _tiny_engine()
    e.config.local_dropout = share  # what `train --option local_dropout=...` sets
    train, _, _ = e.load_data("speech8k")
    rng = np.random.default_rng(1)
    dropped = [
        (b["frames"].abs().sum(dim=(1, 2)) == 0).float().mean().item()
        for b in (next(e.batches(train, 20, rng)) for _ in range(10))
    ]
    assert np.mean(dropped) == pytest.approx(share, abs=0.08)


def test_windowed_evaluation_equals_one_pass():
    e = _tiny_engine()
    q = np.random.default_rng(0).integers(0, 256, 1000).astype(np.uint8)
    frames = frames_for(mu_decode(q), e.config)
    one = e.segment_bits(q, 2, frames, window=10**6)
    windowed = e.segment_bits(q, 2, frames, window=70)  # receptive field 32: windows need their context
    assert abs(one - windowed) < 1e-3 * one
    assert abs(one / 1000 - 8) < 0.5  # untrained: about log2(256) bits per sample


def test_evaluate_scores_every_sample_or_caps_each_voice():
    e = _tiny_engine()
    rng = np.random.default_rng(0)
    segs = [rng.integers(0, 256, n).astype(np.uint8) for n in (300, 500, 200, 400)]
    data = AudioSplit(segs, np.array([0, 0, 1, 0]), ["a", "b"], e.config.sample_rate)
    whole = e.evaluate(data, max_seconds_per_voice=None)
    assert whole["seconds"] * e.config.sample_rate == pytest.approx(1400)  # every sample of every segment
    total = sum(e.segment_bits(q, int(v), None) for q, v in zip(segs, data.voices, strict=True))
    assert whole["bits_per_sample"] == pytest.approx(total / 1400, rel=1e-6)
    capped = e.evaluate(data, max_seconds_per_voice=600 / e.config.sample_rate)  # 600 samples per voice
    assert capped["seconds"] * e.config.sample_rate == pytest.approx(600 + 200)


def test_a_checkpoint_is_scored_on_the_shipped_voices_as_the_shipped_model_is():
    e = _tiny_engine()
    got = e.evaluate_checkpoint("speech8k")  # eval wavenet --checkpoint FILE: the protocol of eval wavenet
    _, _, test = WaveNetEngine.load_data("speech8k")
    assert got["test_seconds"] == pytest.approx(test.seconds())  # the whole split, not 5 s per voice
    assert {"nll_bits_model_en", "nll_bits_model_music", "nll_bits_unigram"} <= set(got)
    assert 7 < got["nll_bits_model"] < 9 and got["nll_bits_unigram"] < got["nll_bits_model"]  # untrained


def test_training_lowers_validation_bits_and_checkpoints_round_trip(tmp_path):
    from engines.train import TrainConfig, Trainer

    e = _tiny_engine()
    train, valid, _ = e.load_data("speech8k")
    valid = valid.of_voice(0)
    before = e.evaluate(valid, max_seconds_per_voice=2)["bits_per_sample"]
    cfg = TrainConfig(steps=30, batch_size=4, lr=1e-2, checkpoint=str(tmp_path / "w.pt"))
    events = list(Trainer(e, train, cfg, valid).run())
    assert events[-1].kind == "done" and events[-1].items_per_s > 1000  # samples per second
    after = e.evaluate(valid, max_seconds_per_voice=2)["bits_per_sample"]
    assert after < before - 0.5, (before, after)
    e2 = WaveNetEngine.from_checkpoint(tmp_path / "w.pt", device="cpu")
    assert e2.evaluate(valid, max_seconds_per_voice=2)["bits_per_sample"] == pytest.approx(after, abs=1e-5)


def test_sample_and_resynthesize_stream_chunks():
    e = _tiny_engine()
    chunks = list(e.sample(seconds=0.1, voice=3, chunk=300, seed=1))
    assert [len(c.q) for c in chunks] == [300, 300, 200] and chunks[-1].t + 200 == 800
    assert abs(chunks[0].probs.sum() - 1) < 1e-4 and chunks[0].audio.dtype == np.float32
    again = np.concatenate([c.q for c in e.sample(seconds=0.1, voice=3, chunk=800, seed=1)])
    assert np.array_equal(np.concatenate([c.q for c in chunks]), again)  # chunking does not change the audio
    clip = (0.3 * np.sin(2 * np.pi * 200 * np.arange(1200) / 8000)).astype(np.float32)
    resyn = np.concatenate([c.audio for c in e.resynthesize(clip, voice=0)])
    assert len(resyn) == 1200


def test_unigram_baseline_is_the_histogram_entropy():
    train, _, _ = WaveNetEngine.load_data("speech8k")
    en = train.of_voice(0)
    bits = WaveNetEngine.unigram_bits(en, en)
    p = np.bincount(np.concatenate(en.segments), minlength=256) / len(en)
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum()
    assert entropy <= bits < entropy + 0.01 and 4 < bits < 8


def test_cli_bench_and_eval_on_a_checkpoint(tmp_path, root):
    e = _tiny_engine()
    e.save(tmp_path / "tiny.pt")
    for i in range(6):
        x = 0.2 * np.sin(2 * np.pi * (100 + 30 * i) * np.arange(4000) / 8000).astype(np.float32)
        write_wav(tmp_path / "wavs" / f"{i}.wav", x, 8000)
    from conftest import run_cli

    run = lambda *a: run_cli(root, *a)  # noqa: E731
    r = run("bench", "wavenet", "--checkpoint", str(tmp_path / "tiny.pt"), "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    for key in ("sample_rate", "rtf_naive", "rtf_torch_cached", "rtf_fused", "rtf_fused_batch4", "rtf_fused_16k"):
        assert b[key] > 0, key
    assert b["sample_rate"] == 8000 and b["rtf_fused"] > b["rtf_torch_cached"] > b["rtf_naive"]
    r = run("eval", "wavenet", "--checkpoint", str(tmp_path / "tiny.pt"), "--dataset", str(tmp_path / "wavs"), "--json")
    assert r.returncode == 0, r.stderr
    assert 6 < json.loads(r.stdout)["bits_per_sample"] < 9
    r = run("eval", "wavenet", "--checkpoint", str(tmp_path / "tiny.pt"), "--dataset", str(tmp_path / "nothing"))
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "no such dataset" in r.stderr
    r = run("train", "wavenet", "--preset", "tiny", "--only", "stack", "--steps", "1")
    assert r.returncode == 2 and "no part" in r.stderr and "prosody" in r.stderr
    r = run("train", "wavenet", "--preset", "tiny", "--widen", "gate_channels=16", "--steps", "1")
    assert r.returncode == 2 and "--init" in r.stderr and r.stderr.strip().count("\n") == 0
    for bad, says in (("skip_channels=99", "not skip_channels"), ("gate_channels=4", "already has 8"),
                      ("gate_channels", "KEY=N")):  # fmt: skip
        r = run("train", "wavenet", "--init", str(tmp_path / "tiny.pt"), "--widen", bad, "--steps", "1")
        assert r.returncode == 2 and says in r.stderr, (bad, r.stderr)


def test_torch_generator_for_cuda_agrees_with_the_fused_kernel():
    from engines.wavenet.engine import _TorchGenerator

    e = _tiny_engine()
    frames = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)  # 4 frames: 320 samples
    fused = e._generator(1, [2], frames, seed=0).run(300, temperature=1e-5)[0]
    torch_path = _TorchGenerator(e, 1, torch.tensor([2]), frames, seed=0).run(300, temperature=1e-5)[0]
    assert np.array_equal(fused, torch_path)  # greedy: the same samples, step for step


# -- the frame prior (engines/wavenet/prosody.py) ------------------------------------------------------


def _prosody_engine(hidden: int = 16, mixture: int = 1) -> WaveNetEngine:
    torch.manual_seed(0)
    cfg = replace(WaveNetEngine.presets()["tiny"], prosody_hidden=hidden, prosody_mixture=mixture)
    return WaveNetEngine(cfg, device="cpu")


@pytest.mark.parametrize("mixture", [1, 3])
def test_frame_prior_predicts_each_frame_from_the_past_only(mixture):
    prior = _prosody_engine(mixture=mixture).model.prosody.eval()
    f = torch.randn(2, 30, 20)
    log_pi, mu, logvar = prior(f, torch.tensor([0, 3]))
    assert log_pi.shape == (2, 30, mixture) and mu.shape == logvar.shape == (2, 30, mixture, 20)
    torch.testing.assert_close(log_pi.exp().sum(-1), torch.ones(2, 30))
    g = f.clone()
    g[:, 12:] += 5.0  # change frame 12 and after: predictions up to frame 12 must not move
    log_pi2, mu2, logvar2 = prior(g, torch.tensor([0, 3]))
    for a, b in ((log_pi, log_pi2), (mu, mu2), (logvar, logvar2)):
        torch.testing.assert_close(a[:, :13], b[:, :13])
    assert (mu[:, 13:] - mu2[:, 13:]).abs().max() > 1e-3  # and later ones do see it
    other = prior(f, torch.tensor([1, 2]))[1]
    assert (other - mu).abs().max() > 1e-3  # the voice conditions every frame


def test_frame_prior_nll_is_the_mixture_density():
    prior = _prosody_engine(mixture=3).model.prosody.eval()
    f = torch.randn(2, 7, 20)
    v = torch.tensor([0, 2])
    log_pi, mu, logvar = prior(f, v)
    dist = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=log_pi),
        torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1),
    )
    torch.testing.assert_close(prior.nll(f, v), -dist.log_prob(f).mean() / 20)
    # one component: the plain diagonal Gaussian (the first shipped prior's layout loads unchanged)
    one = _prosody_engine().model.prosody.eval()
    _, mu1, lv1 = one(f, v)
    ref = 0.5 * (lv1[:, :, 0] + (f - mu1[:, :, 0]) ** 2 / lv1[:, :, 0].exp() + math.log(2 * math.pi)).mean()
    torch.testing.assert_close(one.nll(f, v), ref)
    assert set(one.state_dict()) == {"voice.weight", "start", "out.weight", "out.bias"} | {
        k for k in one.state_dict() if k.startswith("rnn.")
    }


def test_only_the_frame_prior_trains_with_only_prosody(tmp_path):
    e = _prosody_engine(mixture=2)
    train, valid, _ = e.load_data("speech8k")
    before = {k: v.clone() for k, v in e.model.state_dict().items()}
    cfg = TrainConfig(steps=3, batch_size=2, eval_every=0, checkpoint=str(tmp_path / "p.pt"), keep_best=True,
                      only="prosody")  # fmt: skip
    trainer = Trainer(e, train, cfg, valid)
    events = list(trainer.run())
    assert e.train_only == "prosody" and events[-1].kind == "done"
    after = e.model.state_dict()
    moved = {k for k in after if not torch.equal(after[k], before[k])}
    assert moved and all(k.startswith("prosody.") for k in moved)  # the WaveNet itself is untouched
    assert all(p.requires_grad == n.startswith("prosody.") for n, p in e.model.named_parameters())  # and frozen
    assert trainer.selection_metric == "prosody_nll"
    with pytest.raises(ValueError, match="no part 'stack'"):
        Trainer(_prosody_engine(), train, replace(cfg, only="stack"), valid)


def test_frame_prior_learns_the_voices_frames_and_free_generation_renders_its_plan():
    e = _prosody_engine()
    train, valid, _ = e.load_data("speech8k")
    batch = next(e.batches(train, 2, np.random.default_rng(0)))
    assert batch["plan"].shape == (8, 400, 20) and batch["plan_voice"].shape == (8,)
    stream = e._streams(train)[int(batch["plan_voice"][0])]
    starts = [s for s in range(stream.shape[1] - 399) if np.allclose(stream[:, s], batch["plan"][0, 0].numpy())]
    assert starts and np.allclose(stream[:, starts[0] : starts[0] + 400].T, batch["plan"][0].numpy())
    before = e.prosody_nll(valid)
    prior = e.model.prosody
    opt = torch.optim.Adam(prior.parameters(), 1e-2)
    rng = np.random.default_rng(1)
    for _ in range(40):
        b = e._plan_batch(train, rng)
        loss = prior.nll(b["plan"], b["plan_voice"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = e.prosody_nll(valid)
    assert after < before - 0.3, (before, after)
    chunks = list(e.sample(seconds=0.05, voice=2, seed=4, chunk=200))
    plan = chunks[0].plan
    assert plan.shape == (20, 400 // 80 + 1) and all(c.plan is plan for c in chunks)
    np.testing.assert_array_equal(plan, e.plan(0.05, 2, seed=4))  # the plan is the seed's
    rendered = np.concatenate([c.q for c in chunks])
    given = np.concatenate([c.q for c in e.sample(seconds=0.05, voice=2, seed=4, frames=plan, chunk=200)])
    np.testing.assert_array_equal(rendered, given)  # the audio is the plan rendered
    assert all(c.plan is None for c in e.sample(seconds=0.05, voice=2, seed=4, plan=False))
