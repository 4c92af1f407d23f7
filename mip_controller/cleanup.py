"""A journal on disk of experiment tables still to delete, so no node keeps them forever.

An experiment is written down before it touches any node and crossed off node by node
as its tables are deleted. A node that is down when an experiment ends, or a controller
that dies in the middle of one, leaves entries behind; they are retried whenever the
node answers again, including after the controller restarts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from mip_common.errors import MipError
from mip_common.settings import ConfigError
from mip_controller.node_client import NodeClient

__all__ = ["CleanupJournal"]

log = logging.getLogger(__name__)

_DELETE_TIMEOUT_S = 10.0


class CleanupJournal:
    """Pending (node, experiment) cleanups, kept in one JSON file rewritten atomically."""

    def __init__(self, path: Path) -> None:
        _check_writable(path.parent)
        self._path = path
        self._lock = threading.Lock()
        self._pending: dict[str, set[str]] = {}
        if path.exists():
            raw = json.loads(path.read_text() or "{}")
            self._pending = {node: set(experiments) for node, experiments in raw.items()}

    def pending(self, node_id: str) -> list[str]:
        """Experiments whose tables may remain on ``node_id``."""
        with self._lock:
            return sorted(self._pending.get(node_id, ()))

    def begin(self, experiment_id: str, node_ids: Iterable[str]) -> None:
        """Record that an experiment may create tables on these nodes."""
        with self._lock:
            for node_id in node_ids:
                self._pending.setdefault(node_id, set()).add(experiment_id)
            self._save()

    def done(self, experiment_id: str, node_id: str) -> None:
        """Cross off one node of an experiment.

        The file is rewritten once the experiment's last node is crossed off: an entry
        left on disk by a crash in between only repeats a delete, which finds nothing.
        """
        with self._lock:
            experiments = self._pending.get(node_id, set())
            experiments.discard(experiment_id)
            if not experiments:
                self._pending.pop(node_id, None)
            if not any(experiment_id in pending for pending in self._pending.values()):
                self._save()

    async def clean(self, node: NodeClient, experiment_ids: Iterable[str]) -> bool:
        """Delete the tables of ``experiment_ids`` on ``node``; False if the node did not answer."""
        for experiment_id in experiment_ids:
            try:
                await node.delete_experiment_tables(time.monotonic() + _DELETE_TIMEOUT_S, experiment_id)
            except MipError as exc:
                log.warning(
                    "cleanup postponed",
                    extra={"fields": {"node": node.node_id, "experiment": experiment_id, "error": exc.message}},
                )
                return False
            self.done(experiment_id, node.node_id)
        return True

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps({n: sorted(e) for n, e in sorted(self._pending.items())}))
        os.replace(temporary, self._path)


def _check_writable(directory: Path) -> None:
    """Fail at start, not at the first experiment, when the journal cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"state_dir {directory} cannot be written ({exc.strerror}): the controller keeps its cleanup "
            "journal there; mount a writable volume there or set state_dir (MIP_CONTROLLER_STATE_DIR)"
        ) from None
