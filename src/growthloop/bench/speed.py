"""How fast the real loop runs: `python -m growthloop.bench.speed [--days 30] [--baseline main]`.

Runs `growthloop simulate` of the default world on a fresh SQLite database, in a child process per code
tree, and prints its wall time, the statements SQLite ran (its trace callback) and the commits sent,
the time and runs of each job (from `job_runs`), the rows per table and the learning figures. With
`--baseline REF` the same simulation runs first on the code of that git revision (extracted with
`git archive`), so the figures compare as ratios measured in one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

START = "2026-01-01T00:00:00"  # a fixed virtual start, so both trees simulate the very same days

# Runs in the child, on the tree under test: counts what every engine sends, runs init and simulate
# through the CLI as a user would, then reads the result back from the database.
_CHILD = r"""
import contextlib, io, json, sqlite3, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine

db, days, start, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
counts = {"statements": 0, "commits": 0}
# Statements as SQLite runs them (its trace callback: every statement however it was sent, through SQLAlchemy
# or prepared straight to the driver; a row of an executemany counts as one), commits as SQLAlchemy sends them.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")
def traced(sql):
    if not sql.lstrip().upper().startswith(CONTROL):
        counts["statements"] += 1
def trace(dbapi, _record):
    if hasattr(dbapi, "set_trace_callback"):
        dbapi.set_trace_callback(traced)
event.listen(Engine, "connect", trace)
event.listen(Engine, "commit", lambda *a: counts.__setitem__("commits", counts["commits"] + 1))

import growthloop
from growthloop.cli.app import app

with contextlib.redirect_stdout(io.StringIO()):
    app(["init", "--db", db], standalone_mode=False)
counts.update(statements=0, commits=0)
buffer = io.StringIO()
t0, c0 = time.perf_counter(), time.process_time()
with contextlib.redirect_stdout(buffer):
    app(["simulate", "--days", days, "--start", start, "--db", db, "--json"], standalone_mode=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
summary = json.loads(buffer.getvalue())
con = sqlite3.connect(db)
tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if t != "alembic_version"}
jobs = {
    job: {"runs": n, "seconds": (ms or 0) / 1000}
    for job, n, ms in con.execute("SELECT job, count(*), sum(wall_ms) FROM job_runs GROUP BY job ORDER BY job")
}
learning = {k: v for k, v in summary["learning"].items() if k.startswith("spearman") and not isinstance(v, dict)}
learning["followers_gained"] = summary["followers"]["gained"]
with open(out, "w") as f:
    json.dump(dict(counts, wall=wall, cpu=cpu, rows=rows, jobs=jobs, learning=learning, code=growthloop.__file__), f)
