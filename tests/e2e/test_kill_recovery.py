"""Recoveries that work: ``kill -9`` in every stage, ``--unlock``, rerun.

The issue-14 campaign killed the whole Snakemake process tree during
downloads, conversion, export, labelling, finalize and packaging; after
``snakemake --unlock`` each rerun finished with a release byte-identical to
an uninterrupted run.  These tests keep it so, cheaply: one working
directory, copied from the session's finished demo run (``run_a``), loses one
product's zip, so the rerun goes through every stage for that product; the
run is killed (SIGKILL to its process group) as soon as a stage has started
writing (its staging file or folder exists), unlocked and restarted, stage
after stage.  The last restart runs to the end, and its archives must equal
``run_a``'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from benpipe.db.lifecycle import free_port
from benpipe.names import l2a_name_for

from .demo import BIN, RELEASE_FILES, REPO, emulator, snakemake_command

pytestmark = [pytest.mark.slow, pytest.mark.postgis]

#: The product whose zip the chain deletes (the first of the frozen list).
L1C = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
L2A = l2a_name_for(L1C)
#: Stage -> the files that exist only while the stage writes (globs under the
#: working directory): the download's ``.part``, the staging folders of
#: ``benpipe.fileio.staged_directory``, the archives' temporary siblings.
STAGES: dict[str, tuple[str, ...]] = {
    "download": (f"resources/l1c/{L1C}.zip.part",),
    "conversion": (f"results/l2a/.{L2A}.SAFE.tmp",),
    "export": (f"results/export/s2/.{L2A}.tmp",),
    "labelling": (f"results/export/reference_maps/.{L2A}.tmp",),
    "finalize": ("results/.dataset.tmp",),
    "packaging": ("results/release/.*.tar.zst.*.tmp",),
}
#: Emulator fault: 30 ms per 64 KiB, so the download lasts a couple of seconds.
SLOW_DOWNLOADS = "slow:30"


@dataclass
class Kill:
    """What happened around one kill."""

    stage: str
    seen: list[str] = field(default_factory=list)  # staging files at the kill
    waited_s: float = 0.0
    locked_without_unlock: bool | None = None
    unlock_rc: int | None = None
    output: str = ""


@dataclass
class Chain:
    workdir: Path
    kills: dict[str, Kill]
    final: subprocess.CompletedProcess[str]


def _forget_one_product(workdir: Path) -> None:
    """Remove what the run made of one product, and everything after it: the
    state of a run that has not got that far yet."""
    results = workdir / "results"
    gone = [
        workdir / "resources" / "l1c" / f"{L1C}.zip",
        results / "l2a" / f"{L2A}.SAFE",
        results / "l2a" / f"{L2A}.json",
        results / "export" / "s2" / L2A,
        results / "export" / "s2" / f"{L2A}.json",
        results / "export" / "reference_maps" / L2A,
        results / "db" / "receipts" / "grid" / f"{L2A}.json",
        results / "db" / "receipts" / "labels" / f"{L2A}.json",
        results / "dataset",
        results / "dataset.json",
        results / "release",
    ]
    for path in gone:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        command,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
    )


def _wait_for(
    proc: subprocess.Popen[bytes], found: Callable[[], list[str]], timeout_s: float
) -> list[str]:
    """Poll until ``found()`` returns something; [] if the run ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hits = found()
        if hits:
            return hits
        if proc.poll() is not None:
            return found()
        time.sleep(0.02)
    return []


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _stop_embedded_database(workdir: Path, config_path: Path) -> None:
    """Leave no server behind, whatever the killed runs left running."""
    if config_path.exists():
        subprocess.run(
            [str(BIN / "benpipe"), "db", "down", "--config", str(config_path)],
            cwd=workdir,
            capture_output=True,
            check=False,
        )


