"""Table names that node and controller both make: ``x<experiment hash>_<random>_<hint>``."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets

from mip_common.errors import InvalidRequestError

__all__ = ["EXPERIMENT_ID_PATTERN", "check_experiment_id", "experiment_table_prefix", "new_table_name"]

EXPERIMENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def check_experiment_id(experiment_id: str) -> str:
    """``experiment_id`` if it is usable, else ``InvalidRequestError`` saying what is."""
    if not EXPERIMENT_ID_PATTERN.fullmatch(experiment_id):
        raise InvalidRequestError(f"experiment_id {experiment_id[:80]!r} must match {EXPERIMENT_ID_PATTERN.pattern}")
    return experiment_id


@functools.lru_cache(maxsize=1024)
def experiment_table_prefix(experiment_id: str) -> str:
    """How every table name of an experiment starts: no other table (primary data, metadata) can.

    Cached: every table an experiment makes asks for it, and the hash would cost more than the rest.
    """
    return "x" + hashlib.sha1(check_experiment_id(experiment_id).encode()).hexdigest()[:10] + "_"


def new_table_name(experiment_id: str, hint: str) -> str:
    """A fresh table name that matches ``[a-z][a-z0-9_]{0,62}`` and hides the experiment id."""
    clean = _hint(hint)
    return f"{experiment_table_prefix(experiment_id)}{secrets.token_hex(4)}_{clean}"


@functools.lru_cache(maxsize=1024)
def _hint(hint: str) -> str:
    """A name hint as table-name characters (hints are UDF output names, a few per UDF)."""
    return _NOT_NAME.sub("_", hint.lower())[:40] or "t"


_NOT_NAME = re.compile(r"[^a-z0-9_]")
