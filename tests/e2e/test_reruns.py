"""Which config changes rerun which jobs, after one complete demo run.

A rule's params carry only the values that change its output bytes; every
other setting reaches the scripts as run settings (benpipe.runsettings). Each
case here changes keys in a copy of the finished run's config and asks
``snakemake -n`` which jobs it would run:

* an operational key, or another spelling of the same path, schedules nothing
  (in production a needless rerun costs ~100 GB of downloads or hours of
  sen2cor);
* an output key schedules exactly the jobs whose bytes it changes and the
  jobs that follow them.

Every key of the config schema must be covered here, with the effect that
the schema (``x-effect``) and config/README.md give it. All dry runs share
the session's one demo run (``run_a``) and run two at a time.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from .demo import REPO, DemoRun, dry_run_jobs

pytestmark = [pytest.mark.slow, pytest.mark.postgis]

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
N = 4  # products of the demo world

# ---------------------------------------------------------------- the jobs a change reruns
# qa_dataset draws from the dataset, qa_page shows the verify result and
# qa_product draws from the side outputs of export_patches and label_patches.
RELEASE_TAIL = {
    "finalize_dataset": 1,
    "hash_outputs": 1,
    "package_release": 1,
    "qa_dataset": 1,
    "build_catalogue": 1,
    "hash_catalogue": 1,
}
VERIFY = {"verify": 1, "qa_page": 1, "all": 1}
AFTER_METADATA = {"export_metadata_tables": 1, **RELEASE_TAIL, **VERIFY}
AFTER_LABELS = {"label_patches": N, "qa_product": N, **AFTER_METADATA}
AFTER_GRIDS = {"build_patch_grid": N, "align_v1": 1, **AFTER_LABELS}
ANOTHER_DATABASE = {
    "start_database": 1,
    "ingest_clc": 1,
    "ingest_countries": 1,
    "ingest_v1_footprints": 1,
    **AFTER_GRIDS,
}
AFTER_L2A = {
    "extract_l1c": N,  # the extracted SAFE is temp(): gone after the run
    "convert_l2a": N,
    "export_patches": N,
    **AFTER_GRIDS,
}

# ---------------------------------------------------------------- changes
Change = Callable[[dict[str, Any], DemoRun, Path], None]


def _section(config: dict[str, Any], key: str) -> tuple[dict[str, Any], str]:
    *sections, leaf = key.split(".")
    node = config
    for section in sections:
        node = node[section]
    return node, leaf


def setting(**values: Any) -> Change:
    """Set dotted keys (``setting(**{"cdse.timeout_s": 7})``) to values."""

    def change(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
        for key, value in values.items():
            node, leaf = _section(config, key)
            node[leaf] = value

    return change


def relative_spelling(*keys: str) -> Change:
    """The same paths, relative to the run's working directory."""

    def change(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
        for key in keys:
            node, leaf = _section(config, key)
            node[leaf] = os.path.relpath(node[leaf], run.workdir)

    return change


def absolute_spelling(*keys: str) -> Change:
    """The same paths, absolute, with redundant `.` and `x/..` parts."""

    def change(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
        for key in keys:
            node, leaf = _section(config, key)
            absolute = run.workdir / node[leaf]  # an absolute path stays
            node[leaf] = f"{absolute.parent}/./x/../{absolute.name}"

    return change


def copy_of(key: str, *, edit: Callable[[Path], None] | None = None) -> Change:
    """Point ``key`` at a copy of its file or folder (optionally edited)."""

    def change(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
        node, leaf = _section(config, key)
        source = Path(node[leaf])
        target = tmp / "copy" / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True)
            shutil.copy2(source, target)
        if edit is not None:
            edit(target)
        node[leaf] = str(target)

    return change


def keys_sorted(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
    """No change: the config is rewritten with every mapping's keys sorted."""


def published_metadata(config: dict[str, Any], run: DemoRun, tmp: Path) -> None:
    """verify.published_metadata_dir: a folder with copies of the run's parquets."""
    folder = tmp / "published"
    folder.mkdir()
    for name in (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ):
        shutil.copy2(run.results / "dataset" / name, folder / name)
    config["verify"]["published_metadata_dir"] = str(folder)


def _append_row(folder: Path) -> None:
    with (folder / "metadata_hashes.csv").open("a") as handle:
        handle.write("extra.parquet,0\n")


INPUT_FILES = tuple(
    f"inputs.{name}"
    for name in (
        "tile_names_and_links",
        "v1_metadata_dir",
        "s1_root",
        "s1s2_mapping",
        "seasonal_snow_list",
        "cloud_shadow_list",
        "clc_gpkg",
        "countries",
    )
)
PATHS = ("tracked_artifacts_dir", *INPUT_FILES)
CDSE_ENDPOINTS = {
    "cdse.catalogue_url": "http://127.0.0.1:9/odata/v1",
    "cdse.download_url": "http://127.0.0.1:9/odata/v1",
    "cdse.token_url": "http://127.0.0.1:9/token",
    "cdse.client_id": "another-client",
    "cdse.netrc": "/elsewhere/cdse.netrc",
}
CDSE_RETRIES = {
    "cdse.max_attempts": 3,
    "cdse.backoff_initial_s": 0.5,
    "cdse.backoff_max_s": 5.0,
    "cdse.timeout_s": 7,
}
SEN2COR_ONLY = {"l2a.sen2cor_version": "2.12", "l2a.gip_l2a": "config/L2A_GIPP.xml"}


def one(key: str, value: Any) -> tuple[tuple[str, ...], Change]:
    return (key,), setting(**{key: value})


# ---------------------------------------------------------------- cases
# case -> (the keys it changes, the change). Nothing may rerun: operational
# keys, and other spellings of the same paths.
UNCHANGED: dict[str, tuple[tuple[str, ...], Change]] = {
    "mapping order": ((), keys_sorted),
    "log_level": one("log_level", "DEBUG"),
    "run_name": one("run_name", "another-name"),
    "cdse endpoints and netrc": (tuple(CDSE_ENDPOINTS), setting(**CDSE_ENDPOINTS)),
    "cdse retries and timeout": (tuple(CDSE_RETRIES), setting(**CDSE_RETRIES)),
    "l2a.timeout_min": one("l2a.timeout_min", 1),
    "l2a.sen2cor_cmd": one("l2a.sen2cor_cmd", "/opt/sen2cor/bin/L2A_Process"),
    # the fallback converter reads no GIPP and does not run sen2cor
    "sen2cor-only keys with processor: fallback": (
        tuple(SEN2COR_ONLY),
        setting(**SEN2COR_ONLY),
    ),
    "database.port": one("database.port", 1024),
    "database.keep_running": one("database.keep_running", True),
    "release.zstd_threads": one("release.zstd_threads", 1),
    # only the outputs of the freeze target depend on it, never `all`
    "verify.freeze_full_csvs": one("verify.freeze_full_csvs", False),
    "tracked_artifacts_dir, a copy with the same content": (
        ("tracked_artifacts_dir",),
        copy_of("tracked_artifacts_dir"),
    ),
    "paths, relative": (PATHS, relative_spelling(*PATHS)),
    "paths, absolute with redundant parts": (
        (*PATHS, "database.embedded_dir"),
        absolute_spelling(*PATHS, "database.embedded_dir"),
    ),
}

# case -> (the key, the change, exactly the jobs it must schedule).
RERUN: dict[str, tuple[tuple[str, ...], Change, dict[str, int]]] = {
    "l2a.processor": (*one("l2a.processor", "sen2cor"), AFTER_L2A),
    "patching.unlabeled_max_fraction": (
        *one("patching.unlabeled_max_fraction", 0.3),
        AFTER_LABELS,
    ),
    "patching.reference_season_quirk": (
        *one("patching.reference_season_quirk", False),
        {"ingest_v1_footprints": 1, **AFTER_GRIDS},
    ),
    "patching.overlap_threshold": (
        *one("patching.overlap_threshold", 0.02),
        {"align_v1": 1, **AFTER_METADATA},
    ),
    "patching.country_rule": (
        *one("patching.country_rule", "largest_share"),
        {"align_v1": 1, **AFTER_METADATA},
    ),
    "inputs.clc_layer": (
        *one("inputs.clc_layer", "another_layer"),
        {"ingest_clc": 1, **AFTER_LABELS},
    ),
    "inputs.countries, another file": (
        ("inputs.countries",),
        copy_of("inputs.countries"),
        {"ingest_countries": 1, "align_v1": 1, **AFTER_METADATA},
    ),
    "database.url": (
        *one("database.url", "postgresql://ben@127.0.0.1:5432/bigearthnet"),
        ANOTHER_DATABASE,
    ),
    "database.schema": (
        *one("database.schema", "benpipe_another_run"),
        ANOTHER_DATABASE,
    ),
    "database.embedded_dir, another folder": (
        *one("database.embedded_dir", "results/db/pg2"),
        ANOTHER_DATABASE,
    ),
    "release.zstd_level": (
        *one("release.zstd_level", 7),
        {"package_release": 1, **VERIFY},
    ),
    "release.file_modes": (
        *one("release.file_modes", "filesystem"),
        {"package_release": 1, **VERIFY},
    ),
    "verify.published_metadata_dir, set": (
        ("verify.published_metadata_dir",),
        published_metadata,
        VERIFY,
    ),
    "verify.strict": (*one("verify.strict", False), VERIFY),
    "qa.samples_per_class": (
        *one("qa.samples_per_class", 2),
        {"qa_dataset": 1, "qa_page": 1, "all": 1},
    ),
    "verify.max_listed": (*one("verify.max_listed", 5), VERIFY),
    "tracked_artifacts_dir, other content": (
        ("tracked_artifacts_dir",),
        copy_of("tracked_artifacts_dir", edit=_append_row),
        VERIFY,
    ),
}
# The schema allows one value only (the reference's): no change to test.
SINGLE_VALUE = {"patching.size_m", "patching.resolution_m"}
# File keys that are null in the demo: another spelling of the same folder
# cannot be tried against run_a (every path key shares config_path()).
FILE_WITHOUT_DEMO_VALUE = {
    "verify.published_metadata_dir": "null in the demo; set, it reruns verify",
}
# Output keys that no job of the demo's `all` depends on (in UNCHANGED).
OUTPUT_WITHOUT_DEMO_JOBS = {
    "l2a.sen2cor_version": "a param of convert_l2a with processor: sen2cor only",
    "verify.freeze_full_csvs": "selects the outputs of freeze_release_artifacts",
}


# ---------------------------------------------------------------- dry runs
def schema_effects() -> dict[str, str]:
    """{dotted key: x-effect} of every leaf key of the config schema."""
    effects: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if sub.get("type") == "object":
                walk(sub, f"{prefix}{key}.")
            else:
                effects[prefix + key] = sub["x-effect"]

    walk(yaml.safe_load(SCHEMA.read_text()), "")
    return effects


def scheduled_jobs(run: DemoRun, change: Change, tmp: Path) -> Counter[str] | str:
    """{rule: job count} that ``snakemake -n`` schedules after ``change``."""
    tmp.mkdir(parents=True)
    config = copy.deepcopy(yaml.safe_load((run.workdir / "demo-test.yaml").read_text()))
    change(config, run, tmp)
    return dry_run_jobs(run.workdir, config, config_path=tmp / "changed.yaml")


@pytest.fixture(scope="module")
def dry_runs(run_a, tmp_path_factory) -> dict[str, Counter[str] | str]:
    """Every case's dry run against the finished run_a, two at a time."""
    changes = {case: change for case, (_, change) in UNCHANGED.items()}
    changes |= {case: change for case, (_, change, _) in RERUN.items()}
    root = tmp_path_factory.mktemp("dry-runs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            case: pool.submit(scheduled_jobs, run_a, change, root / f"case-{i}")
            for i, (case, change) in enumerate(changes.items())
        }
        return {case: future.result() for case, future in futures.items()}


# ---------------------------------------------------------------- tests
def test_every_schema_key_is_covered_with_its_documented_effect():
    effects = schema_effects()
    unchanged = {key for keys, _ in UNCHANGED.values() for key in keys}
    rerun = {key for keys, _, _ in RERUN.values() for key in keys}
    assert set(effects.values()) <= {"output", "operational", "file"}
    assert set(effects) == unchanged | rerun | SINGLE_VALUE | set(
        FILE_WITHOUT_DEMO_VALUE
    )
    for key, effect in effects.items():
        if effect == "operational":
            assert key in unchanged and key not in rerun, key
        elif effect == "file":  # another spelling reruns nothing
            assert key in unchanged or key in FILE_WITHOUT_DEMO_VALUE, key
    for key in rerun:  # another value, or another file
        assert effects[key] in {"output", "file"}, key
    output_keys = {key for key, effect in effects.items() if effect == "output"}
    untested = output_keys - rerun
    assert untested == SINGLE_VALUE | set(OUTPUT_WITHOUT_DEMO_JOBS), untested


@pytest.mark.parametrize("case", list(UNCHANGED))
def test_operational_change_or_path_spelling_reruns_nothing(case, dry_runs):
    assert dry_runs[case] == Counter(), case


@pytest.mark.parametrize("case", list(RERUN))
def test_output_change_reruns_exactly_the_affected_jobs(case, dry_runs):
    expected = Counter(RERUN[case][2])
    assert dry_runs[case] == expected, case


# ---------------------------------------------------------------- directory inputs
# A file changed inside a directory input, in place (the path, the folder's
# mtime and the file's mtime as before): Snakemake alone sees nothing
# (issue 14, BAD 3); record_input_tree's content digest does. These edit the
# session's demo world and restore it, so they run one at a time, outside the
# parallel dry runs above.
READERS = {
    "inputs.s1_root": {"record_input_tree": 1, **RELEASE_TAIL, **VERIFY},
    "inputs.v1_metadata_dir": {
        "record_input_tree": 1,
        "ingest_v1_footprints": 1,
        "align_v1": 1,
        **AFTER_METADATA,
    },
}


@contextlib.contextmanager
def _edited_in_place(victim: Path, *, change_bytes: bool) -> Iterator[None]:
    """Change ``victim`` in place (or only touch it), keep its and its folder's
    mtimes; restore its bytes and mtime afterwards."""
    original = victim.read_bytes()
    stamps = {p: p.stat() for p in (victim, victim.parent)}
    try:
        if change_bytes:
            with victim.open("r+b") as handle:  # the same inode, as rasterio r+
                handle.seek(len(original) // 2)
                handle.write(bytes([original[len(original) // 2] ^ 0xFF]))
        else:
            os.utime(victim)  # touch
        for path, st in stamps.items():
            if change_bytes or path != victim:
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        yield
    finally:
        with victim.open("r+b") as handle:
            handle.write(original)
        for path, st in stamps.items():
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("key", list(READERS))
@pytest.mark.parametrize("change_bytes", [True, False], ids=["replaced", "touched"])
def test_a_file_changed_inside_a_directory_input_reruns_its_readers(
    run_a, tmp_path, key, change_bytes
):
    config = yaml.safe_load((run_a.workdir / "demo-test.yaml").read_text())
    node, leaf = _section(config, key)
    victim = sorted(p for p in Path(node[leaf]).rglob("*") if p.is_file())[0]
    with _edited_in_place(victim, change_bytes=change_bytes):
        jobs = dry_run_jobs(run_a.workdir, config, config_path=tmp_path / "same.yaml")
    assert jobs == (Counter(READERS[key]) if change_bytes else Counter()), key
