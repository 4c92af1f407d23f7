"""The rules a shareable output must pass before it exists anywhere, shared by the node and the
in-memory runtime so that both enforce the very same thing."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from udf_library._bundle import ArrayBundle
from udf_library._policy import DisclosurePolicy
from udf_library._udf import Output

__all__ = ["SMALL_CELL_RULE", "shareable_output_problem", "small_cell_problem"]

SMALL_CELL_RULE = "cell rule (min_cell_rows)"


def shareable_output_problem(
    output: Output, bundle: ArrayBundle, private_input_rows: int | None, max_shareable_rows: int
) -> str | None:
    """Why a shareable output may not leave its node as rows, or ``None`` when it may.

    Only outputs computed from private (row-level) tables are checked. One is refused when
    it declares no cells (nobody said how many rows stand behind its values), when it has
    as many rows as its largest private input, or more than ``max_shareable_rows``.
    """
    if private_input_rows is None:
        return None
    if not output.rows:
        return (
            f"shareable output {output.name!r} does not declare its cells (the columns counting the rows "
            "behind its values), so it may not leave the node"
        )
    if bundle.num_rows > max_shareable_rows:
        return (
            f"shareable output {output.name!r} has {bundle.num_rows} rows, more than the node's "
            f"cap of {max_shareable_rows} rows for data leaving it"
        )
    if private_input_rows > 0 and bundle.num_rows >= private_input_rows:
        return f"shareable output {output.name!r} has as many rows as its private input: it would carry row-level data"
    return None


def small_cell_problem(output: Output, bundle: ArrayBundle, policy: DisclosurePolicy) -> str | None:
    """Why a shareable output over private rows breaks the cell rule, or ``None``.

    Every value of a declared cell column must be 0, missing (suppressed by the UDF) or at
    least ``min_cell_rows``. The message names the rule, the output and, through the
    declared label, which cell; never the count.
    """
    if output.is_whole_view:
        return None
    columns = [c for c in bundle.names if any(fnmatchcase(c, pattern) for pattern in output.rows)]
    if not columns:
        return f"shareable output {output.name!r} has none of its declared cell columns {list(output.rows)}"
    for column in columns:
        counts = np.asarray(bundle[column], dtype=np.float64)
        small = (counts > 0) & (counts < policy.min_cell_rows)
        if small.any():
            return _refusal(output, bundle, int(np.argmax(small)))
    return None


def _refusal(output: Output, bundle: ArrayBundle, row: int) -> str:
    where = ""
    if output.label and output.label in bundle.names:
        where = f" ({output.label} {_plain(bundle[output.label][row])!r})"
    hint = f"; {output.hint}" if output.hint else ""
    return (
        f"{SMALL_CELL_RULE}: output {output.name!r} has a cell{where} with fewer rows than this node's "
        f"minimum per cell{hint}"
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
