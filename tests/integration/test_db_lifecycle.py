"""Embedded-cluster settings, external servers with a password, `benpipe db`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.db.ingest import ingest_countries
from benpipe.db.lifecycle import (
    DbSettings,
    connect,
    free_port,
    server_options,
    start,
    status,
    stop,
    stop_if_embedded,
)
from benpipe.db.schema import init_database
from benpipe.demo.world import write_countries
from benpipe.errors import DatabaseError
from benpipe.runsettings import default_db_schema

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "pgpass-Secr3t-7781"


def test_server_options_keep_fsync_unless_unsafe_fast() -> None:
    safe = server_options(port=55555)
    assert "fsync" not in safe and safe["listen_addresses"] == "127.0.0.1"
    assert safe["unix_socket_directories"] == ""
    assert int(safe["max_parallel_workers"]) >= 1
    assert int(safe["shared_buffers"].removesuffix("MB")) <= 4096
    fast = server_options(port=55555, unsafe_fast=True)
    assert fast["fsync"] == "off"


def test_stop_if_embedded_leaves_external_and_kept_servers_alone(
    tmp_path: Path,
) -> None:
    # neither call may touch (or create) the embedded folder
    stop_if_embedded({"url": "postgresql://ben@127.0.0.1:1/x"})
    stop_if_embedded({"embedded_dir": str(tmp_path / "pg"), "keep_running": True})
    stop_if_embedded({"embedded_dir": str(tmp_path / "never")})
    assert not (tmp_path / "pg").exists() and not (tmp_path / "never").exists()


@pytest.mark.postgis
def test_db_commands_and_idempotent_migrations(tmp_path: Path) -> None:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    port = free_port()
    args = [
        *("--embedded-dir", str(tmp_path / "pg"), "--port", str(port)),
        *("--directory", str(tmp_path)),
    ]
    schema = default_db_schema(tmp_path)
    runner = CliRunner()
    try:
        up = runner.invoke(main, ["db", "up", *args])
        assert up.exit_code == 0, up.output
        info = json.loads(up.stdout)
        assert info["server_kind"] == "embedded" and info["schema_revision"] == "0002"
        assert info["schema"] == schema
        again = runner.invoke(main, ["db", "up", *args])  # reuse the running server
        assert again.exit_code == 0 and again.stdout == up.stdout
        settings = DbSettings(embedded_dir=tmp_path / "pg", port=port, schema=schema)
        with connect(settings) as conn:
            revision = conn.execute("SELECT version_num FROM alembic_version")
            assert revision.fetchall() == [("0002",)]
            owner = conn.execute("SELECT working_dir FROM run_owner").fetchall()
            assert owner == [(str(tmp_path.resolve()),)]
            listen = conn.execute("SHOW listen_addresses").fetchone()
            assert listen == ("127.0.0.1",)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
        url = runner.invoke(main, ["db", "url", *args])
        assert url.stdout.strip() == (
            f"postgresql://postgres@127.0.0.1:{port}/bigearthnet"
            f"?options=-csearch_path%3D{schema}%2Cpublic"
        )
        # psql with that URL sees the run's tables
        psql = subprocess.run(
            [
                str(PG_BIN / "psql"),
                url.stdout.strip(),
                "-Atc",
                "SELECT * FROM run_owner",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert psql.stdout.strip() == str(tmp_path.resolve())
        listed = runner.invoke(main, ["db", "runs", *args])
        assert [r["schema"] for r in json.loads(listed.stdout)] == [schema]
        assert status(settings)["running"] is True
        down = runner.invoke(main, ["db", "down", *args])
        assert down.stdout.strip() == "stopped"
        assert status(settings)["running"] is False
    finally:
        stop(DbSettings(embedded_dir=tmp_path / "pg", port=port))


# ---------------------------------------------------------------- external + password
@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A scratch cluster with role ``ben`` that must give a password (scram).

    Its database ``bendb`` belongs to ``ben``; PostGIS is installed by the
    superuser, as a DBA would.  Loopback stays trusted for ``postgres``.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    root = tmp_path_factory.mktemp("protected")
    admin = DbSettings.scratch(root)
    try:
        start(admin)
        hba = admin.data_dir / "pg_hba.conf"
        hba.write_text(
            "host all ben 127.0.0.1/32 scram-sha-256\n" + hba.read_text(),
            encoding="utf-8",
        )
        for dbname, statements in (
            (
                "postgres",
                (
                    f"CREATE ROLE ben LOGIN PASSWORD '{SECRET}'",
                    "CREATE DATABASE bendb OWNER ben",
                    "SELECT pg_reload_conf()",
                ),
            ),
            ("bendb", ("CREATE EXTENSION postgis",)),
        ):
            with psycopg.connect(
                host="127.0.0.1",
                port=admin.port,
                user="postgres",
                dbname=dbname,
                autocommit=True,
            ) as conn:
                for statement in statements:
                    conn.execute(statement)
        url = f"postgresql://ben@127.0.0.1:{admin.port}/bendb"
        yield {"url": url, "root": root, "port": admin.port}
    finally:
        stop(admin)


@pytest.fixture()
def no_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PGPASSWORD, and a password file that does not exist."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


@pytest.mark.postgis
def test_external_server_without_a_password_says_where_to_put_it(
    protected: dict[str, object], no_password: None
) -> None:
    settings = DbSettings.from_mapping({"url": protected["url"]})
    with pytest.raises(DatabaseError, match="PGPASSWORD or ~/.pgpass") as caught:
        init_database(settings)
    assert "external postgresql+psycopg://ben@127.0.0.1" in str(caught.value)


@pytest.mark.postgis
def test_pgpass_file_gives_the_password_and_it_is_never_shown(
    protected: dict[str, object],
    no_password: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{protected['port']}:bendb:ben:{SECRET}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    config = tmp_path / "config.yaml"
    # a role that is not a superuser creates the run's schema (it owns the db)
    section = {"url": protected["url"], "schema": "benpipe_ext"}
    config.write_text(yaml.safe_dump({"database": section}))
    settings = DbSettings.from_mapping(section)
    receipt = tmp_path / "schema.json"
    with caplog.at_level(logging.DEBUG):
        info = init_database(settings, receipt=receipt)
        with connect(settings) as conn:  # what the stage code uses
            assert conn.execute("SELECT current_user").fetchone() == ("ben",)
    assert info["server_kind"] == "external" and info["schema_revision"] == "0002"
    assert (
        "schema benpipe_ext ready on external postgresql+psycopg://ben@127.0.0.1"
        in caplog.text
    )
    runner = CliRunner()
    url = runner.invoke(main, ["db", "url", "--config", str(config)])
    assert url.stdout.strip() == (
        f"{protected['url']}?options=-csearch_path%3Dbenpipe_ext%2Cpublic"
    )
    state = runner.invoke(main, ["db", "status", "--config", str(config)])
    assert json.loads(state.stdout)["running"] is True
    _assert_no_secret(
        caplog.text, receipt.read_text(), json.dumps(info), url.output, state.output
    )


@pytest.mark.postgis
def test_pgpassword_gives_the_password(
    protected: dict[str, object], no_password: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    settings = DbSettings.from_mapping({"url": protected["url"]})
    assert status(settings)["running"] is True
    with connect(settings) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("ben",)


def test_a_url_with_a_password_is_refused_by_the_commands(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    url = f"postgresql://ben:{SECRET}@127.0.0.1:5432/bendb"
    config.write_text(yaml.safe_dump({"database": {"url": url}}))
    for command in ("url", "up", "status"):
        result = CliRunner().invoke(main, ["db", command, "--config", str(config)])
        assert result.exit_code != 0
        assert "database.url contains a password" in result.output
        assert "PGPASSWORD" in result.output
        _assert_no_secret(result.output, str(result.exception))


# ---------------------------------------------------------------- crash recovery
@pytest.mark.postgis
def test_a_killed_postmaster_is_detected_and_the_next_job_restarts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL the embedded postmaster mid-query, then run a DB job.

    The dead postmaster stays a zombie here (PID 1 does not reap it), so
    ``pg_ctl status`` still finds it; a backend busy in a long query outlives
    it and holds the shared memory.  The next job must restart the server at
    once, not wait 30 s for connections and fail.
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    settings = DbSettings.scratch(tmp_path)
    countries = tmp_path / "countries.geojson"
    write_countries(countries)
    try:
        init_database(settings)
        ingest_countries(settings, countries)
        busy_started = threading.Event()

        def busy() -> None:
            with contextlib.suppress(psycopg.Error), connect(settings) as conn:
                busy_started.set()
                conn.execute("SELECT count(*) FROM generate_series(1, 5e8::bigint)")

        worker = threading.Thread(target=busy, daemon=True)
        worker.start()
        assert busy_started.wait(10)
        time.sleep(0.5)
        postmaster = int((settings.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        time.sleep(0.2)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            info = ingest_countries(settings, countries)  # the next DB job
        elapsed = time.monotonic() - started
        assert info["rows"] == 10
        assert elapsed < 15, f"the job took {elapsed:.0f} s to get a server"
        assert f"postmaster (pid {postmaster}) is gone or has died" in caplog.text
        assert "outlived their postmaster" in caplog.text
        with connect(settings) as conn:  # committed data survived the crash
            assert conn.execute("SELECT count(*) FROM countries").fetchone() == (10,)
        worker.join(10)
    finally:
        stop(settings)
