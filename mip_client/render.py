"""Results as readable text tables, for the ``mip`` command.

A flow's result is a JSON object of scalars, lists, matrices, records and nested objects.
``render_result`` turns it into text: scalars in one key/value table; lists of the same length
as the result's label list (``indep_vars``, ``variables``) side by side in one table; matrices
with column names when the width matches a label list; lists of records as one table with a
column per field; objects of objects (an ANOVA table) with a row per inner key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table", "format_value", "render_result"]

_LABEL_KEYS = ("indep_vars", "variables", "labels", "classes")
_FIRST = (
    "dependent_var",
    "n_obs",
    "coefficients",
    "std_err",
    "stderr",
    "t_stats",
    "z_scores",
    "pvalues",
    "lower_ci",
    "sum_sq",
    "df",
    "f_stat",
    "f_pvalue",
)
"""Keys shown first, in this order; results arrive as protobuf Structs, whose keys have no order."""


def format_value(value: Any) -> str:
    """One cell: floats with 6 significant digits, whole numbers without a decimal point."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, a rule under the header."""
    cells = [[str(h) for h in header], *[[format_value(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_result(result: Mapping[str, Any], *, row_labels: Sequence[str] | None = None) -> str:
    """A flow result as text tables, one block per group of values.

    ``row_labels`` name the rows of same-length lists when the result carries no label list
    (a logistic regression's coefficients, named by the caller as Intercept and the x variables).
    """
    blocks: list[str] = []
    result = dict(sorted(result.items(), key=lambda item: _FIRST.index(item[0]) if item[0] in _FIRST else len(_FIRST)))
    labels = _labels(result)
    if labels is None:
        lengths = [len(v) for v in result.values() if _is_flat(v) and len(v) > 1]
        common = max(set(lengths), key=lengths.count) if lengths else 0
        if lengths.count(common) > 1:
            names = list(row_labels) if row_labels and len(row_labels) == common else [str(i) for i in range(common)]
            labels = ("" if row_labels else "index", names)
    scalars = [(k, v[0] if isinstance(v, list) else v) for k, v in result.items() if _is_scalar(v) or _is_single(v)]
    used = {k for k, _ in scalars}
    if scalars:
        blocks.append(format_table(["name", "value"], [[k, v] for k, v in scalars]))
    by_term = [k for k, v in result.items() if isinstance(v, dict) and v and all(_is_scalar(x) for x in v.values())]
    if len(by_term) > 1:
        terms = sorted(dict.fromkeys(t for k in by_term for t in result[k]), key=lambda t: _term_order(t, row_labels))
        blocks.append(format_table(["", *by_term], [[t, *(result[k].get(t) for k in by_term)] for t in terms]))
        used |= set(by_term)
    if labels is not None:
        label_key, names = labels
        columns = [
            k for k, v in result.items() if k not in used and _is_flat(v) and len(v) == len(names) and k != label_key
        ]
        if columns:
            blocks.append(
                format_table(
                    [label_key, *columns], [[name, *(result[c][i] for c in columns)] for i, name in enumerate(names)]
                )
            )
            used |= {label_key, *columns}
        if any(_is_matrix(v) and len(v[0]) == len(names) for v in result.values()):
            used.add(label_key)
    for key, value in result.items():
        if key in used:
            continue
        blocks.append(f"{key}:\n" + _render_value(value, labels[1] if labels else None))
    return "\n\n".join(blocks)


def _term_order(term: str, variables: Sequence[str] | None) -> tuple[bool, int, list[int], str]:
    """Model order of an ANOVA-like term: main effects (in the caller's variable order), then
    interactions, residuals last. A result's keys cannot give it: they came through a Struct."""
    names = list(variables or ())
    parts = term.split(":")
    positions = [names.index(p) if p in names else len(names) for p in parts]
    return term == "Residuals", len(parts), positions, term


def _render_value(value: Any, names: Sequence[str] | None) -> str:
    if _is_matrix(value):
        width = len(value[0])
        header = list(names) if names is not None and len(names) == width else [f"[{i}]" for i in range(width)]
        return format_table(["row", *header], [[i, *row] for i, row in enumerate(value)])
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        flat = [_flatten(v) for v in value]
        header = list(dict.fromkeys(k for row in flat for k in row))
        return format_table(header, [[row.get(h) for h in header] for row in flat])
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        inner = list(dict.fromkeys(k for v in value.values() for k in v))
        if all(_is_scalar(x) for v in value.values() for x in v.values()):
            return format_table(["", *value], [[k, *(value[c].get(k) for c in value)] for k in inner])
        return "\n".join(f"{k}:\n{_indent(_render_value(v, names))}" for k, v in value.items())
    if isinstance(value, dict) and value:
        if all(_is_scalar(v) for v in value.values()):
            return format_table(["", "value"], list(value.items()))
        return render_result(value)
    if _is_flat(value) and len(value) > 8:
        return format_table(["index", "value"], list(enumerate(value)))
    return format_value(value)


def _labels(result: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    for key in _LABEL_KEYS:
        value = result.get(key)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return key, value
    return None


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_single(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1 and _is_scalar(value[0])


def _is_flat(value: Any) -> bool:
    return isinstance(value, list) and all(_is_scalar(v) for v in value)


def _is_matrix(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(row, list) and _is_flat(row) for row in value)
        and len({len(row) for row in value}) == 1
    )
