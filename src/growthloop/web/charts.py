"""The pages' plots as Plotly figure specifications: plain JSON that plotly.js (served by growthloop from the
`plotly` package) draws in the browser, so the server only gathers numbers.

Every figure is {"data": [...], "layout": {...}}; `static/app.js` hands it to Plotly.newPlot.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from growthloop.jobs.registry import JOBS
from growthloop.learning import Estimate
from growthloop.loop.evaluate import Evaluation
from growthloop.loop.learn import ValueStats

Figure = dict[str, Any]
ORDER = {name: i for i, name in enumerate(JOBS)}  # the jobs' legend in the registry's order, like the table
BLUE, ORANGE, GREEN, RED, GREY = "#1f6feb", "#d9822b", "#2da44e", "#cf222e", "#8c959f"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        "margin": {"l": 50, "r": 10, "t": 36, "b": 50},
        "legend": {"orientation": "h", "y": -0.22, "yanchor": "top"},  # below the x axis's title
        "hovermode": "closest",
        **extra,
    }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def followers(series: Sequence[Any], marks: Sequence[dict[str, Any]]) -> Figure:
    """The follower curve with each post marked at its time; the marker's size is its attributed follows.
    The curve is drawn last, over the marks: a month has more than a thousand of them."""
    sized = [max(0.0, m["attributed"] or 0.0) for m in marks]
    top = max(sized, default=0.0) or 1.0
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "posts (size: attributed follows)",
                "x": [m["at"].isoformat() for m in marks],
                "y": [m["followers"] for m in marks],
                "customdata": [m["id"] for m in marks],
                "text": [
                    f"#{m['id']} {m['topic']}: "
                    + (
                        "not attributed yet"
                        if m["attributed"] is None
                        else f"{m['attributed']:.2f} ± {m['sd'] or 0:.2f}"
                    )
                    for m in marks
                ],
                "hoverinfo": "text+x",
                "marker": {"color": ORANGE, "size": [3 + 15 * s / top for s in sized], "opacity": 0.6},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "followers",
                "x": [r.observed_at.isoformat() for r in series],
                "y": [r.followers for r in series],
                "line": {"color": BLUE, "width": 1.5},
            },
        ],
        "layout": _layout("Followers, with each post", yaxis={"title": {"text": "followers"}}),
    }


def forest(
    dimension: str,
    stats: Sequence[ValueStats],
    probabilities: dict[str, float] | None,
    truth: dict[str, float] | None,
) -> Figure:
    """Each value's expected follows per post with its 95% interval; beside it the policy's probability."""
    ranked = sorted(stats, key=lambda s: s.posterior_mean)
    values = [s.value for s in ranked]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "learned (95% interval)",
            "x": [s.posterior_mean for s in ranked],
            "y": values,
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [s.ci_high - s.posterior_mean for s in ranked],
                "arrayminus": [s.posterior_mean - s.ci_low for s in ranked],
                "color": BLUE,
            },
            "text": [f"{s.uses} uses, confidence {s.confidence:.2f}" for s in ranked],
            "marker": {"color": BLUE, "size": 8},
        }
    ]
    if truth:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "true (simulator)",
                "x": [_finite(truth.get(v)) for v in values],
                "y": values,
                "marker": {"color": GREEN, "symbol": "diamond-open", "size": 10, "line": {"width": 2}},
            }
        )
    layout = _layout(dimension, xaxis={"domain": [0, 0.68], "title": {"text": "expected follows per post"}})
    if probabilities:
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": "policy's probability",
                "x": [probabilities.get(v, 0.0) for v in values],
                "y": values,
                "xaxis": "x2",
                "marker": {"color": GREY},
            }
        )
        layout["xaxis2"] = {"domain": [0.74, 1], "range": [0, 1], "title": {"text": "probability"}}
    layout["yaxis"] = {"automargin": True}
    layout["showlegend"] = False  # six of these share one key, in the page's text
    layout["height"] = 110 + 28 * len(values)
    return {"data": data, "layout": layout}


def evaluations(evaluations: dict[str, Evaluation], uniform_truth: float | None) -> Figure:
    """Each policy's estimated followers per post, per estimator, with 95% intervals."""
    labels, points, lows, highs, colours = [], [], [], [], []
    for policy, ev in evaluations.items():
        rows: list[Estimate] = list(ev.estimates.values())
        if ev.logged_value is not None and policy == "uniform":
            rows = [ev.logged_value, *rows]  # the logging policies' own mean, shown once
        for e in rows:
            if not all(math.isfinite(x) for x in (e.value, e.low, e.high)):
                continue
            labels.append("as logged" if e.estimator == "logged" else f"{policy} · {e.estimator}")
            points.append(e.value)
            lows.append(e.value - e.low)
            highs.append(e.high - e.value)
            colours.append(GREY if e.estimator == "logged" else {"uniform": ORANGE, "seed": RED}.get(policy, BLUE))
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "estimate (95% interval)",
            "x": points,
            "y": labels,
            "error_x": {"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
            "marker": {"color": colours, "size": 8},
        }
    ]
    if uniform_truth is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "uniform's true value (simulator)",
                "x": [uniform_truth for label in labels if label.startswith("uniform")],
                "y": [label for label in labels if label.startswith("uniform")],
                "marker": {"color": GREEN, "symbol": "diamond-open", "size": 10, "line": {"width": 2}},
            }
        )
    layout = _layout("What each policy would gain per post", xaxis={"title": {"text": "followers per post"}})
    layout["yaxis"] = {"automargin": True, "autorange": "reversed"}
    layout["height"] = 140 + 24 * len(labels)
    return {"data": data, "layout": layout}


def job_durations(recent: Sequence[Any]) -> Figure:
    """Each run of the last week: its wall time, failures in red."""
    by_job: dict[str, list[Any]] = defaultdict(list)
    for r in recent:
        by_job[r.job].append(r)
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": job,
            "x": [r.started_at.isoformat() for r in runs],
            "y": [r.wall_ms for r in runs],
            "marker": {
                "size": [4 if r.status == "succeeded" else 9 for r in runs],
                "line": {"color": [RED if r.status != "succeeded" else "rgba(0,0,0,0)" for r in runs], "width": 2},
            },
            "text": [f"{job}: {r.status}, in {r.items_in} out {r.items_out}" for r in runs],
        }
        for job, runs in sorted(by_job.items(), key=lambda item: ORDER.get(item[0], len(ORDER)))
    ]
    return {
        "data": data,
        "layout": _layout("Run durations, last 7 days", yaxis={"type": "log", "title": {"text": "ms"}}),
    }


METRICS = ("impressions", "likes", "reposts", "replies", "profile_clicks")


def post_metrics(snapshots: Sequence[Any], posted_at: Any) -> Figure:
    """A post's counters at each checkpoint, by hours since it was posted (impressions on the right axis)."""
    hours = [round((s.observed_at - posted_at).total_seconds() / 3600, 3) if posted_at else None for s in snapshots]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name.replace("_", " "),
            "x": hours,
            "y": [getattr(s, name) for s in snapshots],
            "text": [s.checkpoint for s in snapshots],
            **({"yaxis": "y2", "line": {"dash": "dot"}} if name == "impressions" else {}),
        }
        for name in METRICS
    ]
    layout = _layout(
        "Counters at each checkpoint",
        margin={"l": 50, "r": 60, "t": 36, "b": 50},
        xaxis={"title": {"text": "hours since posting"}},
        yaxis={"title": {"text": "count"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "impressions"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
    )
    return {"data": data, "layout": layout}
