"""Fixed-point words of secure sums: exact round trips, sums modulo 2**64, overflow refused."""

from __future__ import annotations

import numpy as np
import pytest

from udf_library import (
    FRACTION_BITS,
    ArrayBundle,
    SecureSumError,
    decode_fixed,
    encode_fixed,
    fixed_point_bound,
    shared,
    sum_masked_parts,
    sum_parts,
    value_matrix,
    words_bundle,
)


def test_encoding_round_trips_to_the_fixed_point_resolution() -> None:
    # Arrange
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1e-6, 50), rng.normal(0, 1e9, 50), [0.0, -0.0, 1e12, -1e12]])

    # Act
    decoded = decode_fixed(encode_fixed(values, parties=10))

    # Assert
    np.testing.assert_allclose(decoded, values, rtol=1e-15, atol=2.0 ** -(FRACTION_BITS + 1))


def test_words_of_several_nodes_sum_modulo_2_64_to_the_sum() -> None:
    # Arrange: negative and positive values whose words wrap around
    parts = [np.array([-3.25, 1e9, -7e-9]), np.array([1.0, -2e9, 3e-9]), np.array([0.125, 5e8, 4e-9])]

    # Act
    words = sum(encode_fixed(p, parties=3) for p in parts)  # uint64 arithmetic wraps
    total = decode_fixed(np.asarray(words, dtype=np.uint64))

    # Assert
    np.testing.assert_allclose(total, np.sum(parts, axis=0), rtol=1e-15, atol=1e-14)


def test_low_words_stay_below_2_32_so_their_sum_cannot_wrap() -> None:
    words = encode_fixed(np.array([-1.0, 0.3, 12345.678]), parties=2)
    assert int(words[..., 1].max()) < 2**32


@pytest.mark.parametrize("parties", [1, 3, 10])
def test_a_value_over_the_bound_is_refused_with_the_limit(parties: int) -> None:
    # Arrange
    bound = fixed_point_bound(parties)

    # Act / Assert
    encode_fixed(np.array([bound, -bound]), parties)  # at the bound: accepted
    with pytest.raises(SecureSumError, match=f"over {parties} node"):
        encode_fixed(np.array([bound * 1.001]), parties)


def test_the_bound_keeps_the_sum_of_all_nodes_from_overflowing() -> None:
    # Arrange: every one of 10 nodes sends the largest value allowed
    bound = fixed_point_bound(10)
    words = [encode_fixed(np.array([bound]), parties=10) for _ in range(10)]

    # Act
    total = decode_fixed(np.sum(np.stack(words), axis=0, dtype=np.uint64))

    # Assert
    assert total[0] == pytest.approx(10 * bound, rel=1e-12)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_missing_or_infinite_values_are_refused(value: float) -> None:
    with pytest.raises(SecureSumError, match="missing or infinite"):
        encode_fixed(np.array([1.0, value]), parties=3)


def test_sum_of_parts_keeps_keys_and_adds_values_as_floats() -> None:
    # Arrange
    a = ArrayBundle({"cluster": [0, 1], "count": [10, 20], "x": [1.5, 2.5]})
    b = ArrayBundle({"cluster": [0, 1], "count": [30, 0], "x": [0.5, -1.0]})

    # Act
    total = sum_parts([a, b], ["cluster"])

    # Assert
    assert total.names == ["cluster", "count", "x"]
    np.testing.assert_array_equal(total["cluster"], [0, 1])
    np.testing.assert_array_equal(total["count"], [40.0, 20.0])
    np.testing.assert_array_equal(total["x"], [2.0, 1.5])


def test_masked_parts_sum_to_the_plain_sum() -> None:
    # Arrange
    bundles = [ArrayBundle({"level": ["a", "b"], "n": [n, 2 * n], "s": [0.1 * n, -3.0]}) for n in (11, 12, 13)]
    words = []
    for bundle in bundles:
        names, values = value_matrix(bundle, ["level"])
        words.append(words_bundle(bundle, ["level"], names, encode_fixed(values, 3)))

    # Act
    total = sum_masked_parts(words, ["level"])

    # Assert
    expected = sum_parts(bundles, ["level"])
    assert total.names == expected.names
    np.testing.assert_allclose(total["s"], expected["s"], rtol=1e-15)
    np.testing.assert_array_equal(total["n"], expected["n"])


def test_parts_whose_keys_differ_are_refused() -> None:
    a = ArrayBundle({"cluster": [0, 1], "x": [1.0, 2.0]})
    b = ArrayBundle({"cluster": [1, 0], "x": [1.0, 2.0]})
    with pytest.raises(SecureSumError, match="key column 'cluster'"):
        sum_parts([a, b], ["cluster"])


def test_a_text_value_column_must_be_declared_a_key() -> None:
    bundle = ArrayBundle({"variable": ["g"], "n": [12]})
    with pytest.raises(SecureSumError, match="declare it a key"):
        value_matrix(bundle, [])


def test_keys_are_only_for_secure_sums() -> None:
    with pytest.raises(TypeError, match="keys are only"):
        shared("sums", keys=("cluster",))
    with pytest.raises(TypeError, match="merge must be one of"):
        shared("sums", merge="average")
