"""The SQLAlchemy model, the Alembic revisions and databases of the old runner.

One scratch cluster (free port, tmp dir, fsync off) holds a database per case.
The old runner's databases are rebuilt from its SQL files, kept verbatim in
tests/data/legacy_migrations, the way that runner applied them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from benpipe.db.catalog import TableShape, shape_differences, table_shapes
from benpipe.db.lifecycle import DbSettings, connect, engine, start, stop
from benpipe.db.migrate import (
    LEGACY_TABLE,
    alembic_config,
    autogenerate_options,
    script_directory,
    upgrade_schema,
)
from benpipe.db.model import TABLE_NAMES, metadata
from benpipe.db.schema import init_database
from benpipe.errors import DatabaseError

pytestmark = pytest.mark.postgis
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LEGACY_SQL = Path(__file__).resolve().parents[1] / "data" / "legacy_migrations"


class Cluster:
    """A scratch cluster that hands out one fresh database per name."""

    def __init__(self, root: Path) -> None:
        self.settings = DbSettings.scratch(root)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.settings.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
        )

    def database(self, name: str) -> DbSettings:
        """An empty database ``name``, reached as an external server."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return DbSettings.from_mapping(
            {"url": f"postgresql://postgres@127.0.0.1:{self.settings.port}/{name}"}
        )

    def legacy_database(self, name: str) -> DbSettings:
        """A database built by the old runner: V001 + V002 and schema_migrations."""
        settings = self.database(name)
        with self.admin(name) as conn, conn.transaction():
            conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, sha256 text NOT NULL)"
            )
            for path in sorted(LEGACY_SQL.glob("V*.sql")):
                sql = path.read_text(encoding="utf-8")
                version, name_ = path.stem.removeprefix("V").split("__")
                conn.execute(sql.encode("utf-8"))
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                    (int(version), name_, hashlib.sha256(sql.encode()).hexdigest()),
                )
        return settings

    def shapes(self, settings: DbSettings) -> dict[str, TableShape]:
        db = engine(settings)
        try:
            with db.connect() as conn:
                return table_shapes(conn, "public", TABLE_NAMES)
        finally:
            db.dispose()

    def tables(self, name: str) -> set[str]:
        with self.admin(name) as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        return {str(r[0]) for r in rows}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    made = Cluster(tmp_path_factory.mktemp("migrate"))
    try:
        start(made.settings)
        yield made
    finally:
        stop(made.settings)


def _add_rows(cluster: Cluster, name: str) -> None:
    """One product, one patch and its label, as the pipeline writes them."""
    with cluster.admin(name) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO products VALUES ('P', 'T', 32633, 500000, 5300000, 12000,"
            " '2017-06-13T10:10:31Z', 'Summer', '{}', false, 'test')"
        )
        conn.execute(
            "INSERT INTO patches VALUES ('P_00_00', 'P', 0, 0, 32633, 'Summer',"
            " 'train', true, ST_MakeEnvelope(500000, 5298800, 501200, 5300000, 32633),"
            " ST_Transform(ST_MakeEnvelope(500000, 5298800, 501200, 5300000, 32633),"
            " 3035))"
        )
        conn.execute("INSERT INTO patch_labels VALUES ('P_00_00', 'Urban fabric')")


def _revision(cluster: Cluster, name: str) -> list[str]:
    with cluster.admin(name) as conn:
        return [
            str(r[0]) for r in conn.execute("SELECT version_num FROM alembic_version")
        ]


def _upgrade_to(settings: DbSettings, revision: str) -> None:
    """Upgrade ``public`` to ``revision`` only (what an older benpipe left)."""
    db = engine(settings)
    try:
        with db.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        db.dispose()


