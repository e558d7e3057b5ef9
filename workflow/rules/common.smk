# Config validation, wildcard constraints and every input function.
# Only small, pure benpipe functions are imported here: nothing that opens
# rasters, networks or databases at DAG-build time.
import csv
from pathlib import Path

from snakemake.utils import validate

from benpipe.names import L1C_WILDCARD, L2A_WILDCARD, l2a_name_for, tile_dir_for
from benpipe.config_checks import (
    check_config,
    require_input,
    require_product_list,
)
from benpipe.runsettings import RunSettings, canonical_path

validate(config, schema="../schemas/config.schema.yaml")
check_config(config)


wildcard_constraints:
    l1c=L1C_WILDCARD,
    l2a=L2A_WILDCARD,


# ---------------------------------------------------------------- params and run settings
# Params carry only values that change a rule's output bytes, as scalars
# (Snakemake stores them with the outputs and reruns a job when one changes).
# Every other setting a script needs reaches it through the run settings
# (benpipe.runsettings), exported here to the environment that every script
# inherits, so changing the log level, a timeout, a port, a thread count or
# the spelling of a path reruns nothing. config/README.md gives each key's
# effect. Snakemake has changed into the working directory (--directory)
# before it parses the Snakefile, here and in every cluster job.
WORKDIR = Path.cwd()


def config_path(value):
    """A config path in its one canonical spelling (relative inside WORKDIR)."""
    return canonical_path(value, working_dir=WORKDIR)


# Side files: updated or read by a rule, but not its input or output.
DOWNLOAD_ERRORS_CSV = "results/l1c/download_errors.csv"
SEARCH_TILE_IDS = "results/l1c/search/bigearthnet_s2_tile_ids.csv"

RUN_SETTINGS = RunSettings.from_config(
    config,
    working_dir=WORKDIR,
    download_errors_csv=DOWNLOAD_ERRORS_CSV,
    search_tile_ids=SEARCH_TILE_IDS,
)
RUN_SETTINGS.export()

TRACKED = RUN_SETTINGS.tracked_dir
# The input files of the run (inputs.*, except the layer name), canonical.
INPUTS = {
    key: config_path(value)
    for key, value in config["inputs"].items()
    if key != "clc_layer"
}


def input_file(key):
    """Input function of inputs.<key>: its path, or an error naming the key.

    Evaluated when a job that reads it enters the DAG, so a missing CORINE
    file stops `snakemake` before any job runs, with where to get it, and a
    search or freeze target does not need the inputs it never reads.
    """

    def get(wildcards):
        return require_input(key, INPUTS[key], working_dir=WORKDIR)

    return get


# ---------------------------------------------------------------- directory inputs (inputs.smk)
# Snakemake sees a directory input only through the directory's own mtime, so a
# file replaced inside inputs.s1_root or inputs.v1_metadata_dir would go
# unnoticed. record_input_tree's param is the content digest of the tree
# (paths, sizes, sha256; hashed once, then cached by inode and change stamps:
# benpipe.dirstate), and its manifest is an input of the rules that read the
# tree, so they rerun when a file's content changes, and only then.
import functools
import sys

from benpipe.dirstate import ALGORITHM_VERSION as DIRSTATE_ALGORITHM_VERSION

INPUT_TREES = ("s1_root", "v1_metadata_dir")


def input_tree_manifest(key):
    return f"results/inputs/{key}.manifest.csv"


@functools.cache
def input_tree_digest(key):
    """Content digest of inputs.<key>, computed once per Snakemake invocation."""
    from benpipe.dirstate import cache_for, directory_digest

    def report(line):
        print(f"benpipe: inputs.{key}: {line}", file=sys.stderr)

    return directory_digest(
        Path(INPUTS[key]), cache=cache_for(input_tree_manifest(key)), report=report
    )


def get_record_input_tree_dir(wildcards):
    return require_input(wildcards.tree, INPUTS[wildcards.tree], working_dir=WORKDIR)


