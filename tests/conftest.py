import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

# two pytest-xdist workers share the two cores: one torch thread each (alone, two threads)
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def qt_test_paths():
    # app data (autosaved checkpoints) goes to Qt's test locations, not the user's folders
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)


@pytest.fixture(autouse=True, scope="session")
def compiled_generation_kernel():
    """Compile WaveNet's fused kernel once per test process, here on the main thread before any tab exists. A
    WaveNet tab compiles it on a worker thread when it opens; on a fresh clone (no numba cache yet) that compile
    took seconds and overlapped the next tests, and one clean-clone run aborted (SIGABRT) while the main thread
    collected garbage and the worker thread, deep in numba's lowering, imported through PySide's import hook.
    Compiled here, every tab's warm-up returns at once."""
    from engines.wavenet.fused import warm_up

    warm_up()


@pytest.fixture(autouse=True)
def collect_qt_garbage_on_the_gui_thread():
    """After each test, free closed windows here, on the GUI thread. Left to the cyclic garbage collector they
    may be freed on whichever thread triggers a collection, e.g. a training worker: Qt then destroys the widget
    tree off the GUI thread holding its object lock while it waits for the GIL, and the GUI thread, holding the
    GIL, waits for that lock (a deadlock seen with gdb: ~QMenu on a worker thread, runDeletionInMainThread on
    the main one). The app's MainWindow turns automatic collection off for the same reason
    (app.worker.collect_garbage_on_gui_thread)."""
    yield
    if "PySide6.QtWidgets" in sys.modules:
        from PySide6.QtCore import QCoreApplication, QEvent
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is not None:
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            import gc

            gc.collect()


def flip_a_byte_in_a_tensor(path, out):
    """A checkpoint damaged inside its data: one bit flipped in the middle of its largest tensor record
    (torch stores those uncompressed, with no checksum of its own)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    off = info.header_offset
    name_len, extra_len = (int.from_bytes(data[off + k : off + k + 2], "little") for k in (26, 28))
    data[off + 30 + name_len + extra_len + info.file_size // 2] ^= 0x10
    out.write_bytes(bytes(data))
    return out


def run_cli(root, *args, timeout=300, separate_process=False):
    """``python -m engines ARGS``: in this process by default (the same ``main`` the console runs, without a
    2.5 s interpreter and torch start per call), or as a real subprocess."""
    if separate_process:
        import subprocess

        return subprocess.run([sys.executable, "-m", "engines", *args], cwd=root, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
    import contextlib
    import io
    from types import SimpleNamespace

    from engines.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()  # --threads N must not outlive the call (other tests compare float results)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse, and what the interpreter does with SystemExit("message")
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
            code = e.code if isinstance(e.code, int) else 1
        finally:
            torch.set_num_threads(threads)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def open_main_window(qtbot, tab: str):
    """The real main window, shown at a fixed size on ``tab`` (closed by the caller's fixture)."""
    from app.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1300, 820)
    w.select_tab(tab)
    w.show()
    return w


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def null_audio_device():
    """A real, real-time-paced PortAudio output: a PulseAudio null sink started for the test session
    (see ../shared/notes/headless-qt-and-audio.md). Yields the PortAudio device index to use.

    Without PulseAudio the test is skipped, unless GENPLAY_REQUIRE_AUDIO=1 (set by .ci/run): then
    it fails, so CI cannot silently stop testing the stream."""
    import shutil
    import subprocess
    import tempfile

    def unavailable(reason: str):
        if os.environ.get("GENPLAY_REQUIRE_AUDIO") == "1":
            pytest.fail(reason)
        pytest.skip(reason)

    if not (shutil.which("pulseaudio") and shutil.which("pactl")):
        unavailable("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
    try:
        import sounddevice as sd
    except OSError as e:
        unavailable(f"PortAudio missing: {e}")
    old_runtime = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="genplay-pulse-")
    started = subprocess.run(
        ["pulseaudio", "-D", "--exit-idle-time=-1", "-n", "--load=module-null-sink sink_name=null",
         "--load=module-native-protocol-unix"], capture_output=True, text=True,
    )  # fmt: skip
    if started.returncode != 0:
        unavailable(f"pulseaudio did not start: {started.stderr.strip()[-200:]}")
    subprocess.run(["pactl", "set-default-sink", "null"], check=True, timeout=30)
    sd._terminate()  # PortAudio lists devices when it starts: start it again to see 'pulse'
    sd._initialize()
    names = [d["name"] for d in sd.query_devices()]
    device = names.index("pulse") if "pulse" in names else None
    try:
        yield device
    finally:
        subprocess.run(["pulseaudio", "--kill"], capture_output=True)
        sd._terminate()
        sd._initialize()
        if old_runtime is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = old_runtime
