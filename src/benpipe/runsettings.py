"""Run settings: what a rule script needs to know about *how* the run runs.

Snakemake stores every param of a job with its outputs and reruns the job when
a param's text changes. So the rules' params carry only values that change
their output bytes (config/README.md, "How a key affects a run"). Everything
else a rule script needs (log level, CDSE endpoints, retries and timeouts, the
database connection, the sen2cor command and timeout, zstd threads, where the
tracked artifacts and side reports are) is collected here from the config, once,
by ``workflow/rules/common.smk``, and handed to every rule script through the
environment variable :data:`ENV_VAR` (JSON). Changing one of them never
reruns a job.

Snakemake parses the Snakefile again, with the same config, in every job
process, also in the jobs the SLURM executor submits, so each script sees
the settings of its own run. No secret is ever part of them: CDSE credentials
stay netrc/environment lookups at the call site, and ``database.url`` carries
no password (``check_config`` refuses one; PGPASSWORD or ~/.pgpass supply it).

Paths from the config are put in one canonical spelling here
(:func:`canonical_path`), so ``tracked-artifacts/demo``,
``./tracked-artifacts/demo`` and ``/abs/run/tracked-artifacts/demo`` are the
same rule input, the same file and the same text wherever they appear.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benpipe.errors import ConfigError

ENV_VAR = "BENPIPE_RUN_SETTINGS"
"""The environment variable that carries the run settings (JSON) to scripts."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def canonical_path(path: str | os.PathLike[str], *, working_dir: Path) -> str:
    """One spelling for every way of naming ``path`` from ``working_dir``.

    A path inside the working directory (lexically, or once symlinks are
    resolved) becomes relative to it (``resources/x.gpkg``); any other path
    becomes absolute and lexically normalised (``..``, ``.`` and repeated
    slashes removed, symlinks kept, so the text is the same on every host
    that mounts the shared filesystem at the same place). ``~`` is expanded.
    """
    raw = Path(os.path.expanduser(os.fspath(path)))
    base = Path(os.path.abspath(working_dir))
    absolute = Path(os.path.normpath(base / raw))
    candidates = (
        (base, absolute),
        (Path(os.path.realpath(base)), Path(os.path.realpath(absolute))),
    )
    for root, target in candidates:
        if target == root:
            return "."
        if target.is_relative_to(root):
            return target.relative_to(root).as_posix()
    return absolute.as_posix()


def default_db_schema(working_dir: Path) -> str:
    """The PostgreSQL schema of the run in ``working_dir`` (``database.schema: null``).

    ``benpipe_`` + 16 hex digits of the sha256 of the working directory's
    real path: every run (working directory) keeps its tables apart from the
    other runs on the same server, and every job of a run (also on cluster
    nodes, which mount the same directory) names the same schema.
    """
    real = os.path.realpath(os.path.abspath(working_dir))
    return "benpipe_" + hashlib.sha256(real.encode("utf-8")).hexdigest()[:16]


def _optional_path(value: Any, *, working_dir: Path) -> str | None:
    return canonical_path(value, working_dir=working_dir) if value else None


