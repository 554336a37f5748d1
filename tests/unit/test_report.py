"""The summary's rank correlations: ours against scipy.stats.spearmanr, which the summary no longer imports."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata, spearmanr

from growthloop.report import average_ranks, spearman

from .test_fast_loop import _imported

# Few distinct values, so that most samples hold ties.
pairs = st.integers(3, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([-2.5, -1.0, 0.0, 0.25, 3.0, 1e6]), min_size=n, max_size=n),
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n),
    )
)


@pytest.mark.filterwarnings("ignore:An input array is constant")  # scipy's, where both give NaN
@given(pairs)
def test_spearman_is_scipys(xy: tuple[list[float], list[float]]) -> None:
    x, y = xy
    assert list(average_ranks(x)) == list(rankdata(x))
    ours, theirs = spearman(x, y), float(spearmanr(x, y).statistic)
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_a_nan_gives_nan_as_in_scipy() -> None:
    assert math.isnan(spearman([1.0, math.nan, 3.0], [1.0, 2.0, 3.0]))
    assert math.isnan(float(spearmanr([1.0, math.nan, 3.0], [1.0, 2.0, 3.0]).statistic))


def test_the_summary_does_not_import_scipy_stats() -> None:
    assert _imported("growthloop.report", ("scipy.stats",)) == []
