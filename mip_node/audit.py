"""The node's audit log: an append-only JSON-lines record of what ran on its data and what left it.

One line per event, written to ``<data_dir>/audit.jsonl`` before the call that caused it
answers, so the hospital sees every UDF run, data view and table that left the node, across
restarts. Each line reaches the operating system at once (it survives a crash of the node)
and the disk within ``SYNC_INTERVAL_S`` (one fsync for all the lines of that interval: an
fsync per line would cost more than the federated round it records). The file is only
ever opened for appending.

Events (every line has ``time``, ``event``, ``experiment_id`` and ``caller``):

- ``data_view``: datasets selected, ``rows`` and ``dataset_rows`` used (CreateDataView)
- ``udf``: ``udf``, input tables with row counts, outputs with row counts and privacy
- ``table_sent``: a table that left the node (GetTableData): ``table``, ``rows``, ``bytes``
- ``table_refused``: private data that was asked to leave and was refused
- ``udf_output_refused``: a shared UDF output the privacy rules refused (``rule``: row or cell rule)
- ``selection_refused``: a data view refused by the selection rule or the minimum rows
- ``table_received``: a table stored from another node (CreateTable)
- ``tables_deleted``, ``data_loaded``, ``call_refused`` (a caller without the right identity)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mip_common.auth import CALLER
from mip_common.logs import EXPERIMENT_ID

__all__ = ["AUDIT_FILE", "AuditLog", "read_audit"]

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
SYNC_INTERVAL_S = 0.2


class AuditLog:
    """Appends one JSON object per event to ``path``; thread-safe, fsync'd in groups."""

    def __init__(self, path: Path, *, node_id: str = "", is_fsync: bool = True) -> None:
        self.path = path
        self._node_id = node_id
        self._is_fsync = is_fsync
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # only the node reads it
        self._file = os.fdopen(descriptor, "a", encoding="utf-8")
        self._sync_fd = os.dup(self._file.fileno())  # fsync never holds the writers' lock
        self._is_dirty = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="mip-audit-sync", daemon=True)
        self._syncer.start()

    def record(self, event: str, *, experiment_id: str | None = None, caller: str | None = None, **fields: Any) -> None:
        """Append one event; experiment id and caller default to the current call's."""
        entry: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "node_id": self._node_id,
            "experiment_id": EXPERIMENT_ID.get() if experiment_id is None else experiment_id,
            "caller": CALLER.get() if caller is None else caller,
        }
        entry.update(fields)
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            if self._file.closed:
                log.error("audit event after close", extra={"fields": {"audit_event": event}})
                return
            self._file.write(line)
            self._file.flush()
        if self._is_fsync:
            self._is_dirty.set()

    def _sync_loop(self) -> None:
        while True:
            self._is_dirty.wait()
            self._is_dirty.clear()
            if self._file.closed:
                os.close(self._sync_fd)
                return
            os.fsync(self._sync_fd)
            threading.Event().wait(SYNC_INTERVAL_S)

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
        self._is_dirty.set()  # lets the sync thread see the file is closed and end


def read_audit(path: Path, *, experiment_id: str | None = None) -> Iterator[dict[str, Any]]:
    """The events in ``path``, oldest first, optionally of one experiment; a torn last line is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash mid-write
            if experiment_id is None or entry.get("experiment_id") == experiment_id:
                yield entry