@dataclass(frozen=True)
class RunSettings:
    """The operational settings of one run (no secret; JSON-serialisable).

    ``cdse`` and ``database`` are the config sections in the form that
    ``CdseSettings.from_mapping`` and ``DbSettings.from_mapping`` take, with
    their paths in canonical spelling.
    """

    log_level: str = "INFO"
    tracked_dir: Path = Path("tracked-artifacts")
    cdse: Mapping[str, Any] = field(default_factory=dict)
    database: Mapping[str, Any] = field(default_factory=dict)
    sen2cor_cmd: str = "L2A_Process"
    sen2cor_timeout_min: float = 360.0
    zstd_threads: int = 0
    # Side files: read or updated by a rule, but not its input or output.
    download_errors_csv: Path = Path("results/l1c/download_errors.csv")
    search_tile_ids: Path = Path("results/l1c/search/bigearthnet_s2_tile_ids.csv")

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}, "
                f"got {self.log_level!r}"
            )

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        working_dir: Path,
        download_errors_csv: str,
        search_tile_ids: str,
    ) -> RunSettings:
        """The run settings of a validated config (schema defaults applied).

        ``download_errors_csv`` and ``search_tile_ids`` are the workflow's
        side files (paths fixed by the rules, relative to ``working_dir``).
        """
        cdse = dict(config["cdse"])
        cdse["netrc"] = _optional_path(cdse.get("netrc"), working_dir=working_dir)
        database = dict(config.get("database") or {})
        database["url"] = database.get("url") or None
        database["embedded_dir"] = canonical_path(
            database.get("embedded_dir", "results/db/pg"), working_dir=working_dir
        )
        database["schema"] = database.get("schema") or default_db_schema(working_dir)
        l2a = config.get("l2a") or {}
        release = config.get("release") or {}
        return cls(
            log_level=str(config.get("log_level", "INFO")),
            tracked_dir=Path(
                canonical_path(config["tracked_artifacts_dir"], working_dir=working_dir)
            ),
            cdse=dict(sorted(cdse.items())),
            database=dict(sorted(database.items())),
            sen2cor_cmd=str(l2a.get("sen2cor_cmd", "L2A_Process")),
            sen2cor_timeout_min=float(l2a.get("timeout_min", 360.0)),
            zstd_threads=int(release.get("zstd_threads", 0)),
            download_errors_csv=Path(download_errors_csv),
            search_tile_ids=Path(search_tile_ids),
        )

    @property
    def database_identity(self) -> str:
        """Which database holds the run's intermediate state (stable text).

        The external server's url, or the embedded cluster's folder, and the
        run's schema there; the port and ``keep_running`` are not part of it.
        A different database or schema starts empty, so this is the one
        database value that is a rule param (``start_database``): changing it
        rebuilds every database stage there.
        """
        url = self.database.get("url")
        where = (
            str(url)
            if url
            else f"embedded {self.database.get('embedded_dir', 'results/db/pg')}"
        )
        return f"{where} schema {self.database.get('schema', 'public')}"

    def to_json(self) -> str:
        """Stable text: sorted keys, paths as strings."""
        data = {
            "log_level": self.log_level,
            "tracked_dir": self.tracked_dir.as_posix(),
            "cdse": dict(self.cdse),
            "database": dict(self.database),
            "sen2cor_cmd": self.sen2cor_cmd,
            "sen2cor_timeout_min": self.sen2cor_timeout_min,
            "zstd_threads": self.zstd_threads,
            "download_errors_csv": self.download_errors_csv.as_posix(),
            "search_tile_ids": self.search_tile_ids.as_posix(),
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunSettings:
        try:
            data = json.loads(text)
            return cls(
                log_level=str(data["log_level"]),
                tracked_dir=Path(data["tracked_dir"]),
                cdse=dict(data["cdse"]),
                database=dict(data["database"]),
                sen2cor_cmd=str(data["sen2cor_cmd"]),
                sen2cor_timeout_min=float(data["sen2cor_timeout_min"]),
                zstd_threads=int(data["zstd_threads"]),
                download_errors_csv=Path(data["download_errors_csv"]),
                search_tile_ids=Path(data["search_tile_ids"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{ENV_VAR} does not hold valid run settings ({exc}); it is set "
                "by workflow/rules/common.smk when Snakemake parses the "
                "Snakefile: do not set it by hand"
            ) from exc

    def export(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Publish to the environment that rule scripts inherit."""
        target = os.environ if environ is None else environ
        target[ENV_VAR] = self.to_json()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RunSettings:
        """The settings of the run this script belongs to.

        Raises :class:`ConfigError` when :data:`ENV_VAR` is not set, i.e. the
        script was not started by the benpipe Snakefile.
        """
        source = os.environ if environ is None else environ
        text = source.get(ENV_VAR)
        if text is None:
            raise ConfigError(
                f"{ENV_VAR} is not set: rule scripts get their run settings "
                "from the benpipe Snakefile (workflow/rules/common.smk sets it "
                "when it parses the config); run them through snakemake"
            )
        return cls.from_json(text)
