"""Lifecycle of the embedded PostGIS cluster, and connections to either server.

Two modes (``database`` config section):

* **embedded** (``url`` null, the default): a private PostgreSQL 15 + PostGIS
  cluster under ``embedded_dir`` (``data/`` holds the cluster, ``server.log``
  its log).  It listens on ``127.0.0.1:<port>`` only (no Unix socket), trusts
  loopback connections as user ``postgres`` and is sized to the machine.  When
  run as root, ``initdb``/``pg_ctl`` run as the ``postgres`` system user via
  ``runuser``; the data folder is chowned to it and every parent folder gets
  the traversal bit (``o+x``) if it lacks it.  Starting is idempotent (a
  running server is reused, a stale ``postmaster.pid`` is removed) and
  serialised across processes with a lock file.
* **external** (``url`` set, e.g. ``postgresql://ben@dbhost:5432/bigearthnet``):
  benpipe never starts or stops it; the password comes from ``PGPASSWORD`` or
  ``~/.pgpass`` (libpq), never from the config (:mod:`benpipe.db.url`).

Every run keeps its tables in its own PostgreSQL schema (``schema``, by
default named after the run's working directory, see
:func:`benpipe.runsettings.default_db_schema`), so runs that share a server
never read each other's rows.  Stage code gets psycopg 3 connections from
:func:`connect` (queries, COPY) whose ``search_path`` starts with that
schema; migrations use a SQLAlchemy :func:`engine` on the same URL.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.sql import Identifier
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from benpipe.db import sql
from benpipe.db.url import embedded_url, parse_database_url, psycopg_params, render_url
from benpipe.errors import ConfigError, DatabaseError

log = logging.getLogger(__name__)

#: Where Debian puts the PostgreSQL 15 server binaries.
DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: Database created inside the embedded cluster.
EMBEDDED_DBNAME = "bigearthnet"
EMBEDDED_USER = "postgres"
_SYSTEM_USER = "postgres"
_GIB = 1024**3
#: Seconds libpq waits for a server (unless the URL sets connect_timeout).
CONNECT_TIMEOUT_S = 10
#: A run's schema: a plain, lower-case PostgreSQL identifier (no quoting).
SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (scratch clusters, emulators)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class DbSettings:
    """The ``database`` config section as a typed value.

    ``url`` is the external server's URL (parsed, never with a password) or
    None for the embedded cluster.  ``schema`` holds every table of the run
    (a pipeline run always names its own, see
    :func:`benpipe.runsettings.default_db_schema`; ``public`` is the default
    for library callers such as tests and benchmarks).  ``unsafe_fast``
    (fsync, synchronous_commit and full_page_writes off) is for throwaway
    test clusters only; a crash can corrupt such a cluster.
    """

    url: URL | None = None
    embedded_dir: Path = Path("results/db/pg")
    port: int = 55433
    keep_running: bool = False
    unsafe_fast: bool = False
    pg_bin: Path = DEFAULT_PG_BIN
    schema: str = "public"

    def __post_init__(self) -> None:
        if not SCHEMA_RE.match(self.schema):
            raise ConfigError(
                f"database.schema {self.schema!r} is not a plain PostgreSQL "
                "identifier: use lower-case letters, digits and _ (at most 63, "
                "not starting with a digit), e.g. benpipe_myrun"
            )

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> DbSettings:
        """Build from the ``database`` config section (or rule params).

        Raises ConfigError for a ``url`` that is not a PostgreSQL URL or that
        contains a password.
        """
        text = section.get("url")
        return cls(
            url=parse_database_url(str(text)) if text else None,
            embedded_dir=Path(section.get("embedded_dir", "results/db/pg")),
            port=int(section.get("port", 55433)),
            keep_running=bool(section.get("keep_running", False)),
            unsafe_fast=bool(section.get("unsafe_fast", False)),
            schema=str(section.get("schema") or "public"),
        )

    @classmethod
    def scratch(cls, directory: Path) -> DbSettings:
        """A throwaway embedded cluster under ``directory`` on a free port.

        fsync off (``unsafe_fast``): for tests and benchmarks only.
        """
        return cls(embedded_dir=directory / "pg", port=free_port(), unsafe_fast=True)

    @property
    def kind(self) -> Literal["embedded", "external"]:
        return "external" if self.url else "embedded"

    @property
    def data_dir(self) -> Path:
        return self.embedded_dir.resolve() / "data"

    @property
    def sqlalchemy_url(self) -> URL:
        """The server's URL (``postgresql+psycopg``; never a password)."""
        if self.url is not None:
            return self.url
        return embedded_url(
            port=self.port, user=EMBEDDED_USER, database=EMBEDDED_DBNAME
        )

    def redacted_target(self) -> str:
        """Where the server is, for logs and messages (password hidden)."""
        if self.url is not None:
            return f"external {render_url(self.url)}"
        return f"embedded {render_url(self.sqlalchemy_url)} ({self.embedded_dir})"

    def redacted_schema_target(self) -> str:
        """Server and schema, for messages about the run's tables."""
        return f"schema {self.schema} on {self.redacted_target()}"


