"""Co-operative cancellation that reaches inside long computations.

A worker thread installs a token (a ``threading.Event``) with :func:`use_token`; model code calls
:func:`check_cancelled` in its inner loops (DRAW: once per glimpse), which raises :class:`Cancelled`
once the token is set, and marks tensors with :func:`cancel_point` so that ``backward()`` checks too
(on the CPU autograd runs in the calling thread). A cancelled training step therefore stops before
``optimizer.step()`` and leaves the weights as they were. Outside a worker there is no token and a
check costs one lookup.
"""

from __future__ import annotations

import threading

_local = threading.local()


class Cancelled(Exception):
    """Raised inside engine code when the work it belongs to was cancelled."""


def use_token(event: threading.Event | None) -> None:
    _local.token = event


def check_cancelled() -> None:
    token = getattr(_local, "token", None)
    if token is not None and token.is_set():
        raise Cancelled()


def _hook(grad):
    check_cancelled()
    return grad


def cancel_point(tensor):
    """Make ``backward()`` check for cancellation when the gradient reaches ``tensor``."""
    if tensor.requires_grad and getattr(_local, "token", None) is not None:
        tensor.register_hook(_hook)
    return tensor


def is_cancelled() -> bool:
    """True once the current worker's job was cancelled (for loops that wait rather than compute)."""
    token = getattr(_local, "token", None)
    return token is not None and token.is_set()
