"""Child processes that must not outlive their parent, whatever kills it (even SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Called by a child at start-up: the kernel (Linux) sends it SIGKILL when `parent_pid`
    dies; if the parent is already gone, exit now. (Requested by the child itself: a
    `preexec_fn` is unsafe in a parent with threads.)

    A Ctrl-C in the terminal is the parent's to handle: it stops its children itself. Left
    to the default, each child of its process group died of its own KeyboardInterrupt, with
    a traceback. (A child that runs a signal handler of its own installs it later.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request above
        os._exit(0)