@pytest.fixture(scope="module")
def chain(run_a, demo_world, tmp_path_factory) -> Iterator[Chain]:
    workdir = tmp_path_factory.mktemp("kill-chain") / "run"
    subprocess.run(["cp", "-a", str(run_a.workdir), str(workdir)], check=True)
    _forget_one_product(workdir)
    config = yaml.safe_load((run_a.workdir / "demo-test.yaml").read_text())
    log = workdir / "logs" / "kill-chain.log"
    config_path = workdir / "kill-chain.yaml"
    kills: dict[str, Kill] = {}
    try:
        with emulator(
            demo_world,
            log=workdir / "logs" / "cdse-emulator-kills.log",
            faults=SLOW_DOWNLOADS,
        ) as port:
            base = f"http://127.0.0.1:{port}"
            config["cdse"]["catalogue_url"] = f"{base}/odata/v1"
            config["cdse"]["download_url"] = f"{base}/odata/v1"
            config["cdse"]["token_url"] = (
                f"{base}/auth/realms/CDSE/protocol/openid-connect/token"
            )
            config["database"]["port"] = free_port()
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            run = snakemake_command(workdir, config_path, "--cores", "2")
            for stage, patterns in STAGES.items():
                kills[stage] = _kill_in(stage, patterns, workdir, run, config_path, log)
            final = subprocess.run(
                run, capture_output=True, text=True, cwd=REPO, timeout=900
            )
        yield Chain(workdir, kills, final)
    finally:
        _stop_embedded_database(workdir, config_path)


def _kill_in(
    stage: str,
    patterns: tuple[str, ...],
    workdir: Path,
    run: list[str],
    config_path: Path,
    log: Path,
) -> Kill:
    kill = Kill(stage)
    started = time.monotonic()
    proc = _start(run, log)
    kill.seen = _wait_for(
        proc,
        lambda: sorted(
            str(p.relative_to(workdir)) for g in patterns for p in workdir.glob(g)
        ),
        timeout_s=600,
    )
    kill.waited_s = time.monotonic() - started
    _kill_tree(proc)
    if stage == "download":
        # What the README's "resume after a crash" answers: the killed run's
        # lock stays until `snakemake --unlock`.
        blocked = subprocess.run(
            run + ["-n"], capture_output=True, text=True, cwd=REPO, timeout=300
        )
        kill.locked_without_unlock = (
            "cannot be locked" in blocked.stdout + blocked.stderr
        )
    unlock = subprocess.run(
        snakemake_command(workdir, config_path, "--unlock"),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    kill.unlock_rc = unlock.returncode
    kill.output = unlock.stdout[-2000:] + unlock.stderr[-2000:]
    return kill


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_during_a_stage_then_unlock_and_rerun(chain, stage):
    kill = chain.kills[stage]
    assert kill.seen, f"the run never reached {stage} ({kill.waited_s:.0f} s)"
    assert kill.unlock_rc == 0, kill.output


def test_a_killed_run_stays_locked_until_unlock(chain):
    assert chain.kills["download"].locked_without_unlock is True


def test_the_release_after_the_kills_is_identical_to_an_uninterrupted_run(
    chain, run_a, demo_world
):
    assert chain.final.returncode == 0, (
        chain.final.stdout[-4000:] + chain.final.stderr[-8000:]
    )
    for name in RELEASE_FILES:
        assert _sha256(chain.workdir / "results" / "release" / name) == _sha256(
            run_a.results / "release" / name
        ), name
    report = json.loads((chain.workdir / "results" / "verification.json").read_text())
    assert report["all_match"] is True
    # the interrupted download resumed to the served bytes, no .part left
    zips = chain.workdir / "resources" / "l1c"
    assert _sha256(zips / f"{L1C}.zip") == _sha256(
        demo_world / "cdse" / "products" / f"{L1C}.zip"
    )
    leftovers = [
        str(p.relative_to(chain.workdir))
        for pattern in (*[g for gs in STAGES.values() for g in gs], "results/**/.*.tmp")
        for p in chain.workdir.glob(pattern)
    ]
    assert leftovers == []
