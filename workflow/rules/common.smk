# Config validation, wildcard constraints and every input function.
# Only small, pure benpipe functions are imported here: nothing that opens
# rasters, networks or databases at DAG-build time.
import csv
from pathlib import Path

from snakemake.utils import validate

from benpipe.names import L1C_WILDCARD, L2A_WILDCARD, l2a_name_for, tile_dir_for
from benpipe.workflow import check_config


validate(config, schema="../schemas/config.schema.yaml")
check_config(config)


wildcard_constraints:
    l1c=L1C_WILDCARD,
    l2a=L2A_WILDCARD,


TRACKED = Path(config["tracked_artifacts_dir"])
LOG_LEVEL = config.get("log_level", "INFO")


# ---------------------------------------------------------------- products
def read_tile_ids():
    """Frozen L1C product → CDSE id table (tile,id); empty before the first freeze."""
    path = TRACKED / "bigearthnet_s2_tile_ids.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {
            row["tile"].removesuffix(".SAFE"): row["id"]
            for row in csv.DictReader(handle)
        }


TILE_IDS = read_tile_ids()
L1C_PRODUCTS = sorted(TILE_IDS)
L2A_TO_L1C = {l2a_name_for(name): name for name in L1C_PRODUCTS}
L2A_PRODUCTS = sorted(L2A_TO_L1C)


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
def get_final_outputs():
    """Everything `rule all` builds: the stages that exist."""
    targets = []
    targets += get_l1c_targets()
    targets += get_l2a_targets()
    targets += get_dataset_targets()
    targets += get_finalize_targets()
    targets += get_release_targets()
    return targets


# ---------------------------------------------------------------- stage: acquisition (l1c.smk)
def get_l1c_targets():
    return []


# ---------------------------------------------------------------- stage: l2a (l2a.smk)
def get_l2a_targets():
    return []


# ---------------------------------------------------------------- stage: database + dataset (database.smk, dataset.smk)
def get_dataset_targets():
    return []


# ---------------------------------------------------------------- stage: export + finalize (export.smk, finalize.smk)
def get_finalize_targets():
    return []


# ---------------------------------------------------------------- stage: release (release.smk)
def get_release_targets():
    return []
