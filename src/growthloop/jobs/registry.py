"""Job names and the stage function each runs. Job names never change once stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from growthloop.domain import JobResult
from growthloop.loop.attribute import attribute_growth
from growthloop.loop.learn import learn_performance
from growthloop.loop.measure import collect_metrics
from growthloop.loop.plan import plan_posts
from growthloop.loop.post import publish_due
from growthloop.loop.reply import answer_opportunities
from growthloop.loop.track import snapshot_followers

JobFn = Callable[..., JobResult]

# Order matters when several jobs are due at once: observe first, then learn, then act on what was learned.
JOBS: dict[str, JobFn] = {
    "followers": snapshot_followers,
    "metrics": collect_metrics,
    "attribute": attribute_growth,
    "learn": learn_performance,
    "plan": plan_posts,
    "replies": answer_opportunities,
    "post": publish_due,
}

# Every stage receives the wiring's records (a seventh argument: its reads and writes); these also receive the
# wiring's LearningCache (an eighth): what they read is kept between runs.
TAKES_LEARNING: frozenset[JobFn] = frozenset({attribute_growth, learn_performance, plan_posts, answer_opportunities})


def job_names() -> list[str]:
    return list(JOBS)


def describe(fn: Any) -> str:
    return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
