"""Request idempotency: a mutating call runs once per request id; a retry gets the first answer.

The controller retries a call whose answer it did not get; without this the retry would
create a second table or run the UDF again. Responses are kept (and persisted, so they
survive a restart) by the table store for a retry's lifetime; this module is their only
user.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mip_node.table_store import TableStore
from mip_node.workers import WorkerPool

__all__ = ["RequestMemo"]


class RequestMemo:
    """Serializes calls with the same request id and gives a retry the remembered response."""

    def __init__(self, store: TableStore, workers: WorkerPool) -> None:
        self._store = store
        self._workers = workers
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def once(self, request_id: str) -> AsyncIterator[bytes | None]:
        """Hold the request id; yields the remembered response, or None when the call must run.

        An empty id opts out: the call runs every time.
        """
        if not request_id:
            yield None
            return
        lock = self._locks.setdefault(request_id, asyncio.Lock())
        await lock.acquire()
        try:
            cached = self._store.cached_response(request_id)
            if cached is False:  # only the database can tell
                cached = await self._workers.run(self._store.remembered_response, request_id)
            yield cached if isinstance(cached, bytes) else None
        finally:
            lock.release()
            if not lock.locked():
                self._locks.pop(request_id, None)

    def remember(self, request_id: str, response: bytes) -> None:
        """Keep a call's encoded response for its retries (nothing for an empty id)."""
        if request_id:
            self._store.remember_response(request_id, response)
