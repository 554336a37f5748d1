"""The benchmark's figures over seeds (docs/design.md#learning): JSON-able dicts, and a plain-text table of them.

Per world and policy, from the runs of `engine.run_policy` (one per seed, the same seeds for every policy):

    gain                followers gained (final - initial), mean over seeds with a 95% interval (t)
    expected_gain       the posts' true expected follows, summed (no follow or organic noise)
    score               normalised: (gain - uniform's) / (oracle's - uniform's), from the means over seeds;
                        95% interval by bootstrap over seeds (the same resampled seeds for the three policies)
    score_expected      the same on expected gains
    regret              oracle's expected gain - the policy's, mean with a 95% interval
    days_to_90          the first day whose expected follows reach 90% of the oracle's that day: median over
                        seeds, and the share of seeds that reach it within the run
    attribution         Spearman rank correlations, mean over seeds with a 95% interval:
                          rho_posts         our attributed followers per post vs the true (realised) ones
                          rho_posts_naive   the seed's window deltas vs the same
                          rho_values        our per-value effects vs the true ones (centred log, pooled)
                          rho_values_naive  the seed's per-value averages vs the same
    last10              the decision quality of the last 10 days (where the policy ends up): the normalised
                        score on the expected follows of those days' posts
    false_alarms        runs in which the change check fired at least once (and the runs)
    free_bound          (on "uniform", from its runs) the free-exploration bound (`bench.reference`): the
                        normalised score, on expected gains, of committing each day to the true-structure
                        estimate from the uniform posts before it; `quality` is that day's decision quality
                        after 2, 4, 7, 14 and 21 days of uniform data
    free_bound_counters the same bound estimated without each post's realised follows, only their total: what
                        the loop's own data (counters per post, the follower count) carry
    ope                 ("bayes" runs) off-policy estimates of uniform random's value per post, each
                        estimator's mean and how many seeds' intervals cover the simulator's true value
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import t as student_t

__all__ = ["aggregate", "format_text", "mean_ci"]

ATTRIBUTION_FIGURES = (
    "rho_posts",
    "rho_posts_naive",
    "rho_posts_expected",
    "rho_posts_expected_naive",
    "rho_values_pooled",
    "rho_values_naive_pooled",
    "rho_values_mean",
    "rho_values_naive_mean",
)


def mean_ci(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """Mean with a 95% t-interval over the values given (None and NaN left out)."""
    v = np.array([float(x) for x in values if x is not None and math.isfinite(float(x))])
    n = len(v)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    m = float(v.mean())
    if n == 1:
        return {"mean": m, "low": None, "high": None, "n": 1}
    half = float(student_t.ppf(0.975, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
    return {"mean": m, "low": m - half, "high": m + half, "n": n}


def _score(policy: Sequence[float], uniform: Sequence[float], oracle: Sequence[float]) -> float | None:
    gap = float(np.mean(oracle)) - float(np.mean(uniform))
    if abs(gap) < 1e-12:
        return None
    return (float(np.mean(policy)) - float(np.mean(uniform))) / gap


def _score_ci(
    policy: Sequence[float], uniform: Sequence[float], oracle: Sequence[float], draws: int = 2000
) -> dict[str, float | int | None]:
    point = _score(policy, uniform, oracle)
    n = len(policy)
    out: dict[str, float | int | None] = {"mean": point, "low": None, "high": None, "n": n}
    if point is None or n < 2:
        return out
    rng = np.random.default_rng(12345)
    p, u, o = (np.asarray(a, dtype=float) for a in (policy, uniform, oracle))
    idx = rng.integers(0, n, size=(draws, n))
    gap = o[idx].mean(axis=1) - u[idx].mean(axis=1)
    ok = np.abs(gap) > 1e-12
    scores = (p[idx].mean(axis=1)[ok] - u[idx].mean(axis=1)[ok]) / gap[ok]
    if len(scores):
        out["low"], out["high"] = float(np.quantile(scores, 0.025)), float(np.quantile(scores, 0.975))
    return out


def _days_to_90(policy_daily: Sequence[Sequence[float]], oracle_daily: Sequence[Sequence[float]]) -> dict[str, Any]:
    days: list[float] = []
    reached = 0
    for pd, od in zip(policy_daily, oracle_daily):
        hit = next((i + 1 for i, (a, b) in enumerate(zip(pd, od)) if b > 0 and a >= 0.9 * b), None)
        if hit is not None:
            reached += 1
            days.append(float(hit))
        else:
            days.append(math.inf)
    finite = [d for d in days if math.isfinite(d)]
    median = float(np.median(days)) if days else None
    return {
        "median": median if median is not None and math.isfinite(median) else None,
        "reached": reached,
        "seeds": len(days),
        "mean_when_reached": float(np.mean(finite)) if finite else None,
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Figures per world and policy from run summaries (`RunResult.summary()` plus "world_key")."""
    worlds: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for r in runs:
        worlds.setdefault(str(r.get("world_key", r["world"])), {}).setdefault(str(r["policy"]), []).append(r)
    out: dict[str, Any] = {}
    for world, by_policy in worlds.items():
        for rows in by_policy.values():
            rows.sort(key=lambda r: int(r["seed"]))
        oracle = by_policy.get("oracle", [])
        uniform = by_policy.get("uniform", [])
        o_seeds = {int(r["seed"]): r for r in oracle}
        u_seeds = {int(r["seed"]): r for r in uniform}
        figures: dict[str, Any] = {}
        for policy, rows in by_policy.items():
            f: dict[str, Any] = {
                "seeds": len(rows),
                "gain": mean_ci(r["gain"] for r in rows),
                "expected_gain": mean_ci(r["expected_gain"] for r in rows),
            }
            paired = [r for r in rows if int(r["seed"]) in o_seeds and int(r["seed"]) in u_seeds]
            if paired:
                o = [o_seeds[int(r["seed"])] for r in paired]
                u = [u_seeds[int(r["seed"])] for r in paired]
                f["score"] = _score_ci([r["gain"] for r in paired], [x["gain"] for x in u], [x["gain"] for x in o])
                f["score_expected"] = _score_ci(
                    [r["expected_gain"] for r in paired],
                    [x["expected_gain"] for x in u],
                    [x["expected_gain"] for x in o],
                )
                f["last10"] = _score_ci(
                    [_last(r["daily_expected"]) for r in paired],
                    [_last(x["daily_expected"]) for x in u],
                    [_last(x["daily_expected"]) for x in o],
                )
                if policy == "uniform" and all(x.get("free_daily_expected") for x in u):
                    f["free_bound"] = _free_bound(u, o)
                if policy == "uniform" and all(x.get("free_daily_expected_counters") for x in u):
                    f["free_bound_counters"] = _free_bound(u, o, "free_daily_expected_counters")
            f["false_alarms"] = {"runs": len(rows), "fired": sum(1 for r in rows if r.get("changes"))}
            if o_seeds:
                both = [r for r in rows if int(r["seed"]) in o_seeds]
                f["regret"] = mean_ci(o_seeds[int(r["seed"])]["expected_gain"] - r["expected_gain"] for r in both)
                f["days_to_90"] = _days_to_90(
                    [r["daily_expected"] for r in both], [o_seeds[int(r["seed"])]["daily_expected"] for r in both]
                )
            f["attribution"] = {k: mean_ci(r.get(k) for r in rows) for k in ATTRIBUTION_FIGURES}
            ope = [r["ope_uniform"] for r in rows if r.get("ope_uniform")]
            if ope:
                f["ope_uniform"] = _ope_summary(ope)
            f["run_seconds"] = mean_ci(r.get("timings", {}).get("run_s") for r in rows)
            figures[policy] = f
        out[world] = figures
    return out


