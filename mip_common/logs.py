"""Structured logs: one line per event, JSON when asked, always with experiment and node ids."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

__all__ = ["EXPERIMENT_ID", "NODE_ID", "configure_logging"]

EXPERIMENT_ID: ContextVar[str] = ContextVar("experiment_id", default="")
"""The experiment a piece of work belongs to; set per request, read by the formatter."""

NODE_ID: ContextVar[str] = ContextVar("node_id", default="")
"""This process's node id (or "controller")."""


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.experiment_id = EXPERIMENT_ID.get()
        record.node_id = NODE_ID.get()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "node_id": getattr(record, "node_id", ""),
            "experiment_id": getattr(record, "experiment_id", ""),
        }
        event.update(getattr(record, "fields", {}))
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = (
            f"{self.formatTime(record)} {record.levelname:<7} [{getattr(record, 'node_id', '')}"
            f"|{getattr(record, 'experiment_id', '') or '-'}] {record.name}: "
            f"{record.getMessage()} {fields}"
        ).rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(node_id: str, *, level: str = "INFO", is_json: bool = False) -> None:
    """Send this process's logs to stderr, one line per event."""
    NODE_ID.set(node_id)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(_JsonFormatter() if is_json else _TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("grpc").setLevel(logging.WARNING)
