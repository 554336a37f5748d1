"""Rank correlations, for the figures that say how well the loop learned (`simulate`'s summary in
`growthloop.report`, the bench's in `bench.engine`): Spearman's rho from numpy's ranks.

Not `scipy.stats.spearmanr`: importing scipy.stats costs about a second of CPU, more than the summary of a
short `simulate`. tests/unit/test_report.py compares the two on samples full of ties.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["average_ranks", "rank_correlation", "spearman"]


def average_ranks(values: ArrayLike) -> NDArray[np.float64]:
    """Ranks from 1, tied values sharing their mean rank (`scipy.stats.rankdata`'s default)."""
    a = np.asarray(values, dtype=float)
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    sizes = np.bincount(group)
    last = np.cumsum(sizes)
    ranks = np.empty(len(a))
    ranks[order] = (last - (sizes - 1) / 2)[group]
    return ranks


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """`scipy.stats.spearmanr(x, y).statistic`: Pearson's r of the average ranks (NaN as there: a NaN in
    either, or no order in either)."""
    if np.isnan(np.asarray(x, dtype=float)).any() or np.isnan(np.asarray(y, dtype=float)).any():
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    if rx.min() == rx.max() or ry.min() == ry.max():
        return math.nan  # without numpy's warning
    return float(np.corrcoef(rx, ry)[0, 1])


def rank_correlation(x: ArrayLike, y: ArrayLike) -> float | None:
    """Spearman's rho over the pairs where both are finite, to 4 places; None with fewer than 3 such pairs or
    no order on either side (nothing to rank)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return None
    value = spearman(a[ok], b[ok])
    return None if math.isnan(value) else round(value, 4)
