"""The config schema: shipped configs validate; bad configs fail at DAG build."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from benpipe.config_checks import check_config
from benpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_validate(name):
    config = load(name)
    validate(config, str(SCHEMA))
    check_config(config)


def test_every_schema_key_is_documented_in_config_readme():
    schema = yaml.safe_load(SCHEMA.read_text())
    readme = (REPO / "config" / "README.md").read_text()

    def keys(node, prefix=""):
        for key, sub in node.get("properties", {}).items():
            yield prefix + key
            if sub.get("type") == "object":
                yield from keys(sub, prefix + key + ".")

    missing = [k for k in keys(schema) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md does not document: {missing}"


def test_readme_gives_every_key_the_effect_the_schema_gives_it():
    """config/README.md's `effect` column and the schema's x-effect agree."""
    schema = yaml.safe_load(SCHEMA.read_text())
    readme = (REPO / "config" / "README.md").read_text()
    documented = dict(
        re.findall(r"^\| `([\w.]+)` \| (output|operational|file|–) \|", readme, re.M)
    )

    def effects(node, prefix=""):
        for key, sub in node.get("properties", {}).items():
            if sub.get("type") == "object":
                yield prefix + key, "–"
                yield from effects(sub, prefix + key + ".")
            else:
                assert sub.get("x-effect") in {"output", "operational", "file"}, key
                yield prefix + key, sub["x-effect"]

    assert documented == dict(effects(schema))


def test_password_in_database_url_is_refused():
    config = load("demo.yaml")
    config["database"]["url"] = "postgresql://ben:hunter2@db:5432/ben"
    with pytest.raises(ConfigError, match="PGPASSWORD"):
        check_config(config)


def _dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(SNAKEMAKE), "-n", "--configfile", str(path), "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_misspelled_key_fails_before_any_job_naming_the_key(tmp_path):
    config = copy.deepcopy(load("demo.yaml"))
    config["patching"]["unlabelled_max_fraction"] = 0.25  # British spelling
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unlabelled_max_fraction" in output
    assert "Job stats" not in output


def test_wrong_type_fails_naming_the_key(tmp_path):
    config = copy.deepcopy(load("demo.yaml"))
    config["release"]["zstd_level"] = "six"
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "zstd_level" in output and "'six' is not of type 'integer'" in output


# ---------------------------------------------------------------- product list, inputs
def test_product_list_problems_name_the_folder(tmp_path: Path) -> None:
    from benpipe.config_checks import product_list_problem

    tracked = Path("tracked")
    ids = tracked / "bigearthnet_s2_tile_ids.csv"

    def problem(n: int = 1) -> str | None:
        return product_list_problem(tracked, ids, n, working_dir=tmp_path)

    assert problem() == (
        f"tracked_artifacts_dir tracked (in the working directory {tmp_path}) "
        "does not exist"
    )
    (tmp_path / tracked).mkdir()
    assert problem().endswith("holds no bigearthnet_s2_tile_ids.csv")
    (tmp_path / ids).write_text("tile,id\n")
    assert problem(0) == "tracked/bigearthnet_s2_tile_ids.csv lists no product"
    assert problem(1) is None


def test_no_product_list_names_the_freeze_targets_and_the_repository_copy(
    tmp_path: Path,
) -> None:
    from benpipe.config_checks import require_product_list

    tracked = Path("tracked-artifacts/reben-v2.0")
    with pytest.raises(ConfigError) as err:
        require_product_list(
            tracked,
            tracked / "bigearthnet_s2_tile_ids.csv",
            0,
            working_dir=tmp_path,
            repository=REPO,
        )
    message = str(err.value)
    assert f"The repository has {REPO / tracked}" in message
    assert "`snakemake search_cdse`" in message
    assert "`snakemake freeze_tile_ids`" in message
    require_product_list(  # the repository's own folder has the 125 products
        tracked,
        tracked / "bigearthnet_s2_tile_ids.csv",
        125,
        working_dir=REPO,
        repository=REPO,
    )


def test_a_missing_input_names_its_key_and_where_to_get_it(tmp_path: Path) -> None:
    from benpipe.config_checks import INPUT_SOURCES, require_input

    schema_inputs = yaml.safe_load(SCHEMA.read_text())["properties"]["inputs"]
    assert set(INPUT_SOURCES) == set(schema_inputs["required"])
    with pytest.raises(
        ConfigError, match=r"inputs.countries = x.geojson does not exist"
    ):
        require_input("countries", "x.geojson", working_dir=tmp_path)
    (tmp_path / "x.geojson").touch()
    assert require_input("countries", "x.geojson", working_dir=tmp_path) == "x.geojson"
