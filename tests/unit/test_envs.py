"""Execution environments: conda env, docker-compose PostGIS, Snakemake profiles.

None of them can be exercised for real here (no conda channel, no Docker
registry), so these tests hold them to what users rely on: the conda env
carries exactly the runtime dependencies of pyproject.toml with the same
bounds, the compose file keeps its secret out of the repository and its
port off the network, and both profiles are accepted by Snakemake.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "workflow" / "profiles"

#: conda package name -> PyPI distribution name, where they differ.
CONDA_TO_PYPI = {
    "snakemake-minimal": "snakemake",  # snakemake without report extras
    "geopandas-base": "geopandas",  # geopandas without optional extras
    "matplotlib-base": "matplotlib",  # matplotlib without a GUI toolkit
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
def parsed_profile(profile: str):
    """The options Snakemake's own command-line parser reads from a profile."""
    from snakemake.cli import parse_args

    _, args = parse_args(
        [
            "--snakefile",
            str(REPO / "Snakefile"),
            "--workflow-profile",
            str(PROFILES / profile),
        ]
    )
    return args


def test_default_profile_uses_all_cores_and_throttles_shared_services():
    args = parsed_profile("default")
    assert args.cores == os.cpu_count()  # "all"
    assert args.resources["cdse_slots"].value == 4
    assert args.resources["db_slots"].value == 2
    assert args.set_threads["convert_l2a"].value == 2
    assert args.set_resources["export_patches"]["mem_mb"].value >= 4000
    assert args.keep_going and args.rerun_incomplete


def test_slurm_profile_is_accepted_by_snakemake_and_the_plugin(monkeypatch):
    monkeypatch.delenv("BENPIPE_SLURM_PARTITION", raising=False)
    monkeypatch.delenv("BENPIPE_SLURM_ACCOUNT", raising=False)
    args = parsed_profile("slurm")
    assert args.executor == "slurm"
    # trap 1: sacct hangs the run on clusters without accounting
    assert args.slurm_status_command == "squeue"
    assert args.latency_wait >= 30
    assert "slurm_partition" not in args.default_resources
    assert "slurm_account" not in args.default_resources
    assert args.default_resources["runtime"].value == 60
    # heavy rules ask for more memory on a retry
    mem = args.set_resources["convert_l2a"]["mem_mb"]
    context = dict(wildcards={}, input=[], threads=2, rulename="convert_l2a")
    assert mem.evaluate(attempt=1, async_run=None, **context).value == 4000
    assert mem.evaluate(attempt=2, async_run=None, **context).value == 8000


def test_slurm_profile_takes_partition_and_account_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENPIPE_SLURM_PARTITION", "bigmem")
    monkeypatch.setenv("BENPIPE_SLURM_ACCOUNT", "proj42")
    args = parsed_profile("slurm")
    text = repr(args.default_resources)
    assert "slurm_partition" in text and "slurm_account" in text
    # the rest of the block survives (a CLI --default-resources would drop it)
    assert args.default_resources["mem_mb"].value == 1000


def test_heavy_rules_get_memory_in_both_profiles():
    for name in ("default", "slurm"):
        profile = yaml.safe_load((PROFILES / name / "profile.yaml").read_text())
        for rule in (
            "convert_l2a",
            "build_patch_grid",
            "label_patches",
            "export_patches",
        ):
            assert "mem_mb" in profile["set-resources"][rule], (name, rule)
        assert profile["set-threads"]["convert_l2a"] == 2


def test_rules_leave_threads_and_memory_to_the_profiles():
    """One home per figure: a rule's threads/mem_mb/runtime would be overridden
    by one profile and silently used by another (they disagreed before)."""
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        assert not re.search(r"^\s+threads:", text, re.M), smk.name
        for figure in ("mem_mb", "runtime", "disk_mb"):
            assert figure not in text, (smk.name, figure)
        # resources blocks only request slots of the shared services
        for block in re.findall(r"resources:\n((?:\s{8}.+\n)+)", text):
            assert set(re.findall(r"(\w+)=", block)) <= {"cdse_slots", "db_slots"}


def _doc_table(intro: str, columns: int) -> dict[str, list[str]]:
    """{rule: cells} of the first docs/cluster.md table after ``intro``."""
    after = (REPO / "docs" / "cluster.md").read_text().split(intro, 1)[1]
    lines = after.split("\n|", 1)[1].split("\n\n", 1)[0].splitlines()
    table = {}
    for line in lines:
        match = re.match(r"^\| `(\w+)` \|(.*)\|$", line)
        if match:
            cells = [c.strip().replace(" × ", " * ") for c in match[2].split("|")]
            assert len(cells) == columns, line
            table[match[1]] = cells
    return table


def _figures(profile: dict, rule: str, names: tuple[str, ...]) -> list[str]:
    defaults = {**profile["default-resources"]}
    resources = {**defaults, **profile["set-resources"].get(rule, {})}
    threads = profile["set-threads"].get(rule, 1)
    return [str(threads)] + [str(resources[name]) for name in names]


def test_cluster_doc_gives_the_workstation_profiles_figures():
    profile = yaml.safe_load((PROFILES / "default" / "profile.yaml").read_text())
    table = _doc_table("Per-rule figures of the workstation profile", 2)
    listed = set(profile["set-threads"]) | set(profile["set-resources"])
    assert set(table) == listed
    for rule, cells in table.items():
        assert cells == _figures(profile, rule, ("mem_mb",)), rule


def test_cluster_doc_gives_the_slurm_profiles_figures(monkeypatch):
    monkeypatch.delenv("BENPIPE_SLURM_PARTITION", raising=False)
    monkeypatch.delenv("BENPIPE_SLURM_ACCOUNT", raising=False)
    from yte import process_yaml

    with (PROFILES / "slurm" / "profile.yaml").open() as handle:
        profile = process_yaml(handle)
    table = _doc_table("Per-rule figures of the SLURM profile", 3)
    listed = set(profile["set-threads"]) | set(profile["set-resources"])
    assert set(table) == listed
    for rule, cells in table.items():
        assert cells == _figures(profile, rule, ("mem_mb", "runtime")), rule
