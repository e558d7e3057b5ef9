# Stage: patch grid, CORINE labels, v1 alignment and metadata tables
# (docs/labelling.md, DESIGN.md §2). One job per product for the grid and
# the labels; alignment and exports run once across all products.


rule build_patch_grid:
    input:
        l2a="results/l2a/{l2a}.SAFE",
        # Validity comes from the export, which already decoded every band
        # (ARCHITECTURE §4: never decode a product twice across jobs).
        export_manifest="results/export/s2/{l2a}.json",
        schema="results/db/schema.json",
    output:
        receipt="results/db/receipts/grid/{l2a}.json",
    log:
        "logs/build_patch_grid/{l2a}.log",
    benchmark:
        "benchmarks/build_patch_grid/{l2a}.tsv"
    resources:
        db_slots=1,
    params:
        patch_side_m=config["patching"]["size_m"],
        reference_season_quirk=config["patching"]["reference_season_quirk"],
        algorithm_version=PATCHING_ALGORITHM_VERSION,
    script:
        "../scripts/build_patch_grid.py"


rule label_patches:
    input:
        l2a="results/l2a/{l2a}.SAFE",
        grid="results/db/receipts/grid/{l2a}.json",
        clc="results/db/receipts/clc.json",
    output:
        maps=directory("results/export/reference_maps/{l2a}"),
        receipt="results/db/receipts/labels/{l2a}.json",
        # The CLC QA preview, from the burnt grid this job holds (qa.smk).
        qa_preview="results/qa/previews/{l2a}_clc.npz",
    log:
        "logs/label_patches/{l2a}.log",
    benchmark:
        "benchmarks/label_patches/{l2a}.tsv"
    resources:
        db_slots=1,
    params:
        patch_side_m=config["patching"]["size_m"],
        resolution_m=config["patching"]["resolution_m"],
        unlabeled_max_fraction=config["patching"]["unlabeled_max_fraction"],
        algorithm_version=LABELLING_ALGORITHM_VERSION,
        qa_preview_version=QA_PREVIEW_VERSION,
    script:
        "../scripts/label_patches.py"


rule align_v1:
    input:
        grids=get_align_v1_grids,
        v1="results/db/receipts/v1_footprints.json",
        countries="results/db/receipts/countries.json",
    output:
        receipt="results/db/receipts/align_v1.json",
    log:
        "logs/align_v1/align_v1.log",
    benchmark:
        "benchmarks/align_v1/align_v1.tsv"
    resources:
        db_slots=1,
    params:
        overlap_threshold=config["patching"]["overlap_threshold"],
        country_rule=config["patching"]["country_rule"],
        algorithm_version=TABLES_ALGORITHM_VERSION,
    script:
        "../scripts/align_v1.py"


rule export_metadata_tables:
    input:
        labels=get_export_metadata_tables_labels,
        align="results/db/receipts/align_v1.json",
    output:
        label="results/metadata/patch_id_label_mapping.csv",
        s2v1="results/metadata/patch_id_s2v1_mapping.csv",
        split="results/metadata/patch_id_split_mapping.csv",
        country="results/metadata/patch_id_country_mapping.csv",
    log:
        "logs/export_metadata_tables/export_metadata_tables.log",
    resources:
        db_slots=1,
    params:
        algorithm_version=TABLES_ALGORITHM_VERSION,
    script:
        "../scripts/export_metadata_tables.py"
