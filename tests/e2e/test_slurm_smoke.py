"""The SLURM profile on a real (local, single-node) SLURM cluster.

A tiny test-only workflow (3 jobs + all) runs through
``--workflow-profile workflow/profiles/slurm``; every job records the
SLURM_JOB_ID it ran under, so the test proves the jobs went through sbatch.
A second test checks that benpipe's own workflow refuses a cluster run whose
jobs could not reach the embedded database.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from . import slurm_cluster as slurm_cluster_module
from .slurm_cluster import local_slurm_cluster, unavailable_reason

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"

pytestmark = pytest.mark.slurm

TINY_SNAKEFILE = """
SAMPLES = ["a", "b", "c"]


rule all:
    input:
        expand("out/{sample}.txt", sample=SAMPLES),


rule record_job:
    output:
        "out/{sample}.txt",
    log:
        "logs/record_job/{sample}.log",
    shell:
        "echo {wildcards.sample} $SLURM_JOB_ID $(hostname -s) > {output} 2> {log}"
"""

# Test-only overrides of the profile: poll SLURM after 2 s, not 40 s (the
# cluster's MinJobAge=600 still satisfies the plugin's 3 x 2 s threshold for
# squeue), and never ask for more CPUs than this node has.
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5"]


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with local_slurm_cluster() as cluster:
        yield cluster


def _snakemake(workdir: Path, *args: str, timeout: float = 110):
    return subprocess.run(
        [
            str(SNAKEMAKE),
            "--directory",
            str(workdir),
            "--workflow-profile",
            str(SLURM_PROFILE),
            *FAST_POLLING,
            *args,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_jobs_run_through_sbatch(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    result = _snakemake(
        tmp_path,
        "--snakefile",
        str(tmp_path / "Snakefile"),
        "--max-threads",
        str(slurm_cluster.cpus),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]

    job_ids = set()
    for sample in ("a", "b", "c"):
        fields = (tmp_path / "out" / f"{sample}.txt").read_text().split()
        assert fields[0] == sample
        assert len(fields) == 3, f"{sample}: no SLURM_JOB_ID recorded: {fields}"
        assert fields[1].isdigit(), fields
        assert fields[2] == slurm_cluster.node
        job_ids.add(fields[1])
    assert len(job_ids) == 3, f"expected one SLURM job per sample, got {job_ids}"
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", result.stderr))
    assert job_ids == submitted, (job_ids, submitted)


def test_cluster_run_without_database_url_is_refused(slurm_cluster, tmp_path):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["database"]["url"] = None
    config["tracked_artifacts_dir"] = str(tmp_path / "tracked")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    # benpipe's own common.smk, plus one job so that execution really starts
    (tmp_path / "Snakefile").write_text(
        f'configfile: "config.yaml"\n\n\n'
        f'include: "{REPO / "workflow" / "rules" / "common.smk"}"\n\n\n'
        "rule all:\n"
        "    input:\n"
        '        "done.txt",\n\n\n'
        "rule touch_done:\n"
        "    output:\n"
        '        "done.txt",\n'
        "    shell:\n"
        '        "touch {output}"\n'
    )
    result = _snakemake(tmp_path, "--snakefile", str(tmp_path / "Snakefile"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "database.url" in output, output[-4000:]
    assert "docs/cluster.md" in output
    assert not (tmp_path / "done.txt").exists()


def test_cluster_config_avoids_both_plugin_traps(slurm_cluster):
    # trap 2: the plugin strips SLURM_CONF inside jobs, so the default path
    assert slurm_cluster_module.SLURM_CONF.as_posix() == "/etc/slurm/slurm.conf"
    assert slurm_cluster_module.SLURM_CONF.is_file()
    # trap 1: squeue must still see a finished job at the plugin's first
    # status check (threshold 3 x 40 s with the profile's setting)
    result = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    )
    min_job_age = re.search(r"^MinJobAge\s*=\s*(\d+)", result.stdout, re.MULTILINE)
    assert min_job_age and int(min_job_age.group(1)) >= 3 * 40


def test_an_existing_slurm_conf_is_backed_up_and_restored(tmp_path, monkeypatch):
    conf = tmp_path / "slurm.conf"
    backup = tmp_path / "slurm.conf.benpipe-backup"
    conf.write_text("ClusterName=site\n")
    monkeypatch.setattr(slurm_cluster_module, "SLURM_CONF", conf)
    monkeypatch.setattr(slurm_cluster_module, "BACKUP_CONF", backup)

    text = slurm_cluster_module.render_slurm_conf(tmp_path, "node1", 4, 8000)
    slurm_cluster_module._install_conf(text)
    assert conf.read_text() == text
    assert backup.read_text() == "ClusterName=site\n"
    slurm_cluster_module._install_conf(text)  # idempotent: keeps the first backup
    assert backup.read_text() == "ClusterName=site\n"

    slurm_cluster_module._restore_conf()
    assert conf.read_text() == "ClusterName=site\n"
    assert not backup.exists()