def get_record_input_tree_content(wildcards):
    return input_tree_digest(wildcards.tree)


# ---------------------------------------------------------------- products
TILE_IDS_CSV = TRACKED / "bigearthnet_s2_tile_ids.csv"


def read_tile_ids():
    """Frozen L1C product → CDSE id table (tile,id); empty before the first freeze."""
    if not TILE_IDS_CSV.exists():
        return {}
    with TILE_IDS_CSV.open(newline="") as handle:
        return {
            row["tile"].removesuffix(".SAFE"): row["id"]
            for row in csv.DictReader(handle)
        }


TILE_IDS = read_tile_ids()
L1C_PRODUCTS = sorted(TILE_IDS)
L2A_TO_L1C = {l2a_name_for(name): name for name in L1C_PRODUCTS}
L2A_PRODUCTS = sorted(L2A_TO_L1C)


def require_products():
    """Stop the DAG build when the run has no product list (benpipe.config_checks).

    Called by every input function that expands the products, so the error
    names the tracked folder and the freeze targets as soon as such a job is
    requested, while `snakemake search_cdse` and `snakemake freeze_tile_ids`,
    which make the list, never need it.
    """
    require_product_list(
        TRACKED,
        TILE_IDS_CSV,
        len(L1C_PRODUCTS),
        working_dir=WORKDIR,
        repository=Path(workflow.basedir),
    )


def get_l1c_for_l2a(wildcards):
    try:
        return L2A_TO_L1C[wildcards.l2a]
    except KeyError:
        raise ValueError(
            f"L2A product {wildcards.l2a} is not derived from any product in "
            f"{TRACKED / 'bigearthnet_s2_tile_ids.csv'}; run the freeze targets first"
        ) from None


def get_cdse_id(wildcards):
    try:
        return TILE_IDS[wildcards.l1c]
    except KeyError:
        raise ValueError(
            f"L1C product {wildcards.l1c} is not in the frozen id list "
            f"{TRACKED / 'bigearthnet_s2_tile_ids.csv'}; run `snakemake search_cdse` "
            "and `snakemake freeze_tile_ids` to add it"
        ) from None


# ---------------------------------------------------------------- targets
def get_final_outputs(wildcards):
    """Every target of the default run (input function of `rule all`)."""
    require_products()
    targets = []
    targets += get_l1c_targets()
    targets += get_l2a_targets()
    targets += get_dataset_targets()
    targets += get_finalize_targets()
    targets += get_release_targets()
    targets += get_qa_targets()
    targets += get_catalogue_targets()
    return targets


# ---------------------------------------------------------------- stage: acquisition (l1c.smk)
from benpipe.cdse.catalogue import ALGORITHM_VERSION as CATALOGUE_ALGORITHM_VERSION
from benpipe.cdse.download import ALGORITHM_VERSION as DOWNLOAD_ALGORITHM_VERSION
from benpipe.l1c import ALGORITHM_VERSION as L1C_ALGORITHM_VERSION


def get_l1c_targets():
    """The L1C hash lists; they pull every download of the frozen id list."""
    return [
        "results/hashes/ben_s2_l1c_hashes.csv",
        "results/hashes/l1c_content_hashes.csv",
        "results/hashes/l1c_hashes_diff.md",
    ]


def get_hash_l1c_zips(wildcards):
    require_products()
    return expand("resources/l1c/{l1c}.zip", l1c=L1C_PRODUCTS)


def get_hash_l1c_products(wildcards):
    require_products()
    return L1C_PRODUCTS


def get_hash_l1c_ids(wildcards):
    require_products()
    return [TILE_IDS[name] for name in L1C_PRODUCTS]


# ---------------------------------------------------------------- stage: l2a (l2a.smk)
from benpipe.l2a import ALGORITHM_VERSION as L2A_ALGORITHM_VERSION


