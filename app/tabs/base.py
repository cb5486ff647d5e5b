"""What every model tab shares: an About panel, presentation mode, stepping keys, error reporting,
one current job at a time (a newer request cancels the older one and its late results are dropped).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from app.worker import Worker


class ModelTab(QWidget):
    title = "Model"
    engine_name = ""
    error = Signal(str)  # shown by the main window (status bar + message)
    status = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._job: Worker | None = None
        self._job_id = 0
        self.presenting = False
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.body = QWidget(self.splitter)
        self.about = QTextBrowser(self.splitter)
        self.about.setObjectName("about")
        self.about.setOpenExternalLinks(False)
        # "~" (as in z ~ N(0, I)) would be Markdown strikethrough: show it as the tilde operator
        self.about.setMarkdown(self.about_markdown().replace("~", "∼"))
        self.about.setMinimumWidth(260)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 380])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.splitter)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)

    # -- to override ----------------------------------------------------------------------------
    def about_markdown(self) -> str:
        return ""

    def step_forward(self) -> None: ...
    def step_back(self) -> None: ...
    def play_pause(self) -> None: ...
    def reset(self) -> None: ...

    def run_demo_blocking(self) -> None:
        """Run the tab's demo to completion on the calling thread (for screenshots)."""

    def set_presentation(self, on: bool) -> None:
        self.presenting = on
        self.about.setVisible(not on)

    def use_engine(self, engine: Any, label: str) -> None:
        """Show a model trained or loaded elsewhere (e.g. by the training panel)."""

    def state(self) -> dict[str, Any]:
        return {}

    # -- jobs -------------------------------------------------------------------------------------
    def start_job(self, func, *args, on_yield=None, on_return=None, name: str = "", **kwargs) -> Worker:
        """Run ``func(*args, **kwargs)`` on a worker; cancel any job still running. Yields and the
        return value of a superseded job are dropped (ndv's generation-counter habit)."""
        self.cancel_job()
        self._job_id += 1
        job_id = self._job_id
        job = Worker(func, *args, name=name, **kwargs)
        if on_yield:
            job.yielded.connect(lambda v: job_id == self._job_id and on_yield(v))
        if on_return:
            job.returned.connect(lambda v: job_id == self._job_id and on_return(v))
        job.errored.connect(lambda msg: job_id == self._job_id and self.error.emit(f"{self.title}: {msg}"))
        self._job = job
        job.start()
        return job

    def shutdown(self) -> None:
        """The window is closing: stop everything this tab runs."""
        self.cancel_job()

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self._job_id += 1

    @property
    def busy(self) -> bool:
        return self._job is not None and self._job.is_running
