"""Embedded-cluster settings, migrations and the `benpipe db` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.db.lifecycle import (
    DbSettings,
    connect,
    free_port,
    server_options,
    status,
    stop,
    stop_if_embedded,
)
from benpipe.db.migrations import apply_migrations, available_migrations

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def test_server_options_keep_fsync_unless_unsafe_fast() -> None:
    safe = server_options(port=55555)
    assert "fsync" not in safe and safe["listen_addresses"] == "127.0.0.1"
    assert safe["unix_socket_directories"] == ""
    assert int(safe["max_parallel_workers"]) >= 1
    assert int(safe["shared_buffers"].removesuffix("MB")) <= 4096
    fast = server_options(port=55555, unsafe_fast=True)
    assert fast["fsync"] == "off"


def test_settings_from_config_section_never_carry_a_password() -> None:
    embedded = DbSettings.from_mapping(
        {"url": None, "port": 55999, "embedded_dir": "x/pg"}
    )
    assert embedded.kind == "embedded"
    assert "password" not in embedded.conninfo and "port=55999" in embedded.conninfo
    external = DbSettings.from_mapping({"url": "postgresql://ben@db.example:5432/ben"})
    assert external.kind == "external"
    assert external.redacted_target() == "external db.example:5432/ben"


def test_stop_if_embedded_leaves_external_and_kept_servers_alone(
    tmp_path: Path,
) -> None:
    # neither call may touch (or create) the embedded folder
    stop_if_embedded({"url": "postgresql://ben@127.0.0.1:1/x"})
    stop_if_embedded({"embedded_dir": str(tmp_path / "pg"), "keep_running": True})
    stop_if_embedded({"embedded_dir": str(tmp_path / "never")})
    assert not (tmp_path / "pg").exists() and not (tmp_path / "never").exists()


def test_migrations_are_versioned_files_in_order() -> None:
    migrations = available_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1 and "postgis" in migrations[0].sql.lower()


@pytest.mark.postgis
def test_db_commands_and_idempotent_migrations(tmp_path: Path) -> None:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    port = free_port()
    args = ["--embedded-dir", str(tmp_path / "pg"), "--port", str(port)]
    runner = CliRunner()
    try:
        up = runner.invoke(main, ["db", "up", *args])
        assert up.exit_code == 0, up.output
        assert '"server_kind": "embedded"' in up.stdout
        again = runner.invoke(main, ["db", "up", *args])  # reuse the running server
        assert again.exit_code == 0 and again.stdout == up.stdout
        settings = DbSettings(embedded_dir=tmp_path / "pg", port=port)
        with connect(settings) as conn:
            applied = apply_migrations(conn)
            assert [m["version"] for m in applied] == [
                m.version for m in available_migrations()
            ]
            listen = conn.execute("SHOW listen_addresses").fetchone()
            assert listen == ("127.0.0.1",)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
        url = runner.invoke(main, ["db", "url", *args])
        assert (
            url.stdout.strip() == f"postgresql://postgres@127.0.0.1:{port}/bigearthnet"
        )
        assert status(settings)["running"] is True
        down = runner.invoke(main, ["db", "down", *args])
        assert down.stdout.strip() == "stopped"
        assert status(settings)["running"] is False
    finally:
        stop(DbSettings(embedded_dir=tmp_path / "pg", port=port))
