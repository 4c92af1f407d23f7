"""The vectorized studentized-range survival function against exact values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from udf_library._studentized_range import studentized_range_sf


@pytest.mark.parametrize("df", [3.0, 40.0, 300.0, 1800.0])
def test_two_groups_match_the_exact_t_form(df: float) -> None:
    q = np.array([0.0, 0.3, 1.0, 2.5, 4.0, 6.0, 8.0])

    expected = 2 * stats.t.sf(q / np.sqrt(2), df)  # the range of two normals is |difference|

    np.testing.assert_allclose(studentized_range_sf(q, 2, df), expected, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize(("k", "df"), [(3, 5.0), (5, 20.0), (10, 120.0), (29, 1800.0)])
def test_many_groups_match_scipy(k: int, df: float) -> None:
    q = np.random.default_rng(k).uniform(0.0, 7.0, 12)

    expected = stats.studentized_range.sf(q, k, df)

    np.testing.assert_allclose(studentized_range_sf(q, k, df), expected, rtol=1e-6, atol=1e-10)


def test_more_values_than_one_chunk_fall_from_one_in_order() -> None:
    q = np.linspace(0.0, 6.0, 150)

    p = studentized_range_sf(q, 4, 60.0)

    assert p[0] == pytest.approx(1.0)
    assert np.all(np.diff(p) < 0)