# ---------------------------------------------------------------- machine sizing
def server_options(*, port: int, unsafe_fast: bool = False) -> dict[str, str]:
    """Server settings for this machine: RAM- and core-dependent, loopback only."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 4 * _GIB
    cores = os.cpu_count() or 1
    mib = 1024**2
    shared_buffers = max(128 * mib, min(ram // 4, 4 * _GIB))
    options = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "max_connections": "50",
        "shared_buffers": f"{shared_buffers // mib}MB",
        "effective_cache_size": f"{max(256 * mib, ram // 2) // mib}MB",
        "work_mem": "64MB",
        "maintenance_work_mem": f"{max(64 * mib, min(ram // 16, 2 * _GIB)) // mib}MB",
        "max_worker_processes": str(cores + 4),
        "max_parallel_workers": str(cores),
        "max_parallel_workers_per_gather": str(max(1, cores // 2)),
        "max_parallel_maintenance_workers": str(max(1, cores // 2)),
        "random_page_cost": "1.1",
        "max_wal_size": "4GB",
        "checkpoint_completion_target": "0.9",
        "timezone": "UTC",
        "log_timezone": "UTC",
    }
    if unsafe_fast:
        options.update(
            {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        )
    return options


# ---------------------------------------------------------------- helpers
def _is_root() -> bool:
    return os.geteuid() == 0


def _pg_command(settings: DbSettings, tool: str, *args: str) -> list[str]:
    binary = settings.pg_bin / tool
    if not binary.exists():
        found = shutil.which(tool)
        if found is None:
            raise DatabaseError(
                f"PostgreSQL tool {tool} not found in {settings.pg_bin} or on PATH; "
                "install postgresql-15 and postgresql-15-postgis-3 (make setup) or "
                "set database.url to an existing PostGIS server"
            )
        binary = Path(found)
    command = [str(binary), *args]
    if _is_root():
        command = ["runuser", "-u", _SYSTEM_USER, "--", *command]
    return command


def _run(
    command: list[str], *, what: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise DatabaseError(
            f"{what} failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
    return result


def _make_traversable(path: Path) -> None:
    """Give ``o+x`` to parents of ``path`` that lack it (root mode only)."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            log.warning(
                "adding o+x to %s so the postgres user can reach the embedded "
                "cluster below it",
                parent,
            )
            parent.chmod(mode | 0o001)


def _prepare_dir(settings: DbSettings) -> None:
    root = settings.embedded_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if _is_root():
        _make_traversable(root)
        entry = pwd.getpwnam(_SYSTEM_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)


