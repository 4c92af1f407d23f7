"""ArrayBundle: named 1-D columns of one length, normalized to the mip types."""

from __future__ import annotations

import numpy as np
import pytest

from udf_library import ArrayBundle, kind_of


def test_columns_are_normalized_to_mip_dtypes() -> None:
    # Arrange / Act
    bundle = ArrayBundle({"i": np.array([1, 2], dtype=np.int32), "f": [1.5, 2.0], "t": np.array(["x", "y"])})
    # Assert
    assert bundle["i"].dtype == np.int64
    assert bundle["f"].dtype == np.float64
    assert bundle["t"].dtype == object
    assert [kind_of(bundle[n]) for n in bundle] == ["int", "real", "text"]


def test_columns_of_different_lengths_are_rejected() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="has 1 rows"):
        ArrayBundle({"a": [1, 2], "b": [1]})


def test_two_dimensional_columns_are_rejected() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="must be 1-D"):
        ArrayBundle({"a": np.zeros((2, 2))})


def test_unsupported_dtypes_are_rejected() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="unsupported dtype"):
        ArrayBundle({"a": np.array([1 + 2j])})


def test_an_empty_bundle_has_no_rows() -> None:
    # Arrange / Act
    bundle = ArrayBundle()
    # Assert
    assert bundle.num_rows == 0
    assert bundle.names == []


def test_missing_column_error_names_the_columns() -> None:
    # Arrange
    bundle = ArrayBundle({"a": [1]})
    # Act / Assert
    with pytest.raises(KeyError, match=r"no column 'b'; columns are \['a'\]"):
        bundle["b"]


def test_select_and_take_pick_columns_and_rows() -> None:
    # Arrange
    bundle = ArrayBundle({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0], "c": ["x", "y", "z"]})
    # Act
    picked = bundle.select(["c", "a"]).take(np.array([True, False, True]))
    # Assert
    assert picked.names == ["c", "a"]
    assert picked["a"].tolist() == [1, 3]
    assert picked["c"].tolist() == ["x", "z"]


def test_matrix_stacks_columns_as_float64() -> None:
    # Arrange
    bundle = ArrayBundle({"a": [1, 2], "b": [0.5, 1.5]})
    # Act
    matrix = bundle.matrix(["b", "a"])
    # Assert
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[0.5, 1.0], [1.5, 2.0]])


def test_matrix_of_no_columns_keeps_the_row_count() -> None:
    # Arrange
    bundle = ArrayBundle({"a": [1, 2, 3]})
    # Act / Assert
    assert bundle.matrix([]).shape == (3, 0)
