"""Drive whole demo-world runs of the pipeline for end-to-end tests.

A run gets its own working directory, a free port for the CDSE emulator and
for the embedded PostGIS, and a config derived from config/demo.yaml with
absolute input paths, so several runs can share one generated demo world.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from benpipe.db.lifecycle import DEFAULT_PG_BIN, DbSettings, free_port, start, stop

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: What a run writes to results/release/: the archives and both checksum lists.
RELEASE_FILES = (
    "BigEarthNet-S1.tar.zst",
    "BigEarthNet-S2.tar.zst",
    "Reference_Maps.tar.zst",
    "hashes.txt",
    "sha256sums.txt",
)


def generate_world(out: Path) -> Path:
    subprocess.run(
        [str(BIN / "benpipe"), "-q", "demo-world", "--out", str(out)], check=True
    )
    return out


@contextlib.contextmanager
def emulator(world: Path, *, log: Path, faults: str = "") -> Iterator[int]:
    """Run `benpipe cdse-emulator` on a free port for the duration.

    ``faults``: the emulator's fault spec (``benpipe cdse-emulator --help``).
    """
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [
                str(BIN / "benpipe"),
                "cdse-emulator",
                "--root",
                str(world),
                "--port",
                str(port),
                *(["--faults", faults] if faults else []),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"CDSE emulator did not start: {log.read_text()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def external_postgis(prefix: str) -> Iterator[str]:
    """A PostGIS server started outside the runs, as a site server would be.

    Yields its URL (no password); skips the test without the PostgreSQL 15
    server binaries.  ``prefix`` names its temporary folder.
    """
    if not (DEFAULT_PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 server binaries not found in {DEFAULT_PG_BIN}")
    # Not under pytest's tmp_path: every pytest session resets
    # /tmp/pytest-of-<user> to mode 700, which would lock the postgres user
    # out of a running cluster when other sessions start meanwhile.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    settings = DbSettings.scratch(root)
    start(settings)
    try:
        yield f"postgresql://postgres@127.0.0.1:{settings.port}/bigearthnet"
    finally:
        stop(settings)
        shutil.rmtree(root, ignore_errors=True)


def demo_config(
    world: Path,
    *,
    emulator_port: int,
    db_port: int,
    database_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict:
    """config/demo.yaml for ``world``; ``settings`` sets dotted keys last."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["inputs"] = {
        key: (str(world / Path(value).name) if key != "clc_layer" else value)
        for key, value in config["inputs"].items()
    }
    config["tracked_artifacts_dir"] = str(REPO / "tracked-artifacts" / "demo")
    base = f"http://127.0.0.1:{emulator_port}"
    config["cdse"]["catalogue_url"] = f"{base}/odata/v1"
    config["cdse"]["download_url"] = f"{base}/odata/v1"
    config["cdse"]["token_url"] = (
        f"{base}/auth/realms/CDSE/protocol/openid-connect/token"
    )
    config["cdse"]["netrc"] = str(world / "cdse.netrc")
    config["database"]["port"] = db_port
    config["database"]["url"] = database_url
    for key, value in (settings or {}).items():
        *sections, leaf = key.split(".")
        node = config
        for section in sections:
            node = node[section]
        node[leaf] = value
    return config


@dataclass(frozen=True)
class DemoRun:
    workdir: Path
    result: subprocess.CompletedProcess[str]

    @property
    def results(self) -> Path:
        return self.workdir / "results"


def snakemake_command(
    workdir: Path,
    config_path: Path,
    *args: str,
    more_configs: Sequence[Path] = (),
    targets: Sequence[str] = (),
) -> list[str]:
    """The pipeline's Snakefile, run in ``workdir`` with ``config_path``.

    ``more_configs`` are merged over it; ``targets`` come first, because
    ``--configfile`` would swallow them.
    """
    return [
        str(BIN / "snakemake"),
        *targets,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        *map(str, more_configs),
        *args,
    ]


def run_demo(
    world: Path,
    workdir: Path,
    *,
    extra_args: Sequence[str] = (),
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 900,
    settings: Mapping[str, Any] | None = None,
) -> DemoRun:
    """Run the whole pipeline on the demo world in ``workdir``.

    ``settings`` overrides config keys (dotted: ``{"inputs.clc_gpkg": …}``);
    ``extra_args`` may name targets to run only part of the pipeline.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with emulator(world, log=workdir / "logs" / "cdse-emulator.log") as port:
        config = demo_config(
            world,
            emulator_port=port,
            db_port=free_port(),
            database_url=database_url,
            settings=settings,
        )
        config_path = workdir / "demo-test.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        result = subprocess.run(
            snakemake_command(
                workdir,
                config_path,
                "--cores",
                "2",
                "--show-failed-logs",
                *extra_args,
            ),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
    return DemoRun(workdir=workdir, result=result)


def dry_run(
    workdir: Path,
    *configs: Path,
    targets: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> tuple[Counter[str] | None, str]:
    """{rule: job count} that ``snakemake -n`` would run in ``workdir``, and its output.

    ``configs``: the config file, then those merged over it.  A failed dry
    run gives None (and its output, for the assertion message).
    """
    result = subprocess.run(
        snakemake_command(
            workdir,
            configs[0],
            "-n",
            "--quiet",
            "rules",
            *extra_args,
            more_configs=configs[1:],
            targets=targets,
        ),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        return None, output
    if "Nothing to be done" in output:
        return Counter(), output
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    return Counter(jobs), output


def dry_run_jobs(
    workdir: Path, config: dict, *, config_path: Path, extra_args: Sequence[str] = ()
) -> Counter[str] | str:
    """{rule: job count} that ``snakemake -n`` would run in ``workdir``.

    ``config`` is written to ``config_path`` first. A failed dry run returns
    its output instead, for the assertion message.
    """
    config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    jobs, output = dry_run(workdir, config_path, extra_args=extra_args)
    return output[-4000:] if jobs is None else jobs
