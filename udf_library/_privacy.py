"""The row-leak rule for shareable outputs, shared by the node and the in-memory runtime."""

from __future__ import annotations

__all__ = ["shareable_output_problem"]


def shareable_output_problem(
    output_name: str, output_rows: int, private_input_rows: int | None, max_shareable_rows: int
) -> str | None:
    """Why a shareable output may not leave its node, or ``None`` when it may.

    An output computed from private (row-level) tables is refused when it has as many
    rows as its largest private input, or more than ``max_shareable_rows``: either way
    it could carry rows rather than aggregates.
    """
    if private_input_rows is None:
        return None
    if output_rows > max_shareable_rows:
        return (
            f"shareable output {output_name!r} has {output_rows} rows, more than the node's "
            f"cap of {max_shareable_rows} rows for data leaving it"
        )
    if private_input_rows > 0 and output_rows >= private_input_rows:
        return (
            f"shareable output {output_name!r} has {output_rows} rows, as many as its "
            f"private input ({private_input_rows}): it would carry row-level data"
        )
    return None