def get_convert_l2a_inputs(wildcards):
    """The extracted L1C SAFE folder, and the pinned GIPP file when one is set.

    The GIPP is an input file (its content, not the spelling of its path,
    is what changes sen2cor's output); the fallback converter ignores it.
    """
    inputs = {"l1c": f"resources/l1c/{get_l1c_for_l2a(wildcards)}.SAFE"}
    gip_l2a = config["l2a"]["gip_l2a"]
    if gip_l2a and config["l2a"]["processor"] == "sen2cor":
        inputs["gip_l2a"] = config_path(gip_l2a)
    return inputs


def get_convert_l2a_sen2cor_version():
    """The required sen2cor version (param); the fallback does not depend on it."""
    if config["l2a"]["processor"] != "sen2cor":
        return None
    return config["l2a"]["sen2cor_version"]


def get_l2a_targets():
    return expand("results/l2a/{l2a}.SAFE", l2a=L2A_PRODUCTS) + expand(
        "results/l2a/{l2a}.json", l2a=L2A_PRODUCTS
    )


# ---------------------------------------------------------------- stage: database + dataset (database.smk, dataset.smk)
from benpipe.db.ingest import ALGORITHM_VERSION as INGEST_ALGORITHM_VERSION
from benpipe.db.schema import ALGORITHM_VERSION as DB_SCHEMA_VERSION
from benpipe.dataset.labelling import ALGORITHM_VERSION as LABELLING_ALGORITHM_VERSION
from benpipe.dataset.patching import ALGORITHM_VERSION as PATCHING_ALGORITHM_VERSION
from benpipe.dataset.cross_product import ALGORITHM_VERSION as TABLES_ALGORITHM_VERSION


def stop_embedded_database():
    """onsuccess/onerror: stop the embedded PostGIS unless database.keep_running."""
    from benpipe.db.lifecycle import stop_if_embedded

    stop_if_embedded(RUN_SETTINGS.database)


get_ingest_clc_gpkg = input_file("clc_gpkg")
get_ingest_countries_file = input_file("countries")
get_ingest_v1_footprints_dir = input_file("v1_metadata_dir")


def get_align_v1_grids(wildcards):
    require_products()
    return expand("results/db/receipts/grid/{l2a}.json", l2a=L2A_PRODUCTS)


def get_export_metadata_tables_labels(wildcards):
    require_products()
    return expand("results/db/receipts/labels/{l2a}.json", l2a=L2A_PRODUCTS)


def get_dataset_targets():
    return (
        expand("results/export/reference_maps/{l2a}", l2a=L2A_PRODUCTS)
        + expand("results/db/receipts/labels/{l2a}.json", l2a=L2A_PRODUCTS)
        + ["results/db/receipts/align_v1.json"]
        + expand(
            "results/metadata/patch_id_{what}_mapping.csv",
            what=["label", "s2v1", "split", "country"],
        )
    )


# ---------------------------------------------------------------- stage: export + finalize (export.smk, finalize.smk)
from benpipe.dataset.export import ALGORITHM_VERSION as EXPORT_ALGORITHM_VERSION
from benpipe.dataset.finalize import ALGORITHM_VERSION as FINALIZE_ALGORITHM_VERSION


def get_finalize_targets():
    """The assembled dataset (it pulls every product's export)."""
    return ["results/dataset", "results/dataset.json"]


def get_finalize_s2_dirs(wildcards):
    require_products()
    return expand("results/export/s2/{l2a}", l2a=L2A_PRODUCTS)


def get_finalize_s2_manifests(wildcards):
    require_products()
    return expand("results/export/s2/{l2a}.json", l2a=L2A_PRODUCTS)


def get_finalize_reference_map_dirs(wildcards):
    require_products()
    return expand("results/export/reference_maps/{l2a}", l2a=L2A_PRODUCTS)