def test_head_model_and_old_sql_build_identical_tables(cluster: Cluster) -> None:
    fresh = cluster.database("fresh")
    state = upgrade_schema(fresh)
    head = script_directory().get_current_head()
    assert state.revision == head == "0002" and state.outcome == "upgraded"
    assert [m["revision"] for m in state.migrations] == ["0001", "0002"]
    at_0001 = cluster.database("at_0001")
    _upgrade_to(at_0001, "0001")

    from_model = cluster.database("from_model")
    db = engine(from_model)
    try:
        with db.begin() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
            metadata.create_all(conn)
    finally:
        db.dispose()
    old = cluster.legacy_database("old_sql")

    alembic_tables = cluster.shapes(fresh)
    assert sorted(alembic_tables) == sorted(TABLE_NAMES)
    assert shape_differences(cluster.shapes(from_model), alembic_tables) == []
    # the old runner's SQL is revision 0001
    assert shape_differences(cluster.shapes(old), cluster.shapes(at_0001)) == []
    # the facts the stage queries rely on, spelt out
    patches = alembic_tables["patches"]
    assert patches.columns["geom"] == "geometry(Polygon) NOT NULL"
    assert patches.columns["geom_3035"] == "geometry(Polygon,3035) NOT NULL"
    assert patches.constraints["patches_check"] == "CHECK ((st_srid(geom) = epsg))"
    assert patches.constraints["patches_product_id_col_row_key"] == (
        'UNIQUE (product_id, col, "row")'
    )
    assert "USING gist (geom_3035)" in patches.indexes["patches_geom_3035_gist"]
    assert alembic_tables["countries"].columns["geom"] == (
        "geometry(MultiPolygon,4326) NOT NULL"
    )
    assert alembic_tables["clc_polygons"].columns["geom"] == (
        "geometry(Polygon,3035) NOT NULL"
    )
    pieces = alembic_tables["clc_subdivided"]
    assert pieces.constraints["clc_subdivided_clc_id_part_fkey"] == (
        "FOREIGN KEY (clc_id, part) REFERENCES clc_polygons(clc_id, part) "
        "ON DELETE CASCADE"
    )
    assert "USING gist (geom)" in pieces.indexes["clc_subdivided_geom_gist"]
    with cluster.admin("fresh") as conn:
        assert conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
        ).fetchone()


def test_autogenerate_sees_no_difference_between_head_and_model(
    cluster: Cluster,
) -> None:
    settings = cluster.database("autogen")
    upgrade_schema(settings)
    db = engine(settings)
    try:
        with db.connect() as conn:
            options = autogenerate_options()
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_object": options["include_object"],
                    "compare_type": True,
                },
            )
            assert compare_metadata(context, metadata) == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent_and_concurrent_runs_wait(cluster: Cluster) -> None:
    settings = cluster.database("concurrent")
    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(upgrade_schema(settings).revision)
        except Exception as exc:  # reported through the assertion below
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["0002", "0002", "0002"]
    assert upgrade_schema(settings).outcome == "upgraded"
    assert _revision(cluster, "concurrent") == ["0002"]


