"""Streaming generated audio to the speakers while it is being made (no Qt here: tests use it alone).

A generator thread pushes float32 samples into a :class:`RingBuffer`; the PortAudio callback of a
``sounddevice.OutputStream`` only copies them out. The callback takes no locks, makes no buffers
(only numpy views into preallocated memory) and never touches Qt: the ring's read and write
counters each have a single writer, so the two threads need no lock between them. Playback waits
for a short pre-buffer before it starts, and again after a stall.

An *underflow* is either PortAudio reporting ``output_underflow`` or the callback finding the ring
short of samples while the generator has not finished; both are counted and shown in the tab.
"""

from __future__ import annotations

import threading
import time

import numpy as np

try:
    import sounddevice as sd

    _IMPORT_ERROR: str | None = None
except OSError as e:  # PortAudio missing: the app says so and still generates to WAV files
    sd = None
    _IMPORT_ERROR = str(e)


def audio_problem() -> str | None:
    """None when an output device is usable, else a one-line reason."""
    if sd is None:
        return f"no audio: PortAudio is not installed ({_IMPORT_ERROR}); generated audio can still be saved as WAV"
    try:
        sd.query_devices(kind="output")
    except Exception as e:  # sounddevice raises PortAudioError or ValueError when there is no device
        return f"no audio output device ({str(e).splitlines()[0]}); generated audio can still be saved as WAV"
    return None


class RingBuffer:
    """Single-producer, single-consumer float32 ring. ``written`` and ``read`` only grow; each is
    assigned by one thread only (producer and consumer), so reading the other's is always safe."""

    def __init__(self, capacity: int):
        self.data = np.zeros(capacity, np.float32)
        self.capacity = capacity
        self.written = 0
        self.read = 0

    def available(self) -> int:
        return self.written - self.read

    def space(self) -> int:
        return self.capacity - self.available()

    def push(self, x: np.ndarray) -> int:
        """Copy as much of ``x`` as fits; returns how many samples were taken."""
        n = min(len(x), self.space())
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.data[start : start + first] = x[:first]
        self.data[: n - first] = x[first:n]
        self.written += n
        return n

    def pull_into(self, out: np.ndarray, gain: float) -> int:
        """Fill ``out`` with up to ``len(out)`` samples times ``gain``; zero the rest. Allocation-free."""
        n = min(len(out), self.available())
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        np.multiply(self.data[start : start + first], gain, out=out[:first])
        np.multiply(self.data[: n - first], gain, out=out[first:n])
        out[n:] = 0.0
        self.read += n
        return n

    def clear(self) -> None:
        self.read = self.written


class AudioPlayer:
    """One mono output stream fed from a ring buffer. ``feed`` (any thread but the audio one) blocks
    while the ring is full; ``finish`` marks the end; ``stop`` silences at once."""

    def __init__(self, rate: int, prebuffer_s: float = 0.25, capacity_s: float = 60.0, blocksize: int = 256):
        self.rate = rate
        self.ring = RingBuffer(int(capacity_s * rate))
        self.prebuffer = int(prebuffer_s * rate)
        self.blocksize = blocksize
        self.volume = 0.8
        self.underflows = 0  # PortAudio-reported plus ring-starved callbacks
        self.callbacks = 0
        self.played = 0  # samples handed to PortAudio
        self._stream = None
        self._waiting = True  # pre-buffering
        self._finished = False  # the producer will push nothing more
        self._stopped = threading.Event()

    # -- audio thread --------------------------------------------------------------------------------
    def _callback(self, outdata, frames, _time, status) -> None:
        self.callbacks += 1
        out = outdata[:, 0]
        if self._waiting and (self.ring.available() >= self.prebuffer or self._finished):
            self._waiting = False
        if self._waiting:  # silence while pre-buffering (a device's start-up hiccups are not ours)
            out[:] = 0.0
            return
        if status.output_underflow:
            self.underflows += 1
        n = self.ring.pull_into(out, self.volume)
        self.played += n
        if n < frames:
            if self._finished:
                self._stopped.set()
            else:
                self.underflows += 1  # starved: the generator fell behind
                self._waiting = True

    # -- control (any other thread) ----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._stream is not None and not self._stopped.is_set()

    def start(self, device=None) -> None:
        """Open the stream (raises ``RuntimeError`` with a one-line reason when audio is unavailable)."""
        problem = audio_problem()
        if problem:
            raise RuntimeError(problem)
        self.close()
        self.ring.clear()
        self.underflows = self.callbacks = self.played = 0
        self._waiting, self._finished = True, False
        self._stopped.clear()
        try:
            self._stream = sd.OutputStream(
                samplerate=self.rate, channels=1, dtype="float32", blocksize=self.blocksize, device=device,
                callback=self._callback,
            )  # fmt: skip
            self._stream.start()
        except Exception as e:  # PortAudioError: device busy, rate unsupported, ...
            self._stream = None
            raise RuntimeError(f"cannot open the audio output: {str(e).splitlines()[0]}") from e

    def feed(self, x: np.ndarray, cancelled=lambda: False) -> None:
        """Queue samples; waits while the ring is full (returns early if stopped or ``cancelled()``)."""
        x = np.asarray(x, np.float32)
        while len(x) and self.active and not cancelled():
            n = self.ring.push(x)
            x = x[n:]
            if len(x):
                time.sleep(0.01)

    def finish(self) -> None:
        """No more samples: play out what is queued, then the stream goes idle."""
        self._finished = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything queued has played (after :meth:`finish`)."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Silence at once and drop what is queued."""
        self._stopped.set()
        self.close()
        self.ring.clear()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # the device vanished: nothing left to close
                pass