# ---------------------------------------------------------------- stage: qa (qa.smk)
# export_patches and label_patches write the QA side outputs (previews) from the
# arrays they hold; QA_PREVIEW_VERSION is their param, QA_ALGORITHM_VERSION the
# figures'.
from benpipe.qa.core import ALGORITHM_VERSION as QA_ALGORITHM_VERSION
from benpipe.qa.previews import PREVIEW_VERSION as QA_PREVIEW_VERSION


def get_qa_targets():
    """The QA page (it pulls every product's figures and the dataset figures)."""
    if not L2A_PRODUCTS:
        return []
    return ["results/qa/index.html"]


def get_qa_page_products():
    return expand("results/qa/products/{l2a}.json", l2a=L2A_PRODUCTS)


def get_qa_page_product_figures():
    return expand(
        "results/qa/products/{l2a}_{figure}.png",
        l2a=L2A_PRODUCTS,
        figure=["quicklook", "reference_map"],
    )


def get_qa_dataset_countries(wildcards):
    return INPUTS["countries"]


# ---------------------------------------------------------------- stage: release (release.smk)
from benpipe.dataset.layout import METADATA_FILES
from benpipe.release.verify import check_tracked_dir, tracked_file_names

# What verify compares against, under the tracked dir (docs/release.md).
VERIFY_TRACKED_FILES = tracked_file_names()
# Produced hash lists that freeze_release_artifacts copies: output key -> name.
FREEZE_RELEASE_DIGESTS = {
    "patches_digest": "patch_hashes.csv.sha256",
    "reference_maps_digest": "reference_maps_hashes.csv.sha256",
    "s1_digest": "s1_hashes.csv.sha256",
    "metadata": "metadata_hashes.csv",
    "catalogue": "catalogue_hashes.csv",
}
FREEZE_RELEASE_LISTS = {"md5s": "hashes.txt", "sha256s": "sha256sums.txt"}
FREEZE_RELEASE_FULL_CSVS = {
    "patches": "patch_hashes.csv",
    "reference_maps": "reference_maps_hashes.csv",
    "s1": "s1_hashes.csv",
}


def get_verify_published_metadata(wildcards):
    """The published parquets (verify.published_metadata_dir), or nothing."""
    folder = config["verify"].get("published_metadata_dir")
    if not folder:
        return []
    folder = Path(config_path(folder))
    files = [str(folder / name) for name in METADATA_FILES]
    missing = [f for f in files if not (WORKDIR / f).is_file()]
    if missing:
        raise ValueError(
            f"verify.published_metadata_dir = {folder} lacks {', '.join(missing)}: "
            "set it to the folder of the published reBEN metadata parquets "
            "(docs/rebuild-reben.md), or to null"
        )
    return files


def get_release_targets():
    return [
        "results/verification.md",
        "results/verification.json",
        "results/release/BigEarthNet-S1.tar.zst",
        "results/release/BigEarthNet-S2.tar.zst",
        "results/release/Reference_Maps.tar.zst",
        "results/release/hashes.txt",
        "results/release/sha256sums.txt",
    ]


def _file_fingerprint(path):
    """sha256 of a small file, size and mtime of a big one (cheap at DAG time)."""
    import hashlib

    stat = path.stat()
    if stat.st_size > 8 * 1024 * 1024:
        return f"size={stat.st_size},mtime_ns={stat.st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def get_verify_tracked_state(wildcards):
    """Content fingerprints of the tracked copies and the optional search result.

    Keyed by file name, never by path: another spelling (or another folder
    with the same content) of tracked_artifacts_dir must not rerun verify; a
    refreeze must. Sorted "name=fingerprint" strings: a stable text form.
    A missing or empty tracked folder stops the DAG build (nothing to verify
    against).
    """
    check_tracked_dir(WORKDIR / TRACKED)
    paths = {name: TRACKED / name for name in VERIFY_TRACKED_FILES}
    paths[f"search:{Path(SEARCH_TILE_IDS).name}"] = Path(SEARCH_TILE_IDS)
    return sorted(
        f"{name}={_file_fingerprint(path)}"
        for name, path in paths.items()
        if path.is_file()
    )


