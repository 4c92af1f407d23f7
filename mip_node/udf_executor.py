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
    CellRuleError,
    CheckedOutput,
    Output,
    OutputRefusedError,
    SecureSumError,
    TableArgument,
    TooFewInputRowsError,
    UdfArgumentError,
    UdfInputError,
    UdfReturnError,
    UdfSpec,
    check_argument_names,
    check_outputs,
    encode_fixed,
    prepare_call,
    returned_tables,
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
        try:
            check_argument_names(spec, table_arguments, literal_arguments)
            tables = {name: self._load_input(spec, table_name) for name, table_name in table_arguments.items()}
            call = prepare_call(spec, tables, literal_arguments, self._policy)
        except UdfArgumentError as exc:
            raise InvalidRequestError(str(exc)) from exc
        except TooFewInputRowsError as exc:
            raise TooFewRowsError(str(exc)) from exc
        started = time.perf_counter()
        results = self._call(spec, call.kwargs, is_inline=is_inline)
        compute_s = time.perf_counter() - started
        checked = self._check_outputs(experiment_id, spec, results, call.lineage_rows)
        outputs = []
        for item in checked:
            bundle = item.bundle
            if secure is not None and item.output.is_secure_sum:
                bundle = self._masked(experiment_id, spec, item.output, bundle, secure)
            meta = TableMeta(
                name=new_table_name(experiment_id, item.output.name),
                privacy=Privacy.SHAREABLE if item.output.shared else Privacy.PRIVATE,
                experiment_id=experiment_id,
                private_rows=item.private_rows,
            )
            stored = self._store.put(meta, bundle_to_arrow(bundle), bundle)
            outputs.append((item.output.name, stored))
        return UdfRun(outputs, compute_s)

    def _check_outputs(
        self, experiment_id: str, spec: UdfSpec, results: tuple[ArrayBundle, ...], lineage_rows: int | None
    ) -> list[CheckedOutput]:
        """The call contract's output rules, with a refusal audited before it is answered."""
        try:
            return check_outputs(spec, results, lineage_rows, self._policy, self._config.max_shareable_rows)
        except OutputRefusedError as exc:
            self._audit.record(
                "udf_output_refused", experiment_id=experiment_id, udf=spec.name, output=exc.output, rule=exc.rule
            )
            if isinstance(exc, CellRuleError):
                raise SmallCellError(str(exc)) from exc
            raise PrivacyError(str(exc)) from exc

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

    def _load_input(self, spec: UdfSpec, table_name: str) -> TableArgument:
        meta = self._store.get(table_name).meta
        if meta.privacy is Privacy.PRIMARY:
            raise PrivacyError(
                f"{spec.name}: table {table_name!r} is primary data; UDFs read it only through a data view"
            )
        return TableArgument(self._store.bundle(table_name), table_name, meta.private_rows)

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
        try:
            return returned_tables(spec, result)
        except UdfReturnError as exc:
            raise InternalError(str(exc)) from exc

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
