"""Runs one UDF of the installed library on node tables, behind the privacy wall."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mip_common.arrow_chunks import bundle_to_arrow
from mip_common.errors import (
    DataRejectedError,
    DeadlineError,
    FailedPreconditionError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PrivacyError,
    SmallCellError,
    TooFewRowsError,
)
from mip_common.masking import MaskingKey, mask_words
from mip_common.naming import check_experiment_id, new_table_name
from mip_node.audit import AuditLog
from mip_node.config import NodeConfig
from mip_node.db import Privacy, TableMeta
from mip_node.sandbox import run_in_child
from mip_node.table_store import TableStore
from udf_library import (
    ArrayBundle,
    Output,
    SecureSumError,
    UdfInputError,
    UdfSpec,
    coerce_literal,
    encode_fixed,
    shareable_output_problem,
    small_cell_problem,
    value_matrix,
    words_bundle,
)

__all__ = ["SecureRound", "UdfExecutor", "UdfRun"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UdfRun:
    """What one UDF run stored: its outputs in declaration order, and compute time."""

    outputs: list[tuple[str, TableMeta]]
    compute_s: float


@dataclass(frozen=True, slots=True)
class SecureRound:
    """The secure-aggregation round of a local UDF call: who takes part, by public masking key."""

    round_id: str
    public_keys: Mapping[str, bytes]
    key: MaskingKey | None
    """This node's key for the experiment (None: CreateMaskingKey was never called)."""


