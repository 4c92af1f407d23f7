"""Experiment tables in memory, written to the database when the node stops or runs short.

Every round of a federated algorithm creates and reads small tables, and an experiment
deletes them all when it ends; a database transaction per table would cost more than the
round itself. So tables live in memory, ready as Arrow and as the numpy bundle a UDF
takes. One writer thread puts them in the database in batches when memory passes
``table_cache_bytes`` (then forgets them, reading them back on use) and when the node
stops, so a restart finds every table again. A node that crashes loses the tables of the
experiments it was running; those experiments fail on that node anyway and the
controller's cleanup journal deletes whatever is left.

Responses of mutating calls are remembered by request id so a retry gets the same
answer. A retry comes within an experiment's budget, so they are kept ``memo_s`` seconds
and at most ``memo_entries`` of them (older ones are forgotten, in memory and on disk);
only those still live are written at stop, after the tables, and what the stop's time
budget does not allow is left out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import pyarrow as pa

from mip_common.arrow_chunks import arrow_to_bundle
from mip_common.errors import AlreadyExistsError, FailedPreconditionError, InvalidRequestError, NotFoundError
from mip_node.db import Database, Privacy, TableMeta, quote_table
from udf_library import ArrayBundle

__all__ = ["CALL_STARTED", "StoredTable", "TableStore"]

log = logging.getLogger(__name__)

_BATCH_OPS = 256

CALL_STARTED: ContextVar[float | None] = ContextVar("call_started", default=None)
"""When the RPC storing tables started (the store's clock); set by the servicer per call."""


@dataclass
class StoredTable:
    """A table with its metadata, as Arrow and (once asked for) as a numpy bundle."""

    meta: TableMeta
    arrow: pa.Table
    bundle: ArrayBundle | None = None
    is_persisted: bool = False
    is_durable: bool = True
    is_spilling: bool = False
    nbytes: int = field(init=False)
    """Memory the Arrow data takes (asked often: ``pa.Table.nbytes`` walks every buffer)."""

    def __post_init__(self) -> None:
        self.nbytes = int(self.arrow.nbytes)


class TableStore:
    """The node's experiment tables: memory first, persisted by one writer thread."""

    def __init__(
        self,
        db: Database,
        *,
        cache_bytes: int,
        memo_s: float = 600.0,
        memo_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._cache_bytes = cache_bytes
        self._memo_s = memo_s
        self._memo_entries = memo_entries
        self._clock = clock
        self._is_dropping_responses = False
        self._ended: OrderedDict[str, float] = OrderedDict()  # experiments whose tables were deleted, oldest first
        self._lock = threading.RLock()
        self._tables: OrderedDict[str, StoredTable] = OrderedDict()
        self._dropped_pending: set[str] = set()
        self._memory_bytes = 0
        self._responses: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # oldest first
        # ids stored on disk (read once, so a new request never waits on the database), aged from start
        started = clock()
        self._stored_request_ids: OrderedDict[str, float] = OrderedDict((r, started) for r in db.request_ids())
        self._persisted_experiments = {m.experiment_id for m in db.experiment_tables()}
        """Experiments with tables in the database (a superset): others are listed without asking it."""
        self._writes: queue.Queue[tuple[str, object] | None] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._writer = threading.Thread(target=self._write_loop, name="mip-table-writer", daemon=True)
        self._writer.start()

    # --- reads ----------------------------------------------------------------------------

    def get(self, name: str) -> StoredTable:
        """A table by name; from the database if it is not in memory (say, after a restart)."""
        quote_table(name)
        with self._lock:
            stored = self._tables.get(name)
            if stored is not None:
                self._tables.move_to_end(name)
                return stored
        meta = self._db.table_meta(name)
        if meta.privacy is Privacy.PRIMARY:
            return StoredTable(meta, pa.table({}), is_persisted=True)
        stored = StoredTable(meta, self._db.read_table(name), is_persisted=True)
        with self._lock:
            self._tables[name] = stored
            self._memory_bytes += stored.nbytes
            self._evict()
        return stored

    def cached(self, name: str) -> StoredTable | None:
        """A table if it is in memory, without touching the database (safe on the event loop)."""
        with self._lock:
            return self._tables.get(name)

    def cached_response(self, request_id: str) -> bytes | bool | None:
        """A remembered response from memory; ``False`` when only the database can tell."""
        with self._lock:
            self._prune_responses()
            if request_id in self._responses:
                return self._responses[request_id][1]
            return None if request_id not in self._stored_request_ids else False

    def bundle(self, name: str) -> ArrayBundle:
        """A table as the numpy bundle a UDF takes, converted once and kept."""
        stored = self.get(name)
        if stored.bundle is None:
            stored.bundle = _read_only(arrow_to_bundle(stored.arrow))
        return stored.bundle

    def experiment_tables(self, experiment_id: str | None = None) -> list[TableMeta]:
        """Experiment tables in memory or in the database (all, or one experiment's)."""
        with self._lock:
            is_in_memory_only = experiment_id is not None and experiment_id not in self._persisted_experiments
        persisted = {} if is_in_memory_only else {m.name: m for m in self._db.experiment_tables(experiment_id)}
        with self._lock:
            for name, stored in self._tables.items():
                if experiment_id is None or stored.meta.experiment_id == experiment_id:
                    persisted[name] = stored.meta
            for name in self._dropped_pending:
                persisted.pop(name, None)
        return sorted(persisted.values(), key=lambda m: m.name)

    # --- writes ---------------------------------------------------------------------------

    def put(
        self, meta: TableMeta, table: pa.Table, bundle: ArrayBundle | None = None, *, is_durable: bool = True
    ) -> TableMeta:
        """Add a table; it is readable at once and, if durable, written to disk when memory runs short or at stop.

        Data views are not durable: they are derived from primary data again by the next
        experiment, and writing millions of selected rows would only compete with the UDFs.
        """
        quote_table(meta.name)
        if meta.privacy is Privacy.PRIMARY:
            raise InvalidRequestError("primary data is loaded through data models, not stored as a table")
        meta = replace(meta, row_count=table.num_rows)
        with self._lock:
            self._prune_responses()
            started, ended = CALL_STARTED.get(), self._ended.get(meta.experiment_id)
            if started is not None and ended is not None and started <= ended:
                raise FailedPreconditionError(
                    f"experiment {meta.experiment_id} has ended on this node (its tables were deleted while "
                    "this call ran); the call's output is dropped"
                )
            if meta.name in self._tables:
                raise AlreadyExistsError(f"table {meta.name!r} already exists")
            self._dropped_pending.discard(meta.name)
            stored = StoredTable(meta, table, None if bundle is None else _read_only(bundle), is_durable=is_durable)
            self._tables[meta.name] = stored
            self._memory_bytes += stored.nbytes
            self._evict()
        return meta

    def now(self) -> float:
        """The store's clock, for ``CALL_STARTED``."""
        return self._clock()

    def end_experiment(self, experiment_id: str) -> None:
        """Mark an experiment's tables deleted: calls for it that started before are refused tables.

        A call the controller gave up on (the client left, a deadline passed) may still be
        running here; without this its output would appear after the cleanup and stay. A
        call that starts later (the same id used again) is not affected.
        """
        with self._lock:
            self._ended[experiment_id] = self._clock()
            self._ended.move_to_end(experiment_id)

    def drop(self, names: list[str]) -> int:
        """Drop tables; returns how many existed."""
        dropped = 0
        for name in names:
            quote_table(name)
            with self._lock:
                in_memory = self._forget(name)
            if in_memory is not None and not in_memory.is_persisted:
                dropped += 1  # never written, or being written: the writer drops it after
                continue
            if in_memory is None:
                try:
                    meta = self._db.table_meta(name)
                except NotFoundError:
                    continue
                if meta.privacy is Privacy.PRIMARY:
                    raise InvalidRequestError(f"table {name!r} holds primary data and cannot be deleted")
            with self._lock:
                self._dropped_pending.add(name)
                self._enqueue("drop", name)
            dropped += 1
        return dropped

    def remembered_response(self, request_id: str) -> bytes | None:
        """The stored response of a request already done (memory, then database)."""
        with self._lock:
            self._prune_responses()
            if request_id in self._responses:
                return self._responses[request_id][1]
            if request_id not in self._stored_request_ids:
                return None
        return self._db.remembered_response(request_id)

    def remember_response(self, request_id: str, response: bytes) -> None:
        """Remember a response under its request id, for ``memo_s`` at most; written to disk at stop."""
        with self._lock:
            self._responses[request_id] = (self._clock(), response)
            self._responses.move_to_end(request_id)
            self._prune_responses()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every write so far is in the database; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self, timeout_s: float | None = None) -> bool:
        """Write every durable table, then the live remembered responses, still only in memory; then stop.

        Tables come first: they must survive a restart. Responses only spare a retry the
        work, so past ``timeout_s`` the rest of them are left out. False when some were.
        """
        with self._lock:
            for name, stored in self._tables.items():
                if stored.is_durable and not stored.is_persisted:
                    self._enqueue("create", name)
            self._prune_responses()
            for request_id in self._responses:
                if request_id not in self._stored_request_ids:
                    self._enqueue("response", request_id)
        is_done = self.flush(timeout_s)
        if not is_done:
            log.warning("stop time ran out: the remembered responses not yet written are left out")
            with self._lock:
                self._is_dropping_responses = True
        self._writes.put(None)
        self._writer.join()
        return is_done

    # --- the writer -----------------------------------------------------------------------

    def _prune_responses(self) -> None:
        """Forget responses older than ``memo_s`` or beyond ``memo_entries``, oldest first (caller holds the lock)."""
        oldest_kept = self._clock() - self._memo_s
        while self._responses:
            request_id, (at, _) = next(iter(self._responses.items()))
            if at >= oldest_kept and len(self._responses) <= self._memo_entries:
                break
            del self._responses[request_id]
        while self._ended and (next(iter(self._ended.values())) < oldest_kept or len(self._ended) > self._memo_entries):
            self._ended.popitem(last=False)
        while self._stored_request_ids:
            request_id, at = next(iter(self._stored_request_ids.items()))
            if at >= oldest_kept and len(self._stored_request_ids) <= self._memo_entries:
                break
            del self._stored_request_ids[request_id]
            self._enqueue("forget", request_id)

    def _enqueue(self, kind: str, key: str) -> None:
        self._pending += 1
        self._writes.put((kind, key))

    def _write_loop(self) -> None:
        """Write what is queued in batches: one transaction for many small tables."""
        while (first := self._writes.get()) is not None:
            batch = [first]
            while len(batch) < _BATCH_OPS:
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._writes.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception:  # a failed batch must not stop later ones; the log says which
                log.exception("table store write failed", extra={"fields": {"ops": len(batch)}})
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _write(self, batch: list[tuple[str, object]]) -> None:
        creates: list[StoredTable] = []
        drops: list[str] = []
        responses: list[tuple[str, bytes]] = []
        forgets: list[str] = []
        with self._lock:
            for kind, key in batch:
                name = str(key)
                if kind == "create" and (stored := self._tables.get(name)) is not None:
                    creates.append(stored)  # a table dropped before it was written is skipped
                    self._persisted_experiments.add(stored.meta.experiment_id)  # before it can leave memory
                elif kind == "drop":
                    drops.append(name)
                elif kind == "forget":
                    forgets.append(name)
                elif kind == "response" and not self._is_dropping_responses and name in self._responses:
                    responses.append((name, self._responses[name][1]))
        if forgets:
            self._db.forget_responses(forgets)
        self._db.write_batch([(t.meta, t.arrow) for t in creates], drops, responses)
        dropped_meanwhile = []
        with self._lock:
            for stored in creates:
                stored.is_persisted = True
                if self._tables.get(stored.meta.name) is not stored:
                    dropped_meanwhile.append(stored.meta.name)
                elif stored.is_spilling and self._memory_bytes > self._cache_bytes:
                    self._forget(stored.meta.name)
            for name in drops:
                if name not in self._tables:
                    self._dropped_pending.discard(name)
            now = self._clock()
            self._stored_request_ids.update((r, now) for r, _ in responses)
        if dropped_meanwhile:
            self._db.write_batch([], dropped_meanwhile, [])

    def _evict(self) -> None:
        """Over budget: forget tables already on disk, and send the oldest others to disk (caller holds the lock)."""
        if self._memory_bytes <= self._cache_bytes:
            return
        excess = self._memory_bytes - self._cache_bytes
        for name in list(self._tables):
            if excess <= 0:
                return
            stored = self._tables[name]
            if stored.is_persisted:
                excess -= stored.nbytes
                self._forget(name)
            elif stored.is_spilling:
                excess -= stored.nbytes  # already on its way to disk
            elif stored.is_durable:
                stored.is_spilling = True
                excess -= stored.nbytes
                self._enqueue("create", name)

    def _forget(self, name: str) -> StoredTable | None:
        """Take a table out of memory, keeping the byte count right (caller holds the lock)."""
        stored = self._tables.pop(name, None)
        if stored is not None:
            self._memory_bytes -= stored.nbytes
        return stored


def _read_only(bundle: ArrayBundle) -> ArrayBundle:
    """Cached columns are shared by every later UDF call: no call may change them in place."""
    for name in bundle.names:
        bundle[name].setflags(write=False)
    return bundle