LAST_DAYS = 10  # the decision quality of the last days: where a policy ends up
QUALITY_DAYS = (2, 4, 7, 14, 21)


def _last(daily: Sequence[float], days: int = LAST_DAYS) -> float:
    return float(sum(daily[-days:]))


def _free_bound(
    uniform: Sequence[Mapping[str, Any]], oracle: Sequence[Mapping[str, Any]], key: str = "free_daily_expected"
) -> dict[str, Any]:
    """The free-exploration bound from the uniform runs' daily figures `key` (paired with the oracle's)."""
    free = [float(sum(x[key])) for x in uniform]
    bound = _score_ci(free, [float(sum(x["daily_expected"])) for x in uniform], [x["expected_gain"] for x in oracle])
    quality: dict[str, float | None] = {}
    for d in QUALITY_DAYS:
        if all(len(x[key]) > d and len(y["daily_expected"]) > d for x, y in zip(uniform, oracle)):
            quality[str(d)] = _score(
                [x[key][d] for x in uniform],
                [x["daily_expected"][d] for x in uniform],
                [y["daily_expected"][d] for y in oracle],
            )
    return {"score": bound, "quality": quality}


def _ope_summary(ope: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    truth = [float(o["truth"]) for o in ope]
    names = sorted({name for o in ope for name in o["estimates"]})
    estimators = {}
    for name in names:
        rows = [o["estimates"][name] for o in ope if name in o["estimates"]]
        estimators[name] = {
            "value": mean_ci(r["value"] for r in rows),
            "mean_half_width": float(np.mean([(r["high"] - r["low"]) / 2 for r in rows])),
            "covers": int(sum(bool(r["covers"]) for r in rows)),
            "runs": len(rows),
        }
    return {"truth": mean_ci(truth), "estimators": estimators}


def _fmt(ci: Mapping[str, Any] | None, digits: int = 2) -> str:
    if not ci or ci.get("mean") is None:
        return "-"
    m = float(ci["mean"])
    if ci.get("low") is None:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{float(ci['low']):.{digits}f}, {float(ci['high']):.{digits}f}]"


