"""One BLAS thread per process: the learning works on matrices of a few dozen columns, where BLAS threads
only cost (on a busy two-core machine a model fit took 35 times longer with them)."""

from __future__ import annotations

from functools import cache

from threadpoolctl import threadpool_limits


@cache
def single_threaded_blas() -> None:
    """Limit every BLAS library loaded in this process to one thread; once per process."""
    threadpool_limits(limits=1, user_api="blas")
