"""One explicit transaction on a short-lived DuckDB or SQLite connection.

The warehouse (DuckDB) and the alerting outbox (SQLite) make every write one transaction so a failed
write leaves the previous data intact: begin, do the work, commit, or roll back on any exception
(KeyboardInterrupt included) and re-raise. They differ only in how they begin: SQLite's
`BEGIN IMMEDIATE` takes the write lock up front so read-then-write decisions are atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar


class _Executes(Protocol):
    def execute(self, sql: str, /) -> Any: ...


Con = TypeVar("Con", bound=_Executes)


@contextmanager
def transaction(con: Con, begin: str = "BEGIN TRANSACTION") -> Iterator[Con]:
    """Run the block in one transaction on `con`, committed at the end, rolled back on any exception."""
    con.execute(begin)
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
