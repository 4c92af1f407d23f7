"""Lets a launched process end with the process that launched it, so no process is left behind.

Set by the launcher through ``MIP_DIE_WITH_PARENT=<launcher pid>`` and applied by the
child itself after start (a ``preexec_fn`` in the launcher would fork a process that
runs gRPC, which gRPC's fork handlers do not survive).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Mapping

__all__ = ["PARENT_ENV", "die_with_parent_if_asked"]

PARENT_ENV = "MIP_DIE_WITH_PARENT"
_PR_SET_PDEATHSIG = 1


def die_with_parent_if_asked(env: Mapping[str, str] = os.environ) -> None:
    """Ask Linux for SIGTERM when the launcher ends; end now if it already has."""
    launcher = env.get(PARENT_ENV, "")
    if not launcher.isdigit():
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(launcher):  # the launcher died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
