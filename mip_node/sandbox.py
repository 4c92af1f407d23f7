"""Runs a UDF in a separate process that can be stopped and limited.

Children come from a fork server started before any gRPC thread exists (forking the
serving process itself is unsafe with gRPC's threads), so each child is a clean,
single-threaded process with numpy and the UDF library already imported. The UDF's
inputs travel to it by pipe, it runs under a memory limit, and a child past its time
limit is killed. The node itself never runs out of memory or workers for it. The copy
of the inputs is the cost of isolation, which is why ``udf_isolation = "thread"`` exists.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from mip_common.errors import DataRejectedError, DeadlineError, InternalError
from udf_library import ArrayBundle, UdfInputError

__all__ = ["run_in_child", "start_fork_server"]

_CONTEXT = multiprocessing.get_context("forkserver")


def start_fork_server() -> None:
    """Start the fork server now, before the node starts gRPC threads."""
    _CONTEXT.set_forkserver_preload(["numpy", "udf_library", "mip_node.sandbox"])
    from multiprocessing import forkserver

    forkserver.ensure_running()


def run_in_child(
    name: str, func: Callable[..., Any], kwargs: dict[str, Any], *, timeout_s: float, memory_bytes: int
) -> Any:
    """``func(**kwargs)`` in a child process; its result, or the error it met, as the node's errors."""
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_child_main, args=(func, _plain(kwargs), sending, memory_bytes), name=f"udf {name}", daemon=True
    )
    child.start()
    sending.close()
    try:
        if not receiving.poll(timeout_s if timeout_s > 0 else None):
            child.kill()
            child.join()
            raise DeadlineError(f"UDF {name} ran past the node's limit of {timeout_s:g} s and was stopped")
        try:
            kind, value = receiving.recv()
        except EOFError:
            child.join()
            hint = f", most likely at the node's memory limit of {memory_bytes / 2**20:.0f} MiB" if memory_bytes else ""
            raise InternalError(
                f"UDF {name} died without a result (exit code {child.exitcode}{hint}); see the node log"
            ) from None
    finally:
        receiving.close()
    child.join()
    if kind == "ok":
        return _bundles(value)
    if kind == "input_error":
        raise DataRejectedError(f"{name}: {value}")
    if kind == "memory":
        raise InternalError(f"UDF {name} needed more than the node's limit of {memory_bytes / 2**20:.0f} MiB")
    raise InternalError(f"UDF {name} failed: {value}")


def _child_main(func: Callable[..., Any], kwargs: dict[str, Any], sending: Connection, memory_bytes: int) -> None:
    if memory_bytes > 0:  # writable private memory only: reserved address space does not count
        limit = _data_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    try:
        result: tuple[str, Any] = ("ok", _plain(func(**_bundles(kwargs))))
    except UdfInputError as exc:
        result = ("input_error", str(exc))
    except MemoryError:
        result = ("memory", "")
    except Exception as exc:
        result = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
    sending.send(result)
    sending.close()


def _data_bytes() -> int:
    """The process's writable private memory now (VmData), which RLIMIT_DATA counts."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmData in /proc/self/status")


def _plain(value: Any) -> Any:
    """ArrayBundles as ("bundle", dict of arrays), so they cross the pipe as plain numpy."""
    if isinstance(value, ArrayBundle):
        return ("bundle", {name: np.asarray(value[name]) for name in value.names})
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _bundles(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "bundle":
        return ArrayBundle(value[1])
    if isinstance(value, tuple):
        return tuple(_bundles(v) for v in value)
    if isinstance(value, dict):
        return {k: _bundles(v) for k, v in value.items()}
    return value