class UdfExecutor:
    """Checks arguments, loads input tables, runs the UDF, and stores outputs with their privacy."""

    def __init__(self, store: TableStore, config: NodeConfig, udfs: Mapping[str, UdfSpec], audit: AuditLog) -> None:
        self._store = store
        self._config = config
        self._udfs = udfs
        self._audit = audit
        self._policy = config.disclosure_policy

    def spec(self, udf_name: str) -> UdfSpec:
        """The UDF named ``udf_name``; ``NotFoundError`` listing near names when unknown."""
        spec = self._udfs.get(udf_name)
        if spec is None:
            prefix = udf_name.split(".", 1)[0]
            near = sorted(n for n in self._udfs if n.startswith(prefix + "."))[:10]
            hint = f"; UDFs of {prefix!r}: {near}" if near else "; see ListUDFs"
            raise NotFoundError(f"no UDF named {udf_name[:100]!r} on this node{hint}")
        return spec

    def run(
        self,
        experiment_id: str,
        udf_name: str,
        table_arguments: Mapping[str, str],
        literal_arguments: Mapping[str, Any],
        secure: SecureRound | None = None,
        *,
        is_inline: bool = False,
    ) -> UdfRun:
        """Run a UDF and store its outputs; blocking, so call it from a worker thread.

        With ``secure``, outputs declared ``merge="secure_sum"`` are checked in the clear,
        then stored (and so shared) only as masked fixed-point words. ``is_inline`` runs the
        UDF on the calling thread with no ``udf_timeout_s`` thread around it: only for calls
        known to be short (the servicer's small library calls).
        """
        spec = self.spec(udf_name)
        check_experiment_id(experiment_id)
        self._check_argument_names(spec, table_arguments, literal_arguments)
        kwargs: dict[str, Any] = {}
        private_rows: list[int] = []
        for item in spec.inputs:
            if item.is_table and item.name in table_arguments:
                bundle, rows = self._load_input(spec, table_arguments[item.name])
                kwargs[item.name] = bundle
                if rows is not None:
                    private_rows.append(rows)
            elif not item.is_table and item.name in literal_arguments:
                try:
                    kwargs[item.name] = coerce_literal(item.type, literal_arguments[item.name])
                except TypeError as exc:
                    raise InvalidRequestError(f"{spec.name}: argument {item.name!r}: {exc}") from exc
        if spec.policy_input is not None:
            kwargs[spec.policy_input] = self._policy
        started = time.perf_counter()
        results = self._call(spec, kwargs, is_inline=is_inline)
        compute_s = time.perf_counter() - started
        lineage_rows = max(private_rows) if private_rows else None
        self._check_shareable(experiment_id, spec, results, lineage_rows)
        outputs = []
        for output, bundle in zip(spec.outputs, results, strict=True):
            if secure is not None and output.is_secure_sum:
                bundle = self._masked(experiment_id, spec, output, bundle, secure)
            meta = TableMeta(
                name=new_table_name(experiment_id, output.name),
                privacy=Privacy.SHAREABLE if output.shared else Privacy.PRIVATE,
                experiment_id=experiment_id,
                private_rows=None if output.shared else lineage_rows,
            )
            stored = self._store.put(meta, bundle_to_arrow(bundle), bundle)
            outputs.append((output.name, stored))
        return UdfRun(outputs, compute_s)

    def _check_shareable(
        self, experiment_id: str, spec: UdfSpec, results: tuple[ArrayBundle, ...], lineage_rows: int | None
    ) -> None:
        """Refuse, before anything is stored, a shared output that could expose rows or small cells."""
        if lineage_rows is None:
            return
        for output, bundle in zip(spec.outputs, results, strict=True):
            if not output.shared:
                continue
            leak = shareable_output_problem(output, bundle, lineage_rows, self._config.max_shareable_rows)
            cell = None if leak else small_cell_problem(output, bundle, self._policy)
            if leak or cell:
                rule = "row rule" if leak else "cell rule"
                self._audit.record(
                    "udf_output_refused", experiment_id=experiment_id, udf=spec.name, output=output.name, rule=rule
                )
                if leak:
                    raise PrivacyError(f"{spec.name}: {leak}")
                raise SmallCellError(f"{spec.name}: {cell}")

    def _masked(
        self, experiment_id: str, spec: UdfSpec, output: Output, bundle: ArrayBundle, secure: SecureRound
    ) -> ArrayBundle:
        """The output's value columns as masked fixed-point words (int64), its key columns as they are."""
        if secure.key is None:
            raise FailedPreconditionError(
                f"{spec.name}: secure aggregation needs this node's masking key of experiment "
                f"{experiment_id!r}; call CreateMaskingKey first"
            )
        own = secure.public_keys.get(self._config.node_id)
        if own != secure.key.public_bytes:
            raise InvalidRequestError(
                f"{spec.name}: the round's public keys must include this node ({self._config.node_id!r}) "
                "with the key CreateMaskingKey returned"
            )
        try:
            names, values = value_matrix(bundle, output.keys)
            words = encode_fixed(values, len(secure.public_keys))
        except SecureSumError as exc:
            raise DataRejectedError(f"{spec.name}: output {output.name!r}: {exc}") from exc
        context = f"{experiment_id}/{secure.round_id}/{output.name}"
        masked = mask_words(words, secure.key, self._config.node_id, secure.public_keys, context)
        return words_bundle(bundle, output.keys, names, masked)

    def _check_argument_names(self, spec: UdfSpec, tables: Mapping[str, str], literals: Mapping[str, Any]) -> None:
        problems = []
        by_name = {i.name: i for i in spec.inputs}
        for name in tables:
            if name not in by_name:
                problems.append(f"unknown argument {name[:64]!r}")
            elif not by_name[name].is_table:
                problems.append(f"argument {name!r} takes a literal ({by_name[name].type}), not a table")
        for name in literals:
            if name not in by_name:
                problems.append(f"unknown argument {name[:64]!r}")
            elif by_name[name].is_table:
                problems.append(f"argument {name!r} takes a table name, not a literal")
            elif by_name[name].is_set_by_node:
                problems.append(f"argument {name!r} is set by the node from its own privacy settings")
        for item in spec.inputs:
            if item.is_set_by_node:
                continue
            if not item.is_optional and item.name not in tables and item.name not in literals:
                problems.append(f"missing argument {item.name!r} ({item.type})")
        if problems:
            raise InvalidRequestError(f"{spec.signature_text()}: " + "; ".join(problems))

    def _load_input(self, spec: UdfSpec, table_name: str) -> tuple[ArrayBundle, int | None]:
        meta = self._store.get(table_name).meta
        if meta.privacy is Privacy.PRIMARY:
            raise PrivacyError(
                f"{spec.name}: table {table_name!r} is primary data; UDFs read it only through a data view"
            )
        if meta.private_rows is not None and meta.private_rows < self._config.min_rows:
            raise TooFewRowsError(
                f"{spec.name}: input {table_name!r} has fewer rows than this node's minimum of {self._config.min_rows}"
            )
        return self._store.bundle(table_name), meta.private_rows

    def _call(self, spec: UdfSpec, kwargs: dict[str, Any], *, is_inline: bool) -> tuple[ArrayBundle, ...]:
        if self._config.udf_isolation == "process" and not is_inline:
            result = run_in_child(
                spec.name,
                spec.func,
                kwargs,
                timeout_s=self._config.udf_timeout_s,
                memory_bytes=self._config.udf_memory_bytes,
            )
        else:
            result = self._call_in_thread(spec, kwargs, is_inline=is_inline)
        results = (result,) if len(spec.outputs) == 1 else tuple(result)
        if len(results) != len(spec.outputs) or not all(isinstance(r, ArrayBundle) for r in results):
            raise InternalError(
                f"UDF {spec.name} must return {len(spec.outputs)} ArrayBundle(s) "
                f"({', '.join(o.name for o in spec.outputs)})"
            )
        return results

    def _call_with_timeout(self, spec: UdfSpec, kwargs: dict[str, Any]) -> Any:
        """Run the UDF on a thread of its own and stop waiting after ``udf_timeout_s``.

        A thread cannot be killed: one that runs past the limit is abandoned (it keeps its
        CPU and memory until it ends, and its result is dropped), but the worker that waited
        for it is free again, so a runaway UDF cannot take the node's capacity away.
        """
        outcome: list[Any] = []
        failure: list[BaseException] = []
        context = contextvars.copy_context()

        def target() -> None:
            try:
                outcome.append(context.run(spec.func, **kwargs))
            except BaseException as exc:  # handed to the waiting worker, which maps it
                failure.append(exc)

        thread = threading.Thread(target=target, name=f"mip-udf-{spec.name}", daemon=True)
        thread.start()
        thread.join(self._config.udf_timeout_s)
        if thread.is_alive():
            log.warning(
                "UDF ran past udf_timeout_s; its thread is abandoned",
                extra={"fields": {"udf": spec.name, "timeout_s": self._config.udf_timeout_s}},
            )
            raise DeadlineError(
                f"UDF {spec.name} ran past the node's limit of {self._config.udf_timeout_s:g} s (udf_timeout_s) "
                "and was abandoned"
            )
        if failure:
            raise failure[0]
        return outcome[0]

    def _call_in_thread(self, spec: UdfSpec, kwargs: dict[str, Any], *, is_inline: bool) -> Any:
        try:
            if self._config.udf_timeout_s > 0 and not is_inline:
                return self._call_with_timeout(spec, kwargs)
            return spec.func(**kwargs)
        except DeadlineError:
            raise
        except UdfInputError as exc:
            raise DataRejectedError(f"{spec.name}: {exc}") from exc
        except Exception as exc:
            log.exception("UDF %s failed", spec.name)
            raise InternalError(f"UDF {spec.name} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
