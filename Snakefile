# benpipe: rebuilds BigEarthNet v2 (reBEN) from Sentinel-2 L1C products.
# Thin entrypoint: version, config, validation (common.smk), includes, targets.
from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/l1c.smk"
include: "workflow/rules/l2a.smk"
include: "workflow/rules/database.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/finalize.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/qa.smk"
include: "workflow/rules/catalogue.smk"


rule all:
    default_target: True
    input:
        get_final_outputs,
