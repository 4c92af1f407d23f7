"""ArrayBundle: the one table type a UDF sees, named numpy columns of equal length."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayBundle"]

_ALLOWED_KINDS = {"i": "int", "u": "int", "f": "real", "b": "bool", "O": "text", "U": "text"}


class ArrayBundle(Mapping[str, npt.NDArray[Any]]):
    """Named 1-D numpy columns of one length: a table without SQL or Arrow.

    Columns are int64, float64, bool or object arrays of ``str`` (``None`` for a
    missing text value). Missing numbers arrive as NaN in float64 columns, which is
    why an integer column that holds a null is handed to a UDF as float64.
    """

    __slots__ = ("_columns", "_num_rows")

    def __init__(self, columns: Mapping[str, Any] | None = None) -> None:
        normalized: dict[str, npt.NDArray[Any]] = {}
        num_rows: int | None = None
        for name, values in (columns or {}).items():
            array = _normalize(name, values)
            if num_rows is None:
                num_rows = len(array)
            elif len(array) != num_rows:
                raise ValueError(f"column {name!r} has {len(array)} rows but earlier columns have {num_rows}")
            normalized[name] = array
        self._columns = normalized
        self._num_rows = num_rows or 0

    @property
    def num_rows(self) -> int:
        """How many rows every column holds."""
        return self._num_rows

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return list(self._columns)

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {self.names}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        kinds = {name: kind_of(col) for name, col in self._columns.items()}
        return f"ArrayBundle(rows={self._num_rows}, columns={kinds})"

    def select(self, names: list[str]) -> ArrayBundle:
        """A bundle with only ``names``, in that order."""
        return ArrayBundle({name: self[name] for name in names})

    def take(self, mask_or_index: npt.NDArray[Any]) -> ArrayBundle:
        """A bundle of the rows picked by a boolean mask or an index array."""
        return ArrayBundle({name: col[mask_or_index] for name, col in self._columns.items()})

    def matrix(self, names: list[str] | None = None) -> npt.NDArray[np.float64]:
        """The numeric columns ``names`` (default: all) as a float64 matrix, rows by columns."""
        chosen = self.names if names is None else names
        if not chosen:
            return np.empty((self._num_rows, 0), dtype=np.float64)
        return np.column_stack([self[name].astype(np.float64) for name in chosen])


def kind_of(column: npt.NDArray[Any]) -> str:
    """The mip type of a column: int, real, bool or text."""
    return _ALLOWED_KINDS[column.dtype.kind]


def _normalize(name: str, values: Any) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {array.shape}")
    kind = array.dtype.kind
    if kind not in _ALLOWED_KINDS:
        raise ValueError(f"column {name!r} has unsupported dtype {array.dtype}")
    if kind in "iu":
        return array.astype(np.int64, copy=False)
    if kind == "f":
        return array.astype(np.float64, copy=False)
    if kind == "U":
        return array.astype(object)
    return array
