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

import pytest
import yaml

from .demo import REPO, dry_run_jobs, external_postgis, generate_world, run_demo
from .slurm_cluster import local_slurm_cluster, unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.postgis]

SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with local_slurm_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def shared_postgis():
    """A PostGIS server started outside the workflow, as a site server would be."""
    with external_postgis("benpipe-slurm-pg-") as url:
        yield url


# Test-only: every sbatch job starts Snakemake twice (job script + srun step)
# and the plugin's status polling backs off by 10 s per round, which is
# noise for full-size products but dominates demo tiles on a 2-core node. So
# the per-product chains with the ingests, and the whole-run tail, run as two
# group jobs; each still runs the real rules through sbatch + srun against
# the external database, and the tail depends on the first across SLURM.
GROUPS = {
    "compute": (
        "ingest_clc",
        "ingest_countries",
        "ingest_v1_footprints",
        "extract_l1c",
        "convert_l2a",
        "build_patch_grid",
        "label_patches",
        "export_patches",
        "qa_product",
    ),
    "tail": (
        "hash_l1c",
        "align_v1",
        "export_metadata_tables",
        "finalize_dataset",
        "hash_outputs",
        "package_release",
        "qa_dataset",
        "build_catalogue",
    ),
}
# merge every connected component of a group into one job
GROUP_COMPONENTS = {"compute": 99, "tail": 99}


def small_memory_resources(limit_mb: int = 1000) -> list[str]:
    """The profile's set-resources with mem_mb capped (runtimes kept).

    Test-only: the profile sizes memory for full 10980 px products, more than
    a CI node offers; demo tiles need a few hundred MB. A command-line
    --set-resources replaces the profile's whole block, hence all entries.
    """
    profile = yaml.safe_load((SLURM_PROFILE / "profile.yaml").read_text())
    entries = []
    for rule, resources in profile["set-resources"].items():
        for name, value in resources.items():
            if name == "mem_mb":
                value = limit_mb
            entries.append(f"{rule}:{name}={value}")
    return entries


def slurm_args(cpus: int) -> list[str]:
    return [
        "--workflow-profile",
        str(SLURM_PROFILE),
        # test-only: poll after 2 s instead of 40 s (MinJobAge=600 keeps
        # squeue valid), short latency, at most this node's CPUs per job
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--latency-wait",
        "5",
        "--max-threads",
        str(cpus),
        "--slurm-keep-successful-logs",
        "--groups",
        *(f"{rule}={group}" for group, rules in GROUPS.items() for rule in rules),
        "--group-components",
        *(f"{group}={n}" for group, n in GROUP_COMPONENTS.items()),
        "--set-resources",
        *small_memory_resources(),
    ]


def test_demo_pipeline_through_slurm(slurm_cluster, shared_postgis, tmp_path):
    world = generate_world(tmp_path / "resources" / "demo-world")
    run = run_demo(
        world,
        tmp_path / "run",
        database_url=shared_postgis,
        extra_args=slurm_args(slurm_cluster.cpus),
        # a hang guard: the run takes 5-7 min on a loaded 2-core machine (QA rules included)
        timeout_s=900,
    )
    output = run.result.stdout + run.result.stderr
    assert run.result.returncode == 0, output[-12000:]

    report = json.loads((run.results / "verification.json").read_text())
    statuses = {name: a["status"] for name, a in report["artifacts"].items()}
    assert report["all_match"] is True, statuses

    # the heavy rules really went through sbatch; the light ones stayed local
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    assert len(submitted) >= 2, output[-4000:]
    local = set(re.findall(r"^localrule (\w+):", output, flags=re.MULTILINE))
    assert {"download_l1c", "start_database", "verify", "qa_page"} <= local
    assert not local & {"convert_l2a", "label_patches", "export_patches", "qa_product"}
    assert (run.results / "qa" / "index.html").is_file()

    # jobs that ran on SLURM recorded the same params a local run would:
    # operational keys changed afterwards schedule nothing
    config = yaml.safe_load((run.workdir / "demo-test.yaml").read_text())
    config["log_level"] = "DEBUG"
    config["l2a"]["timeout_min"] = 1
    config["release"]["zstd_threads"] = 1
    config["cdse"] |= {"timeout_s": 7, "max_attempts": 2}
    jobs = dry_run_jobs(
        run.workdir,
        config,
        config_path=tmp_path / "operational.yaml",
        extra_args=["--workflow-profile", str(SLURM_PROFILE)],
    )
    assert jobs == {}, jobs
