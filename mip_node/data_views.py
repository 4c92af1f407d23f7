"""Data views: the rows of primary data an experiment may use, and the rules on choosing them.

A view is the one way row-level data enters an experiment, so the disclosure rules on
selections live here: a view has at least ``min_rows`` rows, and filters leave out none
or at least ``min_rows`` of the chosen datasets' rows. Blocking (it queries the database):
call it from the worker pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mip_common.errors import NotFoundError, SelectionRuleError, TooFewRowsError
from mip_common.filters import compile_selection
from mip_common.naming import new_table_name
from mip_node.audit import AuditLog
from mip_node.config import NodeConfig
from mip_node.data_models import DataModelSpec, data_catalogue
from mip_node.db import Database, DatasetRecord, Privacy, TableMeta
from mip_node.table_store import TableStore

__all__ = ["DataView", "DataViews", "ViewRequest"]

_DATASET = "dataset"


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """The rows an experiment asks for."""

    experiment_id: str
    data_model: str
    datasets: list[str]
    columns: list[str]
    filters: dict[str, Any] | None
    keep_missing: bool


@dataclass(frozen=True, slots=True)
class DataView:
    """A stored view with the row counts of its datasets that may be told (at least ``min_rows``)."""

    meta: TableMeta
    schema: pa.Schema
    dataset_rows: dict[str, int]


class DataViews:
    """Makes data views from the node's primary data, and keeps the catalogue they are checked against."""

    def __init__(self, config: NodeConfig, db: Database, store: TableStore, audit: AuditLog) -> None:
        self._config = config
        self._db = db
        self._store = store
        self._audit = audit
        self._cached_catalogue: tuple[list[DataModelSpec], list[DatasetRecord]] | None = None

    def catalogue(self) -> tuple[list[DataModelSpec], list[DatasetRecord]]:
        """The node's data models and datasets, read once and again after each load."""
        if self._cached_catalogue is None:
            self._cached_catalogue = data_catalogue(self._db)
        return self._cached_catalogue

    def last_datasets(self) -> list[DatasetRecord]:
        """The datasets last read, without the database (for a heartbeat while it is away)."""
        return self._cached_catalogue[1] if self._cached_catalogue else []

    def forget_catalogue(self) -> None:
        """Read the catalogue again on next use (data was loaded)."""
        self._cached_catalogue = None

    def create(self, request: ViewRequest) -> DataView:
        """Select the rows, check the selection rules and store the view as private data (not durable)."""
        spec = self._data_model(request.data_model)
        held = {d.code for d in self.catalogue()[1] if d.data_model == spec.key}
        datasets = [d for d in request.datasets if d in held]
        if not datasets:
            raise NotFoundError(f"this node holds none of the datasets {request.datasets[:20]}")
        sql, params = compile_selection(
            spec.table_name, spec.filter_variables(), datasets, request.columns, request.filters, request.keep_missing
        )
        rows = self._db.query(sql, params)
        if rows.num_rows < self._config.min_rows:
            self._audit.record("selection_refused", experiment_id=request.experiment_id, rule="min_rows")
            raise TooFewRowsError(f"the selection has fewer rows than this node's minimum of {self._config.min_rows}")
        if request.filters is not None:
            self._check_selection_difference(request.experiment_id, spec, datasets, request.filters)
        meta = TableMeta(
            new_table_name(request.experiment_id, "data"),
            Privacy.PRIVATE,
            request.experiment_id,
            private_rows=rows.num_rows,
        )
        stored = self._store.put(meta, rows, is_durable=False)
        counts = rows.column(_DATASET).value_counts().to_pylist()
        return DataView(
            stored,
            rows.schema,
            {c["values"]: c["counts"] for c in counts if c["counts"] >= self._config.min_rows},
        )

    def _check_selection_difference(
        self, experiment_id: str, spec: DataModelSpec, datasets: list[str], filters: dict[str, Any]
    ) -> None:
        """The selection rule: filters leave out of the named datasets no rows or at least ``min_rows``.

        Otherwise two requests that differ by a filter on one person (``NOT subject = X``) would
        give that person's values by subtraction.
        """
        variables = spec.filter_variables()
        everyone = self._count(compile_selection(spec.table_name, variables, datasets, [], None, True))
        chosen = self._count(compile_selection(spec.table_name, variables, datasets, [], filters, True))
        left_out = everyone - chosen
        if 0 < left_out < self._config.min_rows:
            self._audit.record("selection_refused", experiment_id=experiment_id, rule="selection_difference")
            raise SelectionRuleError(
                "selection rule (min_rows): the filters leave out of the chosen datasets some rows, but fewer than "
                "this node's minimum; a selection must leave out none or at least that many (widen or drop the "
                "filter, or choose datasets instead)"
            )

    def _count(self, selection: tuple[str, list[Any]]) -> int:
        sql, params = selection
        return int(self._db.query(f"SELECT count(*) AS n FROM ({sql}) AS chosen", params).column(0)[0].as_py())

    def _data_model(self, key: str) -> DataModelSpec:
        specs, _ = self.catalogue()
        for spec in specs:
            if spec.key == key:
                return spec
        raise NotFoundError(f"no data model {key!r} on this node; loaded: {sorted(s.key for s in specs)}")
