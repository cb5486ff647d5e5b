"""One worker mechanism for all long work (sampling, training, evaluation, data building).

Long work is a Python generator (the engines' style). A :class:`Worker` runs it on a QThread and
checks between yields whether it was cancelled or paused, so model code needs no locks. It also
installs a cancellation token (:mod:`engines.cancel`) that engines check in their inner loops, so a
cancel takes effect within milliseconds even in the middle of a long training step.
Every tab connects to the same signals, as in superqt/napari's generator workers:

    started, yielded(object), returned(object), errored(str), aborted, finished, paused(bool)
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from engines.cancel import Cancelled, use_token

log = logging.getLogger(__name__)


class _Thread(QThread):
    def __init__(self, worker: Worker):
        super().__init__()
        self._worker = worker

    def run(self) -> None:
        self._worker._work()


class Worker(QObject):
    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    aborted = Signal()
    finished = Signal()
    paused = Signal(bool)

    _live: set[Worker] = set()  # keep running workers alive until they finish

    def __init__(self, func: Callable[..., Iterator[Any] | Any], *args: Any, name: str = "", **kwargs: Any):
        super().__init__()
        self.name = name or getattr(func, "__name__", "work")
        self._func, self._args, self._kwargs = func, args, kwargs
        self._abort = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._thread: _Thread | None = None
        self._running = False
        self._parked = False  # paused and waiting between yields (no step under way)
        self.error: BaseException | None = None

    # -- control (GUI thread) ---------------------------------------------------------------------
    def start(self) -> Worker:
        if self._thread is not None:
            raise RuntimeError("a Worker runs once")
        self._thread = _Thread(self)
        self._threads = _torch_threads()  # the GUI thread's setting, applied in the worker (see _work)
        self._running = True
        Worker._live.add(self)
        self._thread.finished.connect(self._cleanup)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._abort.set()
        self._resume.set()  # a paused worker wakes up to notice the abort

    def pause(self) -> None:
        if self._resume.is_set():
            self._resume.clear()
            self.paused.emit(True)

    def resume(self) -> None:
        if not self._resume.is_set():
            self._resume.set()
            self.paused.emit(False)

    @property
    def is_paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def is_parked(self) -> bool:
        """Paused, and the work has stopped between two yields (a step under way has finished)."""
        return self._parked

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def is_cancelled(self) -> bool:
        return self._abort.is_set()

    def wait(self, msecs: int = 5000) -> bool:
        thread = self._thread
        return thread.wait(msecs) if thread is not None else True

    @classmethod
    def cancel_all_and_wait(cls, msecs: int = 5000) -> bool:
        """Cancel every running worker and wait for their threads (before the app exits: Python must
        not be torn down under a thread that is still running model code)."""
        live = list(cls._live)
        for w in live:
            w.cancel()
        return all(w.wait(msecs) for w in live)

    def _cleanup(self) -> None:
        Worker._live.discard(self)
        if self._thread is not None:
            self._thread.deleteLater()
            self._thread = None

    # -- the work (worker thread) -------------------------------------------------------------------
    def _work(self) -> None:
        self.started.emit()
        if self._threads:  # OpenMP's thread count is per thread: a new thread would use every core instead,
            import torch  # and sum in another order than the same work on the GUI thread (other floats)

            torch.set_num_threads(self._threads)
        use_token(self._abort)  # engine inner loops see a cancel at once (engines.cancel)
        gen = None
        try:
            result = self._func(*self._args, **self._kwargs)
            if isinstance(result, Iterator):
                gen = result
                result = None
                while True:
                    if not self._resume.is_set():
                        self._parked = True
                        self._resume.wait()
                        self._parked = False
                    if self._abort.is_set():
                        gen.close()
                        self.aborted.emit()
                        return
                    try:
                        value = next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    if self._abort.is_set():
                        gen.close()
                        self.aborted.emit()
                        return
                    self.yielded.emit(value)
            self.returned.emit(result)
        except Cancelled:
            self.aborted.emit()
        except Exception as e:  # surfaced to the user as a message, never a crash
            self.error = e
            log.error("worker %s failed:\n%s", self.name, traceback.format_exc())
            self.errored.emit(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        finally:
            use_token(None)
            self._running = False
            self.finished.emit()


def _torch_threads() -> int:
    """torch's intra-op thread count as the calling thread sees it (0 when torch is not loaded)."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 0


def run_worker(func: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> Worker:
    """Create a worker; the caller connects signals and then calls ``start()``."""
    return Worker(func, *args, name=name, **kwargs)


class Coalescer(QObject):
    """Runs requested redraws at most once per display frame (``interval_ms``, 60 Hz by default).

    A worker may yield far faster than a screen refreshes (DRAW's 32 glimpses of 64 images in a quarter of a
    second); a plot redrawn per result keeps the GUI thread busy for most of that time and the window stalls.
    ``request(fn)`` marks ``fn`` (a bound method: the same one requested twice runs once) to run at the next
    tick; ``flush()`` runs what is pending now (a job's end, before a picture is taken)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 16):
        super().__init__(parent)
        self._pending: dict[Callable[[], Any], None] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self.runs = 0  # how many redraws ran (tests count them)

    def request(self, fn: Callable[[], Any]) -> None:
        self._pending[fn] = None
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        self._timer.stop()
        pending, self._pending = list(self._pending), {}
        for fn in pending:
            self.runs += 1
            fn()


def collect_garbage_on_gui_thread(parent: QObject, interval_ms: int = 1000, full_every: int = 60) -> QTimer:
    """Run Python's cyclic garbage collector only here, on the GUI thread.

    Left automatic, a collection runs on whichever thread happens to allocate, e.g. a worker in the middle of
    a training step; if it frees a Qt widget that sat in a reference cycle, Qt destroys it off the GUI thread,
    holding its object lock while it waits for the GIL that the GUI thread holds while waiting for that lock
    (a deadlock seen with gdb). Reference counting still frees everything else at once. Every ``interval_ms``
    the young generations are collected (a few ms); every ``full_every`` ticks, when no worker runs, all of
    them (about 0.35 s with every tab's models loaded: automatic collection pays the same, at random times)."""
    import gc

    gc.disable()
    timer = QTimer(parent)
    timer.setInterval(interval_ms)
    ticks = [0]

    def tick() -> None:
        ticks[0] += 1
        if ticks[0] >= full_every and not Worker._live:
            ticks[0] = 0
            gc.collect()
        else:
            gc.collect(1)

    timer.timeout.connect(tick)
    timer.start()
    return timer
