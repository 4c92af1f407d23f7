"""Lets a launched process end with the process that launched it, so no process is left behind.

Set by the launcher through ``MIP_DIE_WITH_PARENT=<launcher pid>`` and applied by the
child itself after start (a ``preexec_fn`` in the launcher would fork a process that
runs gRPC, which gRPC's fork handlers do not survive).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mip_common.errors import MipError
from mip_common.logs import configure_logging

__all__ = ["PARENT_ENV", "die_with_parent_if_asked", "load_service_config", "run_service"]

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


class _LoggedConfig(Protocol):
    @property
    def log_level(self) -> str: ...

    @property
    def log_json(self) -> bool: ...


ConfigT = TypeVar("ConfigT", bound=_LoggedConfig)


def run_service(
    role: str,
    description: str,
    load_config: Callable[[Path | None], ConfigT],
    serve: Callable[[ConfigT], Coroutine[Any, Any, None]],
    argv: list[str] | None = None,
) -> None:
    """The ``mip-<role> --config FILE`` entry point every server process shares.

    A configuration or start-up error ends the process with its message and exit code 2,
    never a traceback; Ctrl-C ends it quietly.
    """
    parser = argparse.ArgumentParser(prog=f"mip-{role}", description=description)
    parser.add_argument("--config", type=Path, help=f"{role} TOML file ([{role}] table)")
    args = parser.parse_args(argv)
    try:
        die_with_parent_if_asked()
        config = load_service_config(load_config, args.config, role)
        configure_logging(role, level=config.log_level, is_json=config.log_json)
        asyncio.run(serve(config))
    except MipError as exc:
        print(f"mip-{role}: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


def load_service_config(load_config: Callable[[Path | None], ConfigT], path: Path | None, role: str) -> ConfigT:
    """The config, or a ``MipError`` naming the file and what is wrong with it."""
    try:
        return load_config(path)
    except OSError as exc:
        raise MipError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MipError(f"config {path} is not valid TOML: {exc}") from None
    except KeyError as exc:
        if exc.args != (role,):
            raise
        raise MipError(f"config {path} has no [{role}] table") from None
