"""The rank correlations of the summary and the bench (learning/ranks.py): ours against scipy.stats.spearmanr,
whose import (about a second of CPU) the summary no longer pays."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata, spearmanr

from growthloop.learning.ranks import average_ranks, rank_correlation, spearman

from .test_fast_loop import _imported

# Few distinct values, so that most samples hold ties.
pairs = st.integers(3, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([-2.5, -1.0, 0.0, 0.25, 3.0, 1e6]), min_size=n, max_size=n),
        st.lists(st.floats(allow_nan=False), min_size=n, max_size=n),  # infinities and extremes too
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


def test_rank_correlation_keeps_the_finite_pairs_and_says_none_when_there_is_nothing_to_rank() -> None:
    x = [1.0, 2.0, math.nan, 3.0, math.inf, 4.0]
    y = [2.0, 1.0, 5.0, 4.0, 0.0, 3.0]
    assert rank_correlation(x, y) == round(float(spearmanr([1, 2, 3, 4], [2, 1, 4, 3]).statistic), 4) == 0.6
    assert rank_correlation([1.0, 2.0, math.nan], [1.0, 2.0, 3.0]) is None  # two finite pairs
    assert rank_correlation([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]) is None  # no order on one side
    assert rank_correlation([], []) is None


def test_the_summary_and_the_bench_do_not_import_scipy_stats() -> None:
    assert _imported("growthloop.report", ("scipy.stats",)) == []
    assert _imported("growthloop.learning.ranks", ("scipy",)) == []
