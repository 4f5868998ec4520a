"""The triggers that keep the audit tables append-only, on SQLite and PostgreSQL.

UPDATE is refused on `audit_events`, `audit_checkpoints` and `audit_prunes`; DELETE too, except
of audit events a recorded prune has cut (`audit_prunes.through_seq`), and on PostgreSQL
TRUNCATE as well (it fires no DELETE trigger). A guard-rail, not security: whoever can write
the database can drop a trigger, which is why the chain and its signed checkpoints exist.
"""

from __future__ import annotations

from collections.abc import Callable

APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_prunes")
REFUSED = "is append-only"
_PRUNED = "(SELECT coalesce(max(through_seq), 0) FROM audit_prunes)"


def _sqlite() -> list[str]:
    statements = []
    for table in APPEND_ONLY:
        statements.append(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} {REFUSED}'); END"
        )
        when = f" WHEN OLD.id > {_PRUNED}" if table == "audit_events" else ""
        statements.append(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}{when} "
            f"BEGIN SELECT RAISE(ABORT, '{table} {REFUSED}'); END"
        )
    return statements


def _postgresql() -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION fmd_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events' "
        f"AND OLD.id <= {_PRUNED} THEN RETURN OLD; END IF; "
        f"RAISE EXCEPTION '% {REFUSED}', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; "
        "END $$"
    ]
    for table in APPEND_ONLY:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fmd_append_only()"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fmd_append_only()"
        )
    return statements


def _sqlite_drop() -> list[str]:
    kinds = ("update", "delete")
    return [f"DROP TRIGGER IF EXISTS {t}_no_{kind}" for t in APPEND_ONLY for kind in kinds]


def _postgresql_drop() -> list[str]:
    drops = [
        f"DROP TRIGGER IF EXISTS {t}_{what} ON {t}"
        for t in APPEND_ONLY
        for what in ("append_only", "no_truncate")
    ]
    return [*drops, "DROP FUNCTION IF EXISTS fmd_append_only()"]


_INSTALL: dict[str, Callable[[], list[str]]] = {"sqlite": _sqlite, "postgresql": _postgresql}
_DROP: dict[str, Callable[[], list[str]]] = {"sqlite": _sqlite_drop, "postgresql": _postgresql_drop}


def install_statements(dialect: str) -> list[str]:
    """The DDL that makes the audit tables append-only on this dialect."""
    return _INSTALL[dialect]()


def drop_statements(dialect: str) -> list[str]:
    """The DDL that removes those triggers (a downgrade; what an attacker with access does)."""
    return _DROP[dialect]()
