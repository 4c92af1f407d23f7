"""Pairwise masks: they cancel over a round's nodes, differ per round and output, and look random."""

from __future__ import annotations

import numpy as np
import pytest

from mip_common.masking import MaskingKey, mask_words, pair_mask, pair_seed
from udf_library import decode_fixed, encode_fixed

NODES = ["local1", "local2", "local3", "local4"]


@pytest.fixture
def keys() -> dict[str, MaskingKey]:
    return {n: MaskingKey() for n in NODES}


def _public(keys: dict[str, MaskingKey]) -> dict[str, bytes]:
    return {n: k.public_bytes for n, k in keys.items()}


def test_masks_cancel_in_the_sum_over_the_round(keys: dict[str, MaskingKey]) -> None:
    # Arrange
    values = {n: np.array([[1.5 * i, -2.0], [1e6, 3e-9 * i]]) for i, n in enumerate(NODES)}

    # Act
    masked = [mask_words(encode_fixed(values[n], 4), keys[n], n, _public(keys), "e/r1/sums") for n in NODES]
    total = decode_fixed(np.sum(np.stack(masked), axis=0, dtype=np.uint64))

    # Assert
    np.testing.assert_allclose(total, sum(values.values()), rtol=1e-15, atol=1e-14)


def test_a_missing_node_leaves_its_masks_in_the_sum(keys: dict[str, MaskingKey]) -> None:
    # Arrange
    words = encode_fixed(np.ones(8), 4)

    # Act: local4 masked with the others but its part never arrives
    masked = [mask_words(words, keys[n], n, _public(keys), "e/r1/sums") for n in NODES[:3]]
    total = decode_fixed(np.sum(np.stack(masked), axis=0, dtype=np.uint64))

    # Assert
    assert not np.allclose(total, 3.0)


def test_both_nodes_of_a_pair_derive_the_same_seed(keys: dict[str, MaskingKey]) -> None:
    a, b = keys["local1"], keys["local2"]
    seed_a = pair_seed(a.shared_secret(b.public_bytes), "local1", "local2", "ctx")
    seed_b = pair_seed(b.shared_secret(a.public_bytes), "local1", "local2", "ctx")
    assert seed_a == seed_b


def test_each_round_and_output_has_its_own_masks(keys: dict[str, MaskingKey]) -> None:
    secret = keys["local1"].shared_secret(keys["local2"].public_bytes)
    seeds = {pair_seed(secret, "local1", "local2", c) for c in ("e/r1/sums", "e/r2/sums", "e/r1/other", "f/r1/sums")}
    assert len(seeds) == 4


def test_a_fresh_key_per_experiment_gives_other_masks() -> None:
    # Arrange
    peer = MaskingKey()

    # Act
    first = pair_seed(MaskingKey().shared_secret(peer.public_bytes), "a", "b", "ctx")
    second = pair_seed(MaskingKey().shared_secret(peer.public_bytes), "a", "b", "ctx")

    # Assert
    assert first != second


def test_mask_words_pass_a_frequency_test_per_bit() -> None:
    # Arrange
    words = pair_mask(bytes(range(32)), 4096)

    # Act: share of ones at each of the 64 bit positions
    bits = (words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    shares = bits.mean(axis=0)

    # Assert: within 5 sigma of one half at every position (sigma = 0.5 / sqrt(4096))
    assert np.all(np.abs(shares - 0.5) < 5 * 0.5 / 64)


def test_a_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MaskingKey().shared_secret(b"short")
