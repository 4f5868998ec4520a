"""`fmd-robot users`: a token printed once and kept only as its hash, listed, revoked, audited."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from robot_controller.cli import app
from robot_controller.store import Store
from robot_controller.users import token_hash

runner = CliRunner()


def _config(folder: Path) -> tuple[Path, str]:
    url = f"sqlite:///{folder / 'fmd-robot.db'}"
    path = folder / "site.toml"
    path.write_text(f'[site]\nlocation = "ward-7"\n[store]\nurl = "{url}"\n', encoding="utf-8")
    return path, url


def test_a_new_user_gets_a_token_once_and_the_store_keeps_only_its_hash(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    added = runner.invoke(app, ["users", "add", "Anna Berg", "--role", "compliance",
                                "--actor", "admin", "--config", str(config)])  # fmt: skip
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("fmd_co_")
    assert "shown once" in added.stderr
    store = Store.open(url)
    try:
        user = store.user_by_token(token)
        assert user is not None
        assert user.name == "Anna Berg"
        with store.engine.connect() as conn:
            dump = "\n".join(
                repr(tuple(row)) for row in conn.exec_driver_sql("SELECT * FROM web_users")
            )
        assert token not in dump
        assert token_hash(token) in dump
    finally:
        store.close()
    listed = runner.invoke(app, ["users", "list", "--json", "--config", str(config)])
    row = json.loads(listed.stdout)
    assert row["name"] == "Anna Berg"
    assert row["role"] == "compliance"
    assert row["revoked_at"] is None
    assert token not in listed.stdout


def test_a_name_is_one_person_a_revoked_one_too(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    runner.invoke(app, ["users", "add", "ben", "--role", "operator", "--config", str(config)])
    twice = runner.invoke(app, ["users", "add", "ben", "--role", "admin", "--config", str(config)])
    assert twice.exit_code == 2
    assert "exists already" in twice.stderr
    revoked = runner.invoke(app, ["users", "revoke", "ben", "--reason", "left the ward",
                                  "--config", str(config)])  # fmt: skip
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["users", "revoke", "ben", "--reason", "x", "--config", str(config)])
    assert again.exit_code == 2
    assert "revoked already" in again.stderr
    reused = runner.invoke(
        app, ["users", "add", "ben", "--role", "operator", "--config", str(config)]
    )
    assert reused.exit_code == 2


def test_refusals_are_one_line(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    cases = [
        (["users", "add", "x", "--role", "root"], "root"),
        (["users", "add", "\x1b[31mred", "--role", "admin"], "control character"),
        (["users", "add", "  ", "--role", "admin"], "user name"),
        (["users", "revoke", "nobody", "--reason", "x"], "does not exist"),  # no store yet
        (["users", "revoke", "nobody", "--reason", " "], "say why"),
    ]
    for args, words in cases:
        result = runner.invoke(app, [*args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_every_change_of_access_is_in_the_audit_log_with_who_made_it(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    runner.invoke(app, ["users", "add", "cara", "--role", "admin", "--actor", "it-desk",
                        "--config", str(config)])  # fmt: skip
    runner.invoke(app, ["users", "revoke", "cara", "--reason", "token shared", "--actor",
                        "it-desk", "--config", str(config)])  # fmt: skip
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            rows = list(conn.exec_driver_sql(
                "SELECT actor, action, subject, why FROM audit_events ORDER BY id"))  # fmt: skip
        assert store.check_audit_chain().ok
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [
        ("it-desk", "user.added", "user:cara", "access granted"),
        ("it-desk", "user.revoked", "user:cara", "token shared"),
    ]
