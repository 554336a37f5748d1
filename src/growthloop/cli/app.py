"""growthloop's commands (SPEC §7): the Typer application, its root callback, and where each command lives.

Each command group has its module (init, simulate, run, bench, status, doctor, posts, jobs, learn, db,
replies, web); cli/render.py shows what they fetch; cli/session.py builds the settings and the store once per
command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from growthloop.cli import db, jobs, learn, replies
from growthloop.cli.bench import bench
from growthloop.cli.common import DEBUG, OneLineErrors
from growthloop.cli.doctor import doctor
from growthloop.cli.init import init
from growthloop.cli.posts import posts
from growthloop.cli.run import run
from growthloop.cli.session import Session
from growthloop.cli.simulate import simulate
from growthloop.cli.status import status
from growthloop.cli.web import register as register_web

app = typer.Typer(
    help="Run a social media account as a closed learning loop: plan, write, post, measure, attribute, learn.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


def main() -> None:
    app()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option(DEBUG, help="Show a bug's traceback (a mistake in the input is always one line).")
    ] = False,
) -> None:
    """--debug is read by OneLineErrors, which handles what a command raises. The Session is filled by the
    command's --config, --db and --account as they are parsed, after this runs."""
    ctx.obj = Session()


# The order of registration is the order of `growthloop --help`.
register_web(app)  # serve, bench-web: the dashboard
app.command()(init)
app.command()(simulate)
app.command()(run)
app.command()(bench)
app.command()(status)
app.command()(doctor)
app.command()(posts)
app.add_typer(jobs.app, name="jobs")
app.add_typer(learn.app, name="learn")
app.add_typer(db.app, name="db")
app.add_typer(replies.app, name="replies")
