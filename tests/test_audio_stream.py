"""Streaming to the speakers: the ring buffer, and a real PortAudio stream on a PulseAudio null sink."""

import threading
import time

import numpy as np

from app.audio import AudioPlayer, RingBuffer


def test_ring_buffer_wraps_scales_and_zero_fills():
    r = RingBuffer(8)
    assert r.push(np.arange(1, 7, dtype=np.float32)) == 6 and r.space() == 2
    out = np.full(4, 9, np.float32)
    assert r.pull_into(out, 0.5) == 4 and out.tolist() == [0.5, 1.0, 1.5, 2.0]
    assert r.push(np.arange(10, 20, dtype=np.float32)) == 6  # only 6 fit: the write wraps round
    out = np.full(10, 9, np.float32)
    assert r.pull_into(out, 1.0) == 8
    assert out.tolist() == [5, 6, 10, 11, 12, 13, 14, 15, 0, 0]  # in order across the wrap, rest silent
    assert r.available() == 0


def test_concurrent_producer_and_consumer_lose_nothing():
    r = RingBuffer(1000)
    total = 200_000
    got = []

    def consume():
        buf = np.empty(97, np.float32)
        n = 0
        while n < total:
            k = r.pull_into(buf, 1.0)
            got.append(buf[:k].copy())
            n += k

    t = threading.Thread(target=consume)
    t.start()
    x = np.arange(total, dtype=np.float32)
    i = 0
    while i < total:
        i += r.push(x[i : i + 333])
    t.join(30)
    assert np.array_equal(np.concatenate(got), x)


def test_ten_seconds_of_generated_speech_stream_without_underflow(null_audio_device):
    from engines.resources import resource_path
    from engines.wavenet import WaveNetEngine

    engine = WaveNetEngine.from_checkpoint(resource_path("wavenet-speech"), device="cpu")
    rate = engine.config.sample_rate
    player = AudioPlayer(rate, prebuffer_s=0.25)
    player.start(device=null_audio_device)
    made = []
    t0 = time.perf_counter()
    for chunk in engine.sample(seconds=10.0, voice=0, seed=0, chunk=400):
        player.feed(chunk.audio)  # generated and played at the same time
        made.append(chunk.audio)
    gen_seconds = time.perf_counter() - t0
    player.finish()
    assert player.wait(timeout=30), "playback did not finish"
    played_for = time.perf_counter() - t0
    player.close()
    audio = np.concatenate(made)
    assert len(audio) == 10 * rate and player.played == 10 * rate
    assert player.underflows == 0, f"{player.underflows} underflows ({gen_seconds:.1f} s to generate)"
    assert played_for > 9.5  # paced by a real-time device, not drained at once
    rms = float(np.sqrt(np.mean(audio**2)))
    assert 0.005 < rms < 0.5, rms  # audible, not silence, not clipping noise


def test_stop_silences_at_once(null_audio_device):
    player = AudioPlayer(8000)
    player.start(device=null_audio_device)
    player.feed(0.1 * np.ones(8000 * 5, np.float32))
    time.sleep(0.3)
    player.stop()
    assert not player.active and player.ring.available() == 0
    t0 = time.perf_counter()
    player.feed(np.ones(8000 * 100, np.float32))  # stopped: feeding returns at once instead of waiting
    assert time.perf_counter() - t0 < 0.1 and player.ring.available() == 0