def test_old_runner_database_is_adopted_with_its_rows(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cluster.legacy_database("legacy")
    _add_rows(cluster, "legacy")
    with caplog.at_level(logging.INFO):
        info = init_database(settings)
    assert info["schema_revision"] == "0002"  # adopted at 0001, then upgraded
    assert "managed by Alembic at that revision" in caplog.text
    assert "all its data is kept" in caplog.text
    assert _revision(cluster, "legacy") == ["0002"]
    assert LEGACY_TABLE not in cluster.tables("legacy")
    with cluster.admin("legacy") as conn:
        assert conn.execute("SELECT patch_id, label FROM patch_labels").fetchall() == [
            ("P_00_00", "Urban fabric")
        ]
    assert upgrade_schema(settings).outcome == "upgraded"  # now an Alembic database


def test_old_runner_database_that_differs_is_left_alone_then_rebuilt(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cluster.legacy_database("drifted")
    _add_rows(cluster, "drifted")
    with cluster.admin("drifted") as conn:
        conn.execute("DROP INDEX patches_epsg_season")
    before = cluster.tables("drifted")
    with pytest.raises(DatabaseError) as refused:
        init_database(settings)
    message = str(refused.value)
    assert "index patches_epsg_season is missing" in message
    assert "benpipe left the database unchanged" in message
    assert "patches (1 row)" in message and "patch_labels (1 row)" in message
    assert "benpipe db up --rebuild" in message and "results/db/schema.json" in message
    assert cluster.tables("drifted") == before  # nothing dropped, nothing stamped
    assert "alembic_version" not in before

    with caplog.at_level(logging.WARNING):
        init_database(settings, rebuild=True)
    assert "rebuilt" in caplog.text and "that data is gone" in caplog.text
    assert "patches (1 row)" in caplog.text
    assert _revision(cluster, "drifted") == ["0002"]
    assert LEGACY_TABLE not in cluster.tables("drifted")
    with cluster.admin("drifted") as conn:
        assert conn.execute("SELECT count(*) FROM patches").fetchone() == (0,)
    reference = cluster.database("reference")
    upgrade_schema(reference)
    assert shape_differences(cluster.shapes(settings), cluster.shapes(reference)) == []


def test_unknown_old_runner_history_is_refused(cluster: Cluster) -> None:
    settings = cluster.legacy_database("v003")
    with cluster.admin("v003") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (3, 'later', 'x')")
    with pytest.raises(DatabaseError, match="schema_migrations records"):
        upgrade_schema(settings)


def test_database_of_a_newer_benpipe_is_refused(cluster: Cluster) -> None:
    settings = cluster.database("newer")
    upgrade_schema(settings)
    with cluster.admin("newer") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(DatabaseError, match="newer benpipe"):
        upgrade_schema(settings)


def test_a_0001_database_with_rows_upgrades_to_0002(cluster: Cluster) -> None:
    """What an earlier benpipe left: rows kept, except the CLC pieces."""
    settings = cluster.database("at_0001_rows")
    _upgrade_to(settings, "0001")
    _add_rows(cluster, "at_0001_rows")
    with cluster.admin("at_0001_rows") as conn:
        conn.execute(
            "INSERT INTO clc_polygons VALUES ('EU_1', 1, 311, NULL, 1.0, "
            "ST_MakeEnvelope(4e6, 3e6, 4.001e6, 3.001e6, 3035))"
        )
    state = upgrade_schema(settings)
    assert state.revision == "0002" and state.outcome == "upgraded"
    with cluster.admin("at_0001_rows") as conn:
        assert conn.execute("SELECT patch_id, label FROM patch_labels").fetchall() == [
            ("P_00_00", "Urban fabric")
        ]
        # 0001 stored subdivided pieces there: deleted, ingest_clc reloads them
        assert conn.execute("SELECT count(*) FROM clc_polygons").fetchone() == (0,)
        for table in ("clc_subdivided", "input_sources", "run_owner"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    reference = cluster.database("reference_0002")
    upgrade_schema(reference)
    assert shape_differences(cluster.shapes(settings), cluster.shapes(reference)) == []


def test_a_run_schema_next_to_an_old_public_one(cluster: Cluster) -> None:
    """A run's schema is built beside ``public`` tables, which stay untouched."""
    public = cluster.database("beside")
    _upgrade_to(public, "0001")
    _add_rows(cluster, "beside")
    run = dataclasses.replace(public, schema="benpipe_run_a")
    info = init_database(run, owner="/work/run-a")
    assert info["schema"] == "benpipe_run_a" and info["schema_revision"] == "0002"
    with cluster.admin("beside") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0001",)
        ]
        assert conn.execute("SELECT count(*) FROM public.patches").fetchone() == (1,)
        assert conn.execute(
            "SELECT count(*) FROM benpipe_run_a.patches"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT version_num FROM benpipe_run_a.alembic_version"
        ).fetchall() == [("0002",)]
        # PostGIS stayed in public
        assert conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'postgis'"
        ).fetchone() == ("public",)
    with connect(run) as conn:
        assert conn.execute("SELECT count(*) FROM patches").fetchone() == (0,)
    # the same run again: fine; another run in that schema: refused
    init_database(run, owner="/work/run-a")
    with pytest.raises(DatabaseError, match="belongs to the run in /work/run-a"):
        init_database(run, owner="/work/run-b")


def test_a_missing_run_schema_is_named_not_fallen_through(cluster: Cluster) -> None:
    settings = cluster.database("no_schema")
    _upgrade_to(settings, "0001")  # public has benpipe tables
    missing = dataclasses.replace(settings, schema="benpipe_gone")
    with pytest.raises(DatabaseError, match="schema benpipe_gone on .* does not exist"):
        connect(missing)
