"""The training panel's "Run elsewhere…" dialog: the exact torchrun command and a Slurm batch script for
the panel's configuration, and a local multi-process run launched with torchrun (its output shown and its
TensorBoard log plotted by the panel while it runs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from engines.launch import RunSpec, local_command, shell, slurm_script, torchrun_command

ROOT = Path(__file__).resolve().parent.parent  # the repository root: where `-m engines` runs


class RunElsewhereDialog(QDialog):
    launched = Signal(str)  # the log directory of a local run just started
    finished_run = Signal(int)  # its exit code

    def __init__(self, spec: RunSpec, local_root: Path | None = None, parent=None):
        """``spec``'s paths are relative (for a cluster); a local run puts them under ``local_root``."""
        super().__init__(parent)
        self.setWindowTitle(f"Run elsewhere: {spec.name}")
        self.spec = spec
        self.local_root = local_root or ROOT
        self.process: QProcess | None = None
        self.nproc = QSpinBox()
        self.nproc.setRange(1, 64)
        self.nproc.setValue(2)
        self.nnodes = QSpinBox()
        self.nnodes.setRange(1, 1024)
        self.endpoint = QLineEdit("HOST:29500")
        self.gpus = QSpinBox()
        self.gpus.setRange(0, 16)
        self.gpus.setValue(4)
        self.command = QPlainTextEdit()
        self.command.setReadOnly(True)
        self.command.setMaximumHeight(90)
        self.script = QPlainTextEdit()
        self.script.setReadOnly(True)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMaximumBlockCount(400)
        self.copy_btn = QPushButton("Copy command")
        self.save_btn = QPushButton("Save Slurm script…")
        self.launch_btn = QPushButton("Launch here with torchrun")
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setEnabled(False)
        form = QFormLayout()
        form.addRow("Processes per node", self.nproc)
        form.addRow("Nodes", self.nnodes)
        form.addRow("Rendezvous (several nodes)", self.endpoint)
        form.addRow("GPUs per node (Slurm)", self.gpus)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("torchrun command (run it on every node; the global batch stays --batch-size):"))
        lay.addWidget(self.command)
        lay.addWidget(QLabel("Slurm batch script:"))
        lay.addWidget(self.script, 1)
        row = QHBoxLayout()
        for b in (self.copy_btn, self.save_btn, self.launch_btn, self.stop_btn):
            row.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(QLabel("Local run output:"))
        lay.addWidget(self.output, 1)
        for w in (self.nproc, self.nnodes, self.gpus):
            w.valueChanged.connect(self.refresh)
        self.endpoint.textChanged.connect(self.refresh)
        self.copy_btn.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.toPlainText()))
        self.save_btn.clicked.connect(self.ask_save_script)
        self.launch_btn.clicked.connect(self.launch)
        self.stop_btn.clicked.connect(self.stop)
        self.resize(900, 700)
        self.refresh()

    def refresh(self) -> None:
        cmd = torchrun_command(self.spec, self.nproc.value(), self.nnodes.value(), self.endpoint.text())
        self.command.setPlainText(shell(cmd))
        self.script.setPlainText(slurm_script(self.spec, self.nnodes.value(), max(1, self.gpus.value())))

    def ask_save_script(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save Slurm script", f"train-{self.spec.name}.sbatch")
        if path:
            self.save_script(path)

    def save_script(self, path: str) -> None:
        Path(path).write_text(self.script.toPlainText(), encoding="utf-8")
        self.output.appendPlainText(f"wrote {path}")

    def launch(self) -> None:
        """Start torchrun with this many processes on this machine (gloo on the CPU, nccl on CUDA)."""
        if self.process is not None:
            return
        spec = replace(
            self.spec, out=str(self.local_root / self.spec.out), logdir=str(self.local_root / self.spec.logdir)
        )
        self.local_spec = spec
        cmd = local_command(spec, self.nproc.value())
        proc = QProcess(self)
        proc.setWorkingDirectory(str(ROOT))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._read)
        proc.finished.connect(self._finished)
        self.output.appendPlainText("$ " + shell(cmd))
        proc.start(cmd[0], cmd[1:])
        self.process = proc
        self.launch_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.launched.emit(spec.logdir)

    def _read(self) -> None:
        if self.process is not None:
            text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
            for line in text.replace("\r", "\n").splitlines():
                if line.strip():
                    self.output.appendPlainText(line)

    def _finished(self, code: int, _status=None) -> None:
        self._read()
        self.output.appendPlainText(f"finished with exit code {code}")
        self.process = None
        self.launch_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.finished_run.emit(code)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # torchrun passes SIGTERM on to its workers
            if not self.process.waitForFinished(5000):
                self.process.kill()

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)
