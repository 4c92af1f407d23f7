"""The UDF call contract: what a node and the in-memory runtime both check around a UDF call.

Only the part that needs no storage and no transport lives here, so that a flow that
passes in memory passes on real nodes for the same reasons: argument names, literals
(as they arrive over the wire), the node-set ``DisclosurePolicy``, the min-rows rule on
private inputs, the returned tables, and the rules on shareable outputs with the row
lineage of private ones. Each caller maps the errors below to its own error types.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from udf_library._bundle import ArrayBundle
from udf_library._literals import coerce_literal
from udf_library._policy import DisclosurePolicy
from udf_library._privacy import shareable_output_problem, small_cell_problem
from udf_library._udf import Output, UdfSpec

__all__ = [
    "CellRuleError",
    "CheckedOutput",
    "OutputRefusedError",
    "PreparedCall",
    "RowRuleError",
    "TableArgument",
    "TooFewInputRowsError",
    "UdfArgumentError",
    "UdfCallError",
    "UdfReturnError",
    "check_argument_names",
    "check_outputs",
    "prepare_call",
    "returned_tables",
]


class UdfCallError(Exception):
    """A UDF call the contract refuses; the message is the same wherever the UDF runs."""


class UdfArgumentError(UdfCallError):
    """The caller named or typed an argument wrongly (a node answers INVALID_ARGUMENT)."""


class TooFewInputRowsError(UdfCallError):
    """A private input has fewer rows than the node's ``min_rows``."""


class UdfReturnError(UdfCallError):
    """The UDF returned something other than its declared tables: a bug in the UDF."""


class OutputRefusedError(UdfCallError):
    """A shareable output over private rows breaks a disclosure rule; nothing may be stored."""

    rule = ""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class RowRuleError(OutputRefusedError):
    """The output could carry row-level data (or declares no cells)."""

    rule = "row rule"


class CellRuleError(OutputRefusedError):
    """The output has a cell under ``min_cell_rows``."""

    rule = "cell rule"


@dataclass(frozen=True, slots=True)
class TableArgument:
    """A table given to a UDF: its rows, its name (for messages) and its private-row lineage."""

    bundle: ArrayBundle
    name: str
    private_rows: int | None
    """Rows of the private data it derives from; None for a shareable table."""


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """The checked keyword arguments of a UDF, and the private rows its outputs derive from."""

    kwargs: dict[str, Any]
    lineage_rows: int | None


@dataclass(frozen=True, slots=True)
class CheckedOutput:
    """One output that passed the rules: stored shareable, or private with its row lineage."""

    output: Output
    bundle: ArrayBundle
    private_rows: int | None


def check_argument_names(spec: UdfSpec, tables: Collection[str], literals: Collection[str]) -> None:
    """Refuse unknown, missing or misplaced arguments, naming every problem at once.

    A node calls this before loading any table, so a bad call costs no reading.
    """
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
        raise UdfArgumentError(f"{spec.signature_text()}: " + "; ".join(problems))


def prepare_call(
    spec: UdfSpec,
    tables: Mapping[str, TableArgument],
    literals: Mapping[str, Any],
    policy: DisclosurePolicy,
) -> PreparedCall:
    """The keyword arguments of ``spec``'s function, checked.

    ``literals`` are plain JSON values as a node receives them (see ``wire_literal``);
    the policy parameter, if any, is filled from ``policy``, never by the caller.
    """
    check_argument_names(spec, tables, literals)
    kwargs: dict[str, Any] = {}
    private_rows: list[int] = []
    for item in spec.inputs:
        if item.is_table and item.name in tables:
            table = tables[item.name]
            if table.private_rows is not None:
                if table.private_rows < policy.min_rows:
                    raise TooFewInputRowsError(
                        f"{spec.name}: input {table.name!r} has fewer rows than this node's minimum of "
                        f"{policy.min_rows}"
                    )
                private_rows.append(table.private_rows)
            kwargs[item.name] = table.bundle
        elif not item.is_table and item.name in literals:
            try:
                kwargs[item.name] = coerce_literal(item.type, literals[item.name])
            except TypeError as exc:
                raise UdfArgumentError(f"{spec.name}: argument {item.name!r}: {exc}") from exc
    if spec.policy_input is not None:
        kwargs[spec.policy_input] = policy
    return PreparedCall(kwargs, max(private_rows) if private_rows else None)


def returned_tables(spec: UdfSpec, result: Any) -> tuple[ArrayBundle, ...]:
    """The UDF's result as its declared outputs, in declaration order."""
    results = (result,) if len(spec.outputs) == 1 else tuple(result)
    if len(results) != len(spec.outputs) or not all(isinstance(r, ArrayBundle) for r in results):
        raise UdfReturnError(
            f"UDF {spec.name} must return {len(spec.outputs)} ArrayBundle(s) "
            f"({', '.join(o.name for o in spec.outputs)})"
        )
    return results


def check_outputs(
    spec: UdfSpec,
    results: tuple[ArrayBundle, ...],
    lineage_rows: int | None,
    policy: DisclosurePolicy,
    max_shareable_rows: int,
) -> list[CheckedOutput]:
    """The outputs with their privacy lineage, once every shareable one passed the row and cell rules.

    Checked before anything is stored, so a refused output never exists anywhere.
    """
    if lineage_rows is not None:
        for output, bundle in zip(spec.outputs, results, strict=True):
            if not output.shared:
                continue
            leak = shareable_output_problem(output, bundle, lineage_rows, max_shareable_rows)
            if leak:
                raise RowRuleError(f"{spec.name}: {leak}", output.name)
            cell = small_cell_problem(output, bundle, policy)
            if cell:
                raise CellRuleError(f"{spec.name}: {cell}", output.name)
    return [
        CheckedOutput(output, bundle, None if output.shared else lineage_rows)
        for output, bundle in zip(spec.outputs, results, strict=True)
    ]
