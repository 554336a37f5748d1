"""Where the database's errors become ours: a bad URL, a server that is down, a database that does not exist,
a file that is not SQLite or is damaged, a table dropped by hand. Each ends as one `StoreError` (or
`SchemaError`) line naming the database, with its password hidden; the driver's exception never reaches the
user. Errors that are not the user's (an integrity error, a lock held too long) pass through unchanged.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext, make_url

from growthloop.errors import SchemaError, StoreError

SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

# SQLSTATE classes and codes that mean the database as given cannot be used (PostgreSQL).
_PG_PROBLEMS = {
    "08": "cannot connect",  # connection exceptions
    "28": "cannot log in",  # invalid authorization
    "3D": "no such database",
    "42P01": "a table is missing: it was changed by hand or is not a growthloop database",
    "42703": "a column is missing: it was changed by hand or is not a growthloop database",
    "42501": "permission denied",
    "53": "the server is out of resources (disk full, too many connections)",
    "57P": "the server is shutting down or refused the connection",
}
# SQLite messages (the sqlite3 module gives no codes before Python 3.11's sqlite_errorname) and what they mean.
_SQLITE_PROBLEMS = (
    ("file is not a database", "is not a SQLite database"),
    ("database disk image is malformed", "is damaged (database disk image is malformed): restore a backup"),
    ("unable to open database file", "cannot be opened (does its directory exist, and may it be written?)"),
    ("no such table", "a table is missing ({detail}): it was changed by hand or is not a growthloop database"),
    ("no such column", "a column is missing ({detail}): it was changed by hand or is not a growthloop database"),
    ("attempt to write a readonly database", "is read-only (check the file's permissions)"),
    ("database or disk is full", "the disk is full"),
    ("disk i/o error", "cannot be read or written (disk I/O error)"),
)


def scrub_url(url: str) -> str:
    """The URL without its password, also when SQLAlchemy cannot parse it."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL too broken to parse: hide whatever sits between 'user:' and '@'
        return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


def refuse_bad_url(url: str, exc: Exception) -> StoreError:
    """create_engine refused the URL: an unknown scheme, a driver not installed, a URL it cannot parse."""
    shown = scrub_url(url)
    if isinstance(exc, ImportError):
        problem = f"its driver is not installed ({_one_line(str(exc))})"
    else:
        problem = "not a database URL this growthloop can use (a SQLite path, sqlite:///FILE or postgresql://...)"
    return StoreError(f"database {shown}: {problem}")


def check_sqlite_file(path: Path, shown: str, create: bool) -> None:
    """Look at a SQLite file before connecting, because connecting writes: it creates a missing file and turns an
    empty one into a database. `create` (init, db upgrade) allows a missing file in an existing directory."""
    if path.is_dir():
        raise StoreError(f"database {shown}: {path} is a directory, not a SQLite file")
    if not path.exists():
        if not path.absolute().parent.is_dir():
            raise StoreError(f"database {shown}: the directory {path.absolute().parent} does not exist")
        if not create:
            raise SchemaError(f"database {path} is not initialised (no such file); run: growthloop init --db {path}")
        return
    try:
        with path.open("rb") as fh:
            header = fh.read(100)  # the database header: magic string, then page size (big-endian) at 16
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"database {shown}: cannot be read ({exc.strerror})") from None
    if not header:
        if not create:
            raise SchemaError(f"database {shown} is not initialised (it is an empty file); run: growthloop init")
        return  # SQLite makes a database of an empty file
    if not header.startswith(SQLITE_HEADER):
        raise StoreError(f"database {shown}: is not a SQLite database (the file does not start with its header)")
    page = int.from_bytes(header[16:18], "big") if len(header) >= 18 else 0
    page = 65536 if page == 1 else page
    if page < 512 or size % page:  # SQLite would read a cut file as an empty database, and init would write it
        raise StoreError(f"database {shown}: is damaged (truncated to {size} bytes, not whole pages): restore a backup")


def translate(exc: BaseException, url: str, connecting: bool, readonly: bool = False) -> StoreError | None:
    """Our error for a driver's exception when it is about the database as given, else None. A write refused by
    a connection opened read-only on purpose is a bug, not the user's file permissions: it passes unchanged."""
    if readonly and ("readonly database" in str(exc) or getattr(exc, "sqlstate", None) == "25006"):
        return None
    shown = scrub_url(url)
    message = _one_line(str(exc))
    password = _password(url)
    if password:
        message = message.replace(password, "***")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        lowered = message.lower()
        for needle, problem in _SQLITE_PROBLEMS:
            if needle in lowered:
                return StoreError(f"database {shown}: {problem.format(detail=message)}")
        return None
    sqlstate = getattr(exc, "sqlstate", None) or ""
    for prefix, problem in _PG_PROBLEMS.items():
        if sqlstate.startswith(prefix):
            return StoreError(f"database {shown}: {problem}: {message}")
    if connecting and type(exc).__name__ == "OperationalError":
        # psycopg gives no SQLSTATE when the server is unreachable (refused, unknown host, timed out)
        return StoreError(f"database {shown}: cannot connect: {message}")
    return None


def translate_errors(engine: Engine, url: str, readonly: bool) -> None:
    """Every error of this engine's driver passes here first (SQLAlchemy's handle_error hook)."""

    def handle(ctx: ExceptionContext) -> None:
        ours = translate(ctx.original_exception, url, connecting=ctx.connection is None, readonly=readonly)
        if ours is not None:
            raise ours from None

    event.listen(engine, "handle_error", handle)


def read_only_connect_args(dialect: str) -> dict[str, Any]:
    """PostgreSQL refuses every write of a read-only command's session."""
    return {"options": "-c default_transaction_read_only=on"} if dialect == "postgresql" else {}
