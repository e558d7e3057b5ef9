"""End-to-end through SLURM: the whole demo pipeline on a local SLURM cluster.

The run uses ``--workflow-profile workflow/profiles/slurm`` as a user would
on a cluster: every non-local rule becomes an sbatch job, and the database
is a separately started PostGIS reached through ``database.url`` (the
embedded one is refused under a cluster executor). Passing means the
profile, the per-rule resources and the localrules work with the real
pipeline and the verification report still matches.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .demo import REPO, free_port, generate_world, run_demo
from .slurm_cluster import local_slurm_cluster, unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.postgis]

SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with local_slurm_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def shared_postgis(tmp_path_factory):
    """A PostGIS server started outside the workflow, as a site server would be."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 server binaries not found in {PG_BIN}")
    from benpipe.db.lifecycle import DbSettings, start, stop

    settings = DbSettings(
        embedded_dir=tmp_path_factory.mktemp("shared-pg") / "pg",
        port=free_port(),
        unsafe_fast=True,
    )
    start(settings)
    try:
        yield f"postgresql://postgres@127.0.0.1:{settings.port}/bigearthnet"
    finally:
        stop(settings)


def test_demo_pipeline_through_slurm(slurm_cluster, shared_postgis, tmp_path):
    world = generate_world(tmp_path / "resources" / "demo-world")
    run = run_demo(
        world,
        tmp_path / "run",
        database_url=shared_postgis,
        extra_args=[
            "--workflow-profile",
            str(SLURM_PROFILE),
            # test-only: poll after 2 s instead of 40 s (MinJobAge=600 keeps
            # squeue valid), short latency, at most this node's CPUs per job
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--latency-wait",
            "5",
            "--max-threads",
            str(slurm_cluster.cpus),
            "--slurm-keep-successful-logs",
        ],
        timeout_s=540,
    )
    output = run.result.stdout + run.result.stderr
    assert run.result.returncode == 0, output[-12000:]

    report = json.loads((run.results / "verification.json").read_text())
    statuses = {name: a["status"] for name, a in report["artifacts"].items()}
    assert report["all_match"] is True, statuses

    # heavy rules really went through sbatch; light ones stayed local
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid \d+", output)
    assert submitted, output[-4000:]
    slurm_logs = run.workdir / ".snakemake" / "slurm_logs"
    ran_on_slurm = {p.name.removeprefix("rule_") for p in slurm_logs.iterdir()}
    assert {"convert_l2a", "label_patches", "export_patches"} <= ran_on_slurm
    assert not {"download_l1c", "start_database", "verify"} & ran_on_slurm