"""


def _extract(ref: str, into: Path) -> Path:
    """The `src` tree of git revision `ref` of the repository in the working directory."""
    archive = subprocess.run(["git", "archive", ref, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_tree(src: Path, days: float, workdir: Path, label: str) -> dict[str, Any]:
    """One simulation on the code under `src`, in a child process (so nothing is shared between trees)."""
    db, out = workdir / f"{label}.db", workdir / f"{label}.json"
    env = dict(os.environ, PYTHONPATH=str(src))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), str(days), START, str(out)], env=env, cwd=workdir, capture_output=True
    )
    if child.returncode != 0:
        raise SystemExit(f"the simulation on {src} failed:\n{child.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def startup_seconds(src: Path, repeat: int = 5) -> float:
    """The least CPU time (user and system) of `repeat` runs of `growthloop --help` on the code under `src`:
    CPU, not wall time, so that other load on a shared machine does not count."""
    env = dict(os.environ, PYTHONPATH=str(src))
    code = "from growthloop.cli.app import main; import sys; sys.argv = ['growthloop', '--help']; main()"
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def _line(name: str, values: list[float | int], fmt: str = "{:.1f}") -> str:
    cells = [fmt.format(v) for v in values]
    if len(values) == 2 and values[1]:
        cells.append(f"{values[0] / values[1]:.1f}x")
    return f"  {name:<26}" + "".join(f"{c:>14}" for c in cells)


def report(results: dict[str, dict[str, Any]], days: float) -> str:
    labels = list(results)
    rs = [results[k] for k in labels]
    lines = [
        f"simulate --days {days:g}, default world, start {START}",
        _line("", [], "") + "".join(f"{k:>14}" for k in labels),
    ]
    if len(rs) == 2:
        lines[-1] += f"{'ratio':>14}"
    lines.append(_line("wall s", [r["wall"] for r in rs]))
    lines.append(_line("cpu s", [r["cpu"] for r in rs]))
    lines.append(_line("statements", [r["statements"] for r in rs], "{:,}"))
    lines.append(_line("commits", [r["commits"] for r in rs], "{:,}"))
    lines.append(_line("statements per day", [r["statements"] / days for r in rs], "{:,.0f}"))
    if all("startup" in r for r in rs):
        lines.append(_line("growthloop --help cpu s", [r["startup"] for r in rs], "{:.2f}"))
    lines.append("  time in jobs (s; runs):")
    for job in sorted(set().union(*(r["jobs"] for r in rs))):
        cells = [r["jobs"].get(job, {"seconds": 0.0})["seconds"] for r in rs]
        runs = rs[-1]["jobs"].get(job, {}).get("runs", 0)
        lines.append(_line(f"    {job} ({runs})", cells, "{:.2f}"))
    lines.append(
        "  rows per table:" + ("" if len(rs) < 2 else "  same" if rs[0]["rows"] == rs[1]["rows"] else "  DIFFERENT")
    )
    for table in sorted(set().union(*(r["rows"] for r in rs))):
        lines.append(f"    {table:<28}" + "".join(f"{r['rows'].get(table, 0):>12,}" for r in rs))
    lines.append("  learning:")
    for key in sorted(set().union(*(r["learning"] for r in rs))):
        vals = [r["learning"].get(key) for r in rs]
        lines.append(f"    {key:<40}" + "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in vals))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m growthloop.bench.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30, help="simulated days (default 30)")
    parser.add_argument("--baseline", help="a git revision to compare with (e.g. main), run first in the same call")
    parser.add_argument("--startup", action="store_true", help="also time `growthloop --help` on each tree")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--shortest",
        type=float,
        metavar="DAYS",
        help="with --longer: also simulate DAYS days, to print what the longer run would cost at a flat cost a day",
    )
    parser.add_argument(
        "--longer",
        type=float,
        metavar="DAYS",
        help="also simulate DAYS days on this tree alone and print how its time grows with the length",
    )
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="growthloop-speed-") as tmp:
        work = Path(tmp)
        trees = {}
        if args.baseline:
            trees[args.baseline] = _extract(args.baseline, work / "baseline")
        trees["this tree"] = here
        results = {}
        for label, src in trees.items():
            results[label] = run_tree(src, args.days, work, label.replace(" ", "-").replace("/", "-"))
            if args.startup:
                results[label]["startup"] = startup_seconds(src)
        longer = run_tree(here, args.longer, work, "longer") if args.longer else None
        shortest = run_tree(here, args.shortest, work, "shortest") if args.longer and args.shortest else None
    if args.json:
        extra = ({"longer": longer} if longer else {}) | ({"shortest": shortest} if shortest else {})
        print(json.dumps(results | extra, indent=2))
        return
    print(report(results, args.days))
    if longer is not None:
        print(scaling(results["this tree"], args.days, longer, args.longer))
    if longer is not None and shortest is not None:
        print(flat_line(shortest, args.shortest, results["this tree"], args.days, args.longer))


def flat_line(
    shortest: dict[str, Any], shortest_days: float, short: dict[str, Any], days: float, long_days: float
) -> str:
    """What the longer run would cost if each of its days cost what the days between the two shorter runs did:
    the CPU of a run is `fixed + per_day * days` through those two, so `fixed` is what a run pays whatever its
    length (start-up, the final summary). A longer run under that figure would need its later days cheaper than
    its first ones."""
    per_day = (short["cpu"] - shortest["cpu"]) / (days - shortest_days)
    fixed = short["cpu"] - per_day * days
    flat = fixed + per_day * long_days
    return (
        f"  if each of the {long_days:g} days cost what days {shortest_days:g}-{days:g} did"
        f" ({per_day * 1000:.0f} ms of CPU, with {fixed:.1f} s whatever the length):"
        f" {flat:.1f} s, {flat / short['cpu']:.1f}x the {days:g}-day run"
    )


def scaling(short: dict[str, Any], days: float, long: dict[str, Any], long_days: float) -> str:
    """How the time of this tree's simulation grows with its length (both measured in the same call)."""
    lines = [
        f"this tree, {days:g} days against {long_days:g} days ({long_days / days:.1f}x the days):",
        _line("", [], "") + f"{days:>13g}d{long_days:>13g}d{'ratio':>14}",
    ]

    def row(name: str, a: float, b: float, fmt: str = "{:.1f}") -> str:
        return f"  {name:<26}{fmt.format(a):>14}{fmt.format(b):>14}{b / a if a else 0:>13.1f}x"

    lines.append(row("cpu s", short["cpu"], long["cpu"]))
    lines.append(row("wall s", short["wall"], long["wall"]))
    lines.append(row("cpu ms per simulated day", short["cpu"] / days * 1000, long["cpu"] / long_days * 1000, "{:.0f}"))
    lines.append(row("statements per day", short["statements"] / days, long["statements"] / long_days, "{:,.0f}"))
    lines.append("  ms per run of each job:")
    for job in sorted(set(short["jobs"]) | set(long["jobs"])):
        a, b = (r["jobs"].get(job, {"seconds": 0.0, "runs": 0}) for r in (short, long))
        per = [x["seconds"] * 1000 / x["runs"] if x["runs"] else 0.0 for x in (a, b)]
        lines.append(row(f"    {job}", per[0], per[1], "{:.2f}"))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