@contextmanager
def _lifecycle_lock(settings: DbSettings) -> Iterator[None]:
    settings.embedded_dir.mkdir(parents=True, exist_ok=True)
    lock_path = settings.embedded_dir.resolve().parent / (
        settings.embedded_dir.resolve().name + ".lock"
    )
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive_postgres(pid: int) -> bool:
    """True if ``pid`` is a live postgres process.

    A killed postmaster whose parent never reaps it (the init of many
    containers does not) stays a zombie: ``kill(pid, 0)``, and therefore
    ``pg_ctl status``, still find it, but it serves nothing.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]
    return b"postgres" in cmdline and state not in (["Z"], ["X"])


def _postmaster_pid(settings: DbSettings) -> int | None:
    """The pid recorded in ``postmaster.pid`` (None: no file, unreadable)."""
    try:
        return int((settings.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _initialised(settings: DbSettings) -> bool:
    return (settings.data_dir / "PG_VERSION").is_file()


def _running(settings: DbSettings) -> bool:
    if not _initialised(settings):
        return False
    result = _run(
        _pg_command(settings, "pg_ctl", "status", "-D", str(settings.data_dir)),
        what="pg_ctl status",
        check=False,
    )
    if result.returncode != 0:
        return False
    pid = _postmaster_pid(settings)
    if pid is not None and not _pid_alive_postgres(pid):
        log.debug("postmaster pid %s of %s is dead (zombie)", pid, settings.data_dir)
        return False
    return True


def _orphans(settings: DbSettings) -> list[int]:
    """Live postgres processes of this cluster whose postmaster is gone.

    Server processes run in their data folder, so a process whose working
    directory is ``data_dir`` and whose command is postgres belongs to this
    cluster (never to another one).
    """
    data_dir = os.path.realpath(settings.data_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.path.realpath(entry / "cwd") != data_dir:
                continue
        except OSError:
            continue
        if _pid_alive_postgres(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def _end_orphans(settings: DbSettings, timeout_s: float = 10.0) -> None:
    """End server processes that outlived their postmaster.

    A backend busy in a long query notices its postmaster's death only when
    the query ends; meanwhile it holds the cluster's shared memory and a new
    server refuses to start.  Its work can never commit, so it is ended
    (SIGQUIT, then SIGKILL).
    """
    orphans = _orphans(settings)
    if not orphans:
        return
    log.warning(
        "ending %d server process(es) of %s that outlived their postmaster: %s",
        len(orphans),
        settings.data_dir,
        ", ".join(map(str, orphans)),
    )
    deadline = time.monotonic() + timeout_s
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        while orphans and time.monotonic() < deadline:
            orphans = [pid for pid in orphans if _pid_alive_postgres(pid)]
            time.sleep(0.1)
        if not orphans:
            return
        deadline = time.monotonic() + timeout_s


def _remove_stale_pidfile(settings: DbSettings) -> None:
    pidfile = settings.data_dir / "postmaster.pid"
    if not pidfile.exists():
        return
    pid = _postmaster_pid(settings) or -1
    if pid > 0 and _pid_alive_postgres(pid):
        return
    _end_orphans(settings)
    log.warning(
        "the embedded server's postmaster (pid %s) is gone or has died (crash "
        "or kill): removing the stale %s and restarting the server",
        pid,
        pidfile,
    )
    pidfile.unlink()


def _write_hba(settings: DbSettings) -> None:
    hba = settings.data_dir / "pg_hba.conf"
    hba.write_text(
        "# benpipe embedded cluster: trust on loopback only\n"
        "host all all 127.0.0.1/32 trust\n",
        encoding="utf-8",
    )


def _initdb(settings: DbSettings) -> None:
    log.info("initialising the embedded PostGIS cluster in %s", settings.data_dir)
    _run(
        _pg_command(
            settings,
            "initdb",
            "-D",
            str(settings.data_dir),
            "-U",
            EMBEDDED_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ),
        what=f"initdb in {settings.data_dir}",
    )
    _write_hba(settings)


def _connect_url(
    url: URL, *, autocommit: bool = False, timeout_s: int = CONNECT_TIMEOUT_S
) -> psycopg.Connection[Any]:
    params = psycopg_params(url)
    params.setdefault("connect_timeout", timeout_s)
    return psycopg.connect(autocommit=autocommit, **params)


def _maintenance_url(settings: DbSettings) -> URL:
    """The embedded cluster's ``postgres`` database (exists before ours)."""
    return settings.sqlalchemy_url.set(database="postgres")


def _server_version(url: URL, *, timeout_s: int = CONNECT_TIMEOUT_S) -> str:
    with _connect_url(url, autocommit=True, timeout_s=timeout_s) as conn:
        row = conn.execute(sql.SERVER_VERSION).fetchone()
    return str(row[0]) if row else "unknown"


def _wait_ready(settings: DbSettings, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with _connect_url(_maintenance_url(settings), autocommit=True):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"embedded PostGIS server {settings.redacted_target()} did not "
                    f"accept connections within {timeout_s:.0f} s ({exc}); see "
                    f"{settings.embedded_dir / 'server.log'}"
                ) from exc
            time.sleep(0.2)


def _ensure_database(settings: DbSettings) -> None:
    with _connect_url(_maintenance_url(settings), autocommit=True) as conn:
        exists = conn.execute(sql.DATABASE_EXISTS, (EMBEDDED_DBNAME,)).fetchone()
        if not exists:
            conn.execute(sql.CREATE_DATABASE.format(Identifier(EMBEDDED_DBNAME)))