def _mean(ci: Mapping[str, Any] | None, digits: int = 2) -> str:
    return "-" if not ci or ci.get("mean") is None else f"{float(ci['mean']):.{digits}f}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _days(d90: Mapping[str, Any] | None, days: object) -> str:
    if not d90:
        return "-"
    median = d90.get("median")
    shown = f"{median:g}" if median is not None else f">{days}"
    return f"{shown} ({d90['reached']}/{d90['seeds']})"


def _side_by_side(result: Mapping[str, Any]) -> list[str]:
    """The learner ("bayes") on each world under each platform's capabilities, one row per platform."""
    cfg = result["config"]
    lines = ["what each platform's signals let the loop learn (bayes; 95% intervals over seeds):"]
    lines.append(
        f"  {'world':26} {'platform':9} {'normalised score':>22} {'followers gained':>22} "
        f"{'spearman posts':>15} {'spearman values':>16}"
    )
    for key, figures in result.get("figures", {}).items():
        f = figures.get("bayes")
        if not f:
            continue
        world, _, platform = key.rpartition(" [")
        a = f["attribution"]
        lines.append(
            f"  {world:26} {platform.rstrip(']'):9} {_fmt(f.get('score')):>22} {_fmt(f.get('gain'), 0):>22} "
            f"{_mean(a['rho_posts']):>15} {_mean(a['rho_values_pooled']):>16}"
        )
    lines.append(f"  ({cfg.get('days')} days x {cfg.get('seeds')} seeds per world and platform)")
    lines.append("")
    return lines


def format_text(result: Mapping[str, Any]) -> str:
    """The figures of `cli.run_bench` as a plain-text table (one block per world), then the time taken."""
    lines: list[str] = []
    cfg = result.get("config", {})
    days = cfg.get("days")
    head = f"  {'policy':8} {'followers gained':>22} {'normalised score':>22} {'regret':>22} {'days to 90%':>12}"
    for world, figures in result.get("figures", {}).items():
        lines.append(f"world {world}  ({days} days x {cfg.get('seeds')} seeds; 95% intervals over seeds)")
        lines.append(head)
        for policy, f in figures.items():
            lines.append(
                f"  {policy:9} {_fmt(f.get('gain'), 0):>22} {_fmt(f.get('score')):>22} "
                f"{_fmt(f.get('regret'), 0):>22} {_days(f.get('days_to_90'), days):>12}"
            )
        lines.append(f"  {'policy':9} {'last 10 days (score)':>22} {'change check fired':>19}")
        for policy, f in figures.items():
            fa = f.get("false_alarms") or {}
            fired = f"{fa.get('fired', 0)} of {fa.get('runs', 0)} runs"
            lines.append(f"  {policy:9} {_fmt(f.get('last10')):>22} {fired:>19}")
        for key, name in (("free_bound", "free-exploration bound"), ("free_bound_counters", "  from the counters")):
            bound = (figures.get("uniform") or {}).get(key)
            if bound:
                q = ", ".join(f"{d} d {_num(v)}" for d, v in bound["quality"].items())
                lines.append(f"  {name} {_fmt(bound['score'])}; decision quality after uniform days: {q}")
        lines.append(f"  {'spearman':8} {'posts: ours / naive':>22} {'values: ours / naive':>22}")
        for policy, f in figures.items():
            a = f["attribution"]
            posts = f"{_mean(a['rho_posts'])} / {_mean(a['rho_posts_naive'])}"
            values = f"{_mean(a['rho_values_pooled'])} / {_mean(a['rho_values_naive_pooled'])}"
            lines.append(f"  {policy:9} {posts:>22} {values:>22}")
        ope = (figures.get("bayes") or {}).get("ope_uniform")
        if ope:
            lines.append(f"  uniform's value per post from bayes's logs, off-policy (true {_mean(ope['truth'], 3)}):")
            for name, e in ope["estimators"].items():
                lines.append(
                    f"    {name:22} {_fmt(e['value'], 3):>26}  half-width {e['mean_half_width']:.3f}"
                    f"  interval covers the truth in {e['covers']}/{e['runs']} runs"
                )
        lines.append("")
    if len(cfg.get("capabilities", [])) > 1:
        lines += _side_by_side(result)
    for policy, why in (result.get("skipped") or {}).items():
        lines.append(f"policy {policy} skipped: {why}")
    t = result.get("timing", {})
    if t:
        lines.append(
            f"{t.get('runs')} runs in {t.get('elapsed_s', 0):.1f} s on {t.get('workers')} worker(s) "
            f"({t.get('run_s_mean', 0):.2f} s a run on average, {t.get('run_s_max', 0):.2f} s at most)"
        )
    return "\n".join(lines)