def _freeze_release_names():
    names = dict(FREEZE_RELEASE_DIGESTS)
    names.update(FREEZE_RELEASE_LISTS)
    if config["verify"]["freeze_full_csvs"]:
        names.update(FREEZE_RELEASE_FULL_CSVS)
    return names


def get_freeze_release_inputs(wildcards):
    """The produced hash lists, keyed like the outputs of freeze_release_artifacts."""
    hashes = dict(rules.hash_outputs.output.items())
    hashes.update(rules.hash_catalogue.output.items())
    release = dict(rules.package_release.output.items())
    return {
        key: release[key] if key in FREEZE_RELEASE_LISTS else hashes[key]
        for key in _freeze_release_names()
    }


def get_freeze_release_outputs():
    """The tracked copies written by freeze_release_artifacts."""
    return {key: str(TRACKED / name) for key, name in _freeze_release_names().items()}


# ---------------------------------------------------------------- stage: catalogue (catalogue.smk)
from benpipe.catalogue.core import ALGORITHM_VERSION as PATCH_CATALOGUE_VERSION


def get_catalogue_targets():
    """The patch catalogue, its STAC folder and hash list (after finalize)."""
    if not L2A_PRODUCTS:
        return []
    return [
        "results/catalogue/patches.parquet",
        "results/catalogue/stac",
        "results/hashes/catalogue_hashes.csv",
    ]


# The frozen tile-id table (L1C product and CDSE id of each tile folder): the
# script reads it from the run settings' tracked folder. It is not an input:
# as an input it would pull its freeze target (freeze_tile_ids, search_cdse)
# into the default run. Its content digest is a param, so a refreeze rebuilds
# the catalogue and another spelling of the folder does not.
def get_build_catalogue_tile_ids_sha256():
    path = TRACKED / "bigearthnet_s2_tile_ids.csv"
    return _file_fingerprint(path) if path.is_file() else ""


# ---------------------------------------------------------------- stage: execution (profiles, docs/cluster.md)
# Under a cluster executor these rules run on the submitting host, like the
# rules that declare `localrule: True` themselves (derive_l1c_names,
# search_cdse, start_database, freeze_*): downloads need the internet access
# that compute nodes often lack (and are I/O-bound, capped by cdse_slots);
# verify only compares small hash files, qa_page only writes the HTML page
# around figures that exist and hash_catalogue hashes one parquet and a few
# JSON files. Everything else is submitted as a job.
localrules:
    download_l1c,
    hash_catalogue,
    verify,
    qa_page,


def check_execution_environment():
    """Refuse a cluster run that cannot reach the database, and a run whose
    rerun decisions trust output checksums.

    Runs at the start of execution (onstart), when the executor is known: at
    parse time Snakemake has not chosen it yet.
    """
    max_checksum = getattr(workflow.dag_settings, "max_checksum_file_size", 0)
    if max_checksum:
        raise ValueError(
            f"--max-checksum-file-size is {max_checksum}: Snakemake would skip "
            "the jobs after a database rule whose receipt came out byte-identical, "
            "although it replaced the rows behind it (a rerun build_patch_grid "
            "deletes the product's alignment and labels), and those patches would "
            "vanish from the dataset. Run with --max-checksum-file-size 0, as the "
            "workflow profiles do (docs/cluster.md)"
        )
    if workflow.non_local_exec and not config["database"]["url"]:
        raise ValueError(
            "database.url is null, but jobs run through a remote executor: "
            "the embedded PostGIS runs on the submitting host; jobs on other "
            "nodes cannot reach it: set database.url to a shared server, see "
            "docs/cluster.md"
        )


# The workflow's only onstart handler (Snakemake keeps one): a stage that
# needs its own must call check_execution_environment() from it.
onstart:
    check_execution_environment()