# ---------------------------------------------------------------- public API
def start(settings: DbSettings) -> str:
    """Make sure the server is reachable; start the embedded one if needed.

    Returns a short description of the server.  Idempotent.
    """
    if settings.url:
        try:
            with _connect_url(settings.url) as conn:
                conn.execute(sql.PING)
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"cannot reach database.url ({settings.redacted_target()}): {exc}; "
                "check the host/port and PGPASSWORD or ~/.pgpass"
            ) from exc
        return settings.redacted_target()
    with _lifecycle_lock(settings):
        _prepare_dir(settings)
        if not _initialised(settings):
            _initdb(settings)
        if not _running(settings):
            _remove_stale_pidfile(settings)
            options = server_options(
                port=settings.port, unsafe_fast=settings.unsafe_fast
            )
            opts = " ".join(f"-c {key}='{value}'" for key, value in options.items())
            log_file = settings.embedded_dir.resolve() / "server.log"
            log.info("starting %s", settings.redacted_target())
            _run(
                _pg_command(
                    settings,
                    "pg_ctl",
                    "start",
                    "-D",
                    str(settings.data_dir),
                    "-l",
                    str(log_file),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    opts,
                ),
                what=f"pg_ctl start (see {log_file})",
            )
        _wait_ready(settings)
        _ensure_database(settings)
    return settings.redacted_target()


def stop(settings: DbSettings) -> bool:
    """Stop the embedded server (fast shutdown). Returns True if it was running."""
    if settings.url:
        log.info("database.url is set: the external server is not stopped by benpipe")
        return False
    if not _initialised(settings):
        return False
    with _lifecycle_lock(settings):
        if not _running(settings):
            return False
        log.info("stopping %s", settings.redacted_target())
        _run(
            _pg_command(
                settings,
                "pg_ctl",
                "stop",
                "-D",
                str(settings.data_dir),
                "-m",
                "fast",
                "-w",
            ),
            what="pg_ctl stop",
        )
    return True


def stop_if_embedded(settings: DbSettings | Mapping[str, Any]) -> None:
    """Snakemake onsuccess/onerror hook: stop the embedded server unless kept.

    Never raises: a failing stop is logged, so it cannot mask the run's result.
    """
    if not isinstance(settings, DbSettings):
        settings = DbSettings.from_mapping(settings)
    if settings.url or settings.keep_running:
        return
    try:
        stop(settings)
    except (DatabaseError, OSError) as exc:
        log.warning("could not stop the embedded PostGIS server: %s", exc)


def status(settings: DbSettings) -> dict[str, Any]:
    """Kind, target and whether the server answers (no secrets)."""
    info: dict[str, Any] = {
        "kind": settings.kind,
        "target": settings.redacted_target(),
        "schema": settings.schema,
    }
    if settings.url:
        try:
            info.update(
                running=True, version=_server_version(settings.url, timeout_s=5)
            )
        except psycopg.OperationalError as exc:
            info.update(running=False, error=str(exc).splitlines()[0])
        return info
    running = _running(settings)
    info.update(initialised=_initialised(settings), running=running)
    if running:
        info["version"] = _server_version(_maintenance_url(settings))
    return info


def use_schema(conn: psycopg.Connection[Any], settings: DbSettings) -> None:
    """Point ``conn``'s unqualified table names at the run's schema.

    Raises DatabaseError when the schema does not exist: nothing may then
    fall through to another schema's tables (``public`` of an older benpipe).
    """
    conn.execute(sql.SET_SEARCH_PATH, (settings.schema,))
    row = conn.execute(sql.CURRENT_SCHEMA).fetchone()
    if not conn.autocommit:
        # A session setting made in a transaction that the caller later rolls
        # back would be undone with it: commit it on its own.
        conn.commit()
    if row is None or row[0] != settings.schema:
        conn.close()
        raise DatabaseError(
            f"{settings.redacted_schema_target()} does not exist: the run's "
            "tables are created by start_database; delete results/db/schema.json "
            "(and the receipts in results/db/receipts) and rerun, or run "
            "`benpipe db up --config <your config>`"
        )


def connect(
    settings: DbSettings, *, autocommit: bool = False
) -> psycopg.Connection[Any]:
    """A psycopg connection to the run's schema; the embedded server is started
    first if needed."""
    if settings.url is None and not _running(settings):
        start(settings)
    try:
        conn = _connect_url(settings.sqlalchemy_url, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        if settings.url is not None:
            raise DatabaseError(
                f"cannot connect to {settings.redacted_target()}: {exc}; check "
                "the host/port and PGPASSWORD or ~/.pgpass"
            ) from exc
        start(settings)
        conn = _connect_url(settings.sqlalchemy_url, autocommit=autocommit)
    use_schema(conn, settings)
    return conn


def engine(settings: DbSettings) -> Engine:
    """A SQLAlchemy engine on the server (psycopg 3, no pool).

    Nothing is started: call :func:`start` first.  The caller disposes of the
    engine.  SQL parameters are kept out of error messages.
    """
    url = settings.sqlalchemy_url
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return create_engine(
        url, poolclass=NullPool, connect_args=connect_args, hide_parameters=True
    )
