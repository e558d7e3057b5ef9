"""Execution environments: conda env, docker-compose PostGIS, Snakemake profiles.

None of them can be exercised for real here (no conda channel, no Docker
registry), so these tests hold them to what users rely on: the conda env
carries exactly the runtime dependencies of pyproject.toml with the same
bounds, the compose file keeps its secret out of the repository and its
port off the network, and both profiles are accepted by Snakemake.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "workflow" / "profiles"

#: conda package name -> PyPI distribution name, where they differ.
CONDA_TO_PYPI = {
    "snakemake-minimal": "snakemake",  # snakemake without report extras
    "geopandas-base": "geopandas",  # geopandas without optional extras
}
#: conda packages that are not Python runtime dependencies of benpipe.
NOT_PYPI_DEPENDENCIES = {"python", "pip"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def runtime_requirements() -> dict[str, Requirement]:
    reqs = (Requirement(text) for text in pyproject()["project"]["dependencies"])
    return {canonical(req.name): req for req in reqs}


def conda_env() -> dict:
    return yaml.safe_load((REPO / "envs" / "pipeline.yaml").read_text())


def conda_specs() -> dict[str, str]:
    """conda package -> version spec, for the plain (non-pip) entries."""
    specs = {}
    for entry in conda_env()["dependencies"]:
        if isinstance(entry, dict):
            continue
        name, _, spec = entry.partition(" ")
        specs[canonical(name)] = spec.replace(" ", "")
    return specs


# ---------------------------------------------------------------- conda env
def test_conda_env_has_every_runtime_dependency_with_the_same_bounds():
    specs = {
        canonical(CONDA_TO_PYPI.get(name, name)): spec
        for name, spec in conda_specs().items()
        if name not in NOT_PYPI_DEPENDENCIES
    }
    required = runtime_requirements()
    assert sorted(specs) == sorted(required), (
        "envs/pipeline.yaml and pyproject.toml disagree on the package list"
    )
    for name, req in required.items():
        assert SpecifierSet(specs[name]) == req.specifier, (
            f"{name}: envs/pipeline.yaml has {specs[name]!r}, "
            f"pyproject.toml has {str(req.specifier)!r}"
        )


def test_conda_env_python_satisfies_requires_python():
    python = conda_specs()["python"]
    version = python.lstrip("=")
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(version)


def test_conda_env_uses_conda_forge_and_never_installs_benpipe_by_relative_path():
    env = conda_env()
    assert env["channels"][0] == "conda-forge"
    assert "nodefaults" in env["channels"]
    assert "defaults" not in env["channels"]
    pip_entries = [
        item
        for entry in env["dependencies"]
        if isinstance(entry, dict)
        for item in entry.get("pip", [])
    ]
    assert not [item for item in pip_entries if item.startswith("-e")]


# ---------------------------------------------------------------- docker-compose
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_postgis_is_pinned_and_checked_for_health():
    service = compose()["services"]["postgis"]
    image, _, tag = service["image"].partition(":")
    assert image == "postgis/postgis"
    assert re.fullmatch(r"\d+-\d+\.\d+", tag), f"not an exact tag: {tag!r}"
    assert "pg_isready" in " ".join(service["healthcheck"]["test"])


def test_compose_keeps_the_password_out_of_the_file():
    env = compose()["services"]["postgis"]["environment"]
    assert env["POSTGRES_DB"] == "bigearthnet"
    assert env["POSTGRES_USER"] == "ben"
    # required from the environment, with no default value
    assert re.fullmatch(r"\$\{BENPIPE_DB_PASSWORD:\?[^}]*\}", env["POSTGRES_PASSWORD"])


def test_compose_binds_loopback_only_and_keeps_data_in_a_named_volume():
    doc = compose()
    service = doc["services"]["postgis"]
    assert service["ports"] == ["127.0.0.1:5432:5432"]
    volume = service["volumes"][0].split(":")[0]
    assert volume in doc["volumes"]


# ---------------------------------------------------------------- profiles
TINY_SNAKEFILE = """
rule all:
    input:
        "a.txt",


rule make_a:
    output:
        "a.txt",
    shell:
        "touch {output}"
"""


def _dry_run(tmp_path: Path, profile: Path, *extra: str, env: dict | None = None):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "--snakefile",
            str(tmp_path / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--workflow-profile",
            str(profile),
            "--dry-run",
            *extra,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_snakemake_accepts_the_profile(profile, tmp_path):
    result = _dry_run(tmp_path, PROFILES / profile)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "make_a" in result.stdout + result.stderr


def test_slurm_profile_polls_with_squeue_and_hard_codes_no_partition_or_account():
    text = (PROFILES / "slurm" / "profile.yaml").read_text()
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm"
    # trap 1: sacct hangs the run on clusters without accounting
    assert profile["slurm-status-command"] == "squeue"
    assert profile["latency-wait"] >= 30
    defaults = profile["default-resources"]
    assert "slurm_partition" not in defaults
    assert "slurm_account" not in defaults


def test_slurm_profile_takes_partition_and_account_from_the_environment(tmp_path):
    import os

    env = {
        **os.environ,
        "BENPIPE_SLURM_PARTITION": "bigmem",
        "BENPIPE_SLURM_ACCOUNT": "proj42",
    }
    result = _dry_run(tmp_path, PROFILES / "slurm", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert "slurm_partition=bigmem" in out
    assert "slurm_account=proj42" in out
    # the rest of the block survives (a CLI --default-resources would drop it)
    assert "runtime=60" in out


def test_heavy_rules_get_memory_in_both_profiles():
    for name in ("default", "slurm"):
        profile = yaml.safe_load((PROFILES / name / "profile.yaml").read_text())
        for rule in ("convert_l2a", "build_patch_grid", "label_patches", "export_patches"):
            assert "mem_mb" in profile["set-resources"][rule], (name, rule)
        assert profile["set-threads"]["convert_l2a"] == 2
