"""`growthloop db`: the database schema."""

from __future__ import annotations

import typer

from growthloop.cli.common import ConfigOption, DbOption, console, user_errors
from growthloop.cli.session import session

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context, db: DbOption = None, config: ConfigOption = None) -> None:
    """Migrate the database schema to this version of growthloop."""
    with user_errors():
        store = session(ctx).open_store(check=False)
        before = store.current_revision()
        store.upgrade()
        console.print(f"schema {before or '(none)'} -> {store.current_revision()}")
