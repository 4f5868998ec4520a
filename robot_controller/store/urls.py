"""Which store URLs fmd-robot can use: a SQLite file or a PostgreSQL server (psycopg 3)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
_KINDS = "sqlite:///PATH (a file) or postgresql://USER@HOST/DATABASE"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a store (None: it can), in words for the operator."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"not a database URL: give {_KINDS}"
    if parsed.drivername not in _DRIVERS:
        return f"{parsed.drivername} is not a store fmd-robot can use: give {_KINDS}"
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return f"a store in memory is lost when the process ends: give {_KINDS}"
    return None
