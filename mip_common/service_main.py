"""The ``mip-<role> --config FILE`` entry point every server process shares."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mip_common.errors import MipError
from mip_common.lifetime import die_with_parent_if_asked
from mip_common.logs import configure_logging

__all__ = ["load_service_config", "run_service"]


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
