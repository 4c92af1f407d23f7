"""The node's bounded pool for blocking work (DuckDB, numpy UDFs), with load counters."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")


class WorkerPool:
    """Runs blocking calls on a fixed number of threads, keeping the experiment-id context."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="mip-worker")
        self._lock = threading.Lock()
        self._running = 0
        self._submitted = 0

    @property
    def running(self) -> int:
        """Calls running now."""
        return self._running

    @property
    def queued(self) -> int:
        """Calls waiting for a thread."""
        return self._submitted - self._running

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread, in a copy of the caller's context."""
        context = contextvars.copy_context()

        def counted() -> T:
            with self._lock:
                self._running += 1
            try:
                return context.run(fn, *args)
            finally:
                with self._lock:
                    self._running -= 1

        def finished(_: object) -> None:
            with self._lock:
                self._submitted -= 1

        with self._lock:
            self._submitted += 1
        future = self._pool.submit(counted)
        future.add_done_callback(finished)
        return await asyncio.wrap_future(future)

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Refuse new calls and wait for running ones, at most ``timeout_s``; False if some still run."""
        self._pool.shutdown(wait=timeout_s is None, cancel_futures=True)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.02)
        return self._running == 0
