"""Run settings: canonical path spellings, the environment hand-over, logging."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from benpipe.db.lifecycle import DbSettings
from benpipe.errors import ConfigError
from benpipe.log import setup_for_snakemake
from benpipe.runsettings import (
    ENV_VAR,
    RunSettings,
    canonical_path,
    default_db_schema,
)

REPO = Path(__file__).resolve().parents[2]


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def settings_of(config: dict, working_dir: Path) -> RunSettings:
    return RunSettings.from_config(
        config,
        working_dir=working_dir,
        download_errors_csv="results/l1c/download_errors.csv",
        search_tile_ids="results/l1c/search/bigearthnet_s2_tile_ids.csv",
    )


# ---------------------------------------------------------------- canonical_path
@pytest.mark.parametrize(
    "spelling",
    [
        "tracked-artifacts/demo",
        "./tracked-artifacts/demo",
        "tracked-artifacts//demo/",
        "tracked-artifacts/x/../demo",
        "{work}/tracked-artifacts/demo",
        "{work}/./tracked-artifacts/demo",
    ],
)
def test_every_spelling_inside_the_working_dir_is_one_relative_path(spelling, tmp_path):
    path = spelling.format(work=tmp_path)
    assert canonical_path(path, working_dir=tmp_path) == "tracked-artifacts/demo"


def test_a_path_outside_the_working_dir_is_absolute_and_normalised(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    expected = (tmp_path / "world" / "x.csv").as_posix()
    for spelling in ("../world/x.csv", f"{tmp_path}/world/./x.csv", expected):
        assert canonical_path(spelling, working_dir=work) == expected


def test_a_working_dir_reached_through_a_symlink_still_gives_relative_paths(
    tmp_path,
):
    real = tmp_path / "real"
    (real / "results").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    # the config names the physical path, Snakemake runs in the symlinked one
    assert canonical_path(real / "results", working_dir=link) == "results"
    assert canonical_path(link / "results", working_dir=real) == "results"
    assert canonical_path(link, working_dir=link) == "."


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert canonical_path("~/x.netrc", working_dir=tmp_path / "run") == (
        (tmp_path / "home" / "x.netrc").as_posix()
    )


# ---------------------------------------------------------------- from_config
def test_same_settings_for_relative_and_absolute_spellings(tmp_path):
    relative = demo_config()
    absolute = demo_config()
    absolute["tracked_artifacts_dir"] = str(tmp_path / "tracked-artifacts/demo")
    absolute["cdse"]["netrc"] = str(tmp_path / relative["cdse"]["netrc"])
    absolute["database"]["embedded_dir"] = f"{tmp_path}/./results/db/pg"
    a = settings_of(relative, tmp_path)
    b = settings_of(absolute, tmp_path)
    assert a == b
    assert a.to_json() == b.to_json()
    assert a.tracked_dir == Path("tracked-artifacts/demo")
    assert a.database["embedded_dir"] == "results/db/pg"


def test_operational_keys_reach_the_settings(tmp_path):
    config = demo_config()
    config["log_level"] = "DEBUG"
    config["l2a"] |= {"timeout_min": 7, "sen2cor_cmd": "/opt/L2A_Process"}
    config["release"]["zstd_threads"] = 3
    config["database"] |= {"port": 1234, "keep_running": True}
    config["cdse"]["timeout_s"] = 9
    settings = settings_of(config, tmp_path)
    assert settings.log_level == "DEBUG"
    assert settings.sen2cor_timeout_min == 7.0
    assert settings.sen2cor_cmd == "/opt/L2A_Process"
    assert settings.zstd_threads == 3
    assert settings.database["port"] == 1234
    assert settings.database["keep_running"] is True
    assert settings.cdse["timeout_s"] == 9


def test_database_identity_names_the_database_not_port_or_lifetime(tmp_path):
    config = demo_config()
    schema = default_db_schema(tmp_path)
    embedded = settings_of(config, tmp_path).database_identity
    assert embedded == f"embedded results/db/pg schema {schema}"
    config["database"] |= {"port": 1234, "keep_running": True}
    assert settings_of(config, tmp_path).database_identity == embedded
    config["database"]["url"] = "postgresql://ben@db:5432/bigearthnet"
    assert settings_of(config, tmp_path).database_identity == (
        f"postgresql://ben@db:5432/bigearthnet schema {schema}"
    )
    config["database"]["schema"] = "benpipe_mine"
    assert settings_of(config, tmp_path).database_identity == (
        "postgresql://ben@db:5432/bigearthnet schema benpipe_mine"
    )


def test_each_working_directory_gets_its_own_schema(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    config = demo_config()
    a = settings_of(config, tmp_path / "a").database["schema"]
    assert a.startswith("benpipe_") and len(a) == len("benpipe_") + 16
    assert settings_of(config, tmp_path / "b").database["schema"] != a
    # the same run reached through a symlink is the same run
    assert settings_of(config, tmp_path / "link").database["schema"] == a
    assert (
        DbSettings.from_mapping(settings_of(config, tmp_path / "a").database).schema
        == a
    )


@pytest.mark.parametrize("bad", ["Run", "1run", "run-1", "a" * 64, 'x"; drop'])
def test_a_schema_that_is_not_a_plain_identifier_is_refused(bad):
    with pytest.raises(ConfigError, match="database.schema .* plain PostgreSQL"):
        DbSettings.from_mapping({"schema": bad})


# ---------------------------------------------------------------- environment
def test_settings_travel_through_the_environment_unchanged(tmp_path):
    settings = settings_of(demo_config(), tmp_path)
    environ: dict[str, str] = {}
    settings.export(environ)
    assert RunSettings.from_environment(environ) == settings


def test_missing_environment_names_the_variable_and_the_remedy():
    with pytest.raises(ConfigError, match=f"{ENV_VAR} is not set.*snakemake"):
        RunSettings.from_environment({})


def test_garbled_environment_is_a_config_error():
    with pytest.raises(ConfigError, match="do not set it by hand"):
        RunSettings.from_environment({ENV_VAR: '{"log_level": "INFO"}'})


def test_unknown_log_level_is_refused():
    with pytest.raises(ConfigError, match="log_level"):
        RunSettings(log_level="CHATTY")


# ---------------------------------------------------------------- logging
def _fake_snakemake(log: Path) -> SimpleNamespace:
    return SimpleNamespace(log=[str(log)])


def test_script_logging_takes_the_level_from_the_run_settings(tmp_path, monkeypatch):
    settings = RunSettings(log_level="DEBUG", tracked_dir=Path("t"))
    monkeypatch.setenv(ENV_VAR, settings.to_json())
    log = tmp_path / "rule.log"
    try:
        assert setup_for_snakemake(_fake_snakemake(log)) == settings
        logging.getLogger("benpipe.test").debug("a debug line")
    finally:
        logging.getLogger().handlers.clear()
    assert "DEBUG benpipe.test: a debug line" in log.read_text()


def test_script_outside_the_snakefile_fails_with_a_logged_reason(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    log = tmp_path / "rule.log"
    try:
        with pytest.raises(ConfigError, match=ENV_VAR):
            setup_for_snakemake(_fake_snakemake(log))
        assert logging.getLogger().level == logging.INFO
    finally:
        logging.getLogger().handlers.clear()
    assert log.exists()
