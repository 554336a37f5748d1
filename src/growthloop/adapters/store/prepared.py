"""Statements compiled once per dialect and sent straight to the driver (`SqlStore.run`).

SQLAlchemy Core costs about 100 µs a statement here (its cache key, the parameters' construction, the
execution context, the result's metadata), SQLite about 10 µs to run one of the loop's small statements:
the loop sends several thousand a simulated day. A `Prepared` statement keeps, per dialect, the SQL text
that SQLAlchemy compiled, the order of its parameters, their type processors (the UTC datetimes, JSON,
booleans) and the result columns' processors, and hands the driver its cursor call: the same SQL, the
same values, on the same connection and in the same transaction as the rest of the job run.

Only what SQLAlchemy would do at execution and this cannot is left out, so a statement is refused here
(`ValueError`, at its first use) when it has expanding (IN-list) parameters; an insert must name its
values (`.values(col=bindparam(...))`), as column defaults are not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, bindparam, exc, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from growthloop.adapters.store import boundary

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    binds: tuple[tuple[str, str, Any, Processor], ...]  # name, name in the SQL, default, bind processor
    positional: bool
    columns: tuple[str, ...]
    types: tuple[Any, ...]  # the result columns' types, whose processors depend on what the driver describes
    results: dict[tuple[Any, ...], tuple[Processor, ...]]  # by the driver's type codes


class Rows:
    """What a prepared statement returned: the rows (tuples with their columns by name) and its rowcount."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise exc.NoResultFound("expected one row") if not self.rows else exc.MultipleResultsFound("many rows")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [r[0] for r in self.rows]


class _Row(tuple[Any, ...]):
    """A result row: a tuple, with its columns by name as attributes (as SQLAlchemy's rows)."""

    _names: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._names[name]]
        except KeyError:
            raise AttributeError(name) from None


_TUPLES = frozenset(dir(tuple)) | {"_names"}


def _row_type(columns: Sequence[str]) -> type[_Row]:
    """A row class whose columns are read through C-level descriptors (`itemgetter` properties), ten times quicker
    than `__getattr__`; a name a tuple already has (`count`, `index`) resolves as before, to the tuple's."""
    names = {c: i for i, c in enumerate(columns)}
    columns_by_name = {c: property(itemgetter(i)) for c, i in names.items() if c not in _TUPLES}
    return type("Row", (_Row,), {"_names": names, "__slots__": (), **columns_by_name})


class Prepared:
    """One statement, compiled at its first use on each dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[_Compiled, type[_Row]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[_Compiled, type[_Row]]:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled: Any = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared statement cannot have expanding (IN-list) parameters: use or_()")
        processors = compiled._bind_processors
        escaped = getattr(compiled, "escaped_bind_names", None) or {}
        names = list(compiled.positiontup) if compiled.positiontup is not None else list(compiled.binds)
        binds = []
        for name in names:
            bind = compiled.binds[name]
            default = bind.value if not bind.required and bind.callable is None else _REQUIRED
            binds.append((bind.key, escaped.get(name, name), default, processors.get(name)))
        columns = [column.keyname for column in compiled._result_columns]
        types = tuple(column.type for column in compiled._result_columns)
        found = (
            _Compiled(compiled.string, tuple(binds), compiled.positional, tuple(columns), types, {}),
            _row_type(columns),
        )
        self._by_dialect[dialect.name] = found
        return found

    def parameters(self, c: _Compiled, values: Mapping[str, Any]) -> Any:
        out = []
        for key, _, default, process in c.binds:
            value = values[key] if key in values else default
            if value is _REQUIRED:
                raise exc.ArgumentError(f"a value is required for bind parameter {key!r}")
            out.append(value if process is None or value is None else process(value))
        if c.positional:
            return tuple(out)
        return {sql_name: v for (_, sql_name, _, _), v in zip(c.binds, out, strict=True)}

    def run(
        self,
        conn: Connection,
        values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        translate: Callable[[BaseException], Exception | None] | None = None,
    ) -> Rows:
        """Send the statement on `conn`'s driver connection (a list of parameter sets: executemany)."""
        dialect = conn.dialect
        c, row = self._compile(dialect)
        dbapi_conn: Any = conn.connection.dbapi_connection
        cursor = dbapi_conn.cursor()
        try:
            if values is None or isinstance(values, Mapping):
                cursor.execute(c.sql, self.parameters(c, values or {}))
            else:
                cursor.executemany(c.sql, [self.parameters(c, v) for v in values])
            rows: list[Any] = []
            if c.columns and cursor.description is not None:
                codes = tuple(d[1] for d in cursor.description)
                results = c.results.get(codes)
                if results is None:
                    results = tuple(t._cached_result_processor(dialect, code) for t, code in zip(c.types, codes))
                    c.results[codes] = results
                if any(p is not None for p in results):
                    rows = [
                        row(v if p is None or v is None else p(v) for p, v in zip(results, r, strict=True))
                        for r in cursor.fetchall()
                    ]
                else:
                    rows = [row(r) for r in cursor.fetchall()]
            return Rows(rows, cursor.rowcount)
        except dialect.loaded_dbapi.Error as error:
            if translate is not None:
                ours = translate(error)
            else:
                ours = boundary.translate(error, conn.engine.url.render_as_string(hide_password=False), False)
            if ours is not None:
                raise ours from None
            raise exc.DBAPIError.instance(c.sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect) from error
        finally:
            cursor.close()


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


_REQUIRED: Any = _Required()


class PreparedInsert:
    """The insert of rows into `table`, prepared once for each set of columns the rows name; a column a row
    leaves out takes its scalar default (as SQLAlchemy would), or NULL."""

    def __init__(self, table: Table) -> None:
        self.table = table
        scalar = [c for c in table.columns if c.default is not None and c.default.is_scalar]
        self._defaults: dict[str, Any] = {c.name: getattr(c.default, "arg", None) for c in scalar}
        self._by_columns: dict[frozenset[str], Prepared] = {}

    def run(
        self,
        conn: Connection,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        translate: Callable[[BaseException], Exception | None] | None = None,
    ) -> Rows:
        batch = [rows] if isinstance(rows, Mapping) else list(rows)
        if not batch:
            return Rows([], 0)
        names = frozenset().union(*batch) | frozenset(self._defaults)
        prepared = self._by_columns.get(names)
        if prepared is None:
            prepared = Prepared(self.table.insert().values({n: bindparam(n) for n in sorted(names)}))
            self._by_columns[names] = prepared
        if self._defaults or any(len(row) != len(names) for row in batch):
            base = dict.fromkeys(names) | self._defaults
            batch = [base | dict(row) for row in batch]
        return prepared.run(conn, batch, translate)


def no_index(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column` as an expression no index can serve (its value unchanged where it is not NULL): for a query
    that must walk another index, such as (account, id) from the newest row down to a LIMIT, where an index
    on this column would have the database read every matching row of the account first and then sort."""
    return func.coalesce(column, column)
