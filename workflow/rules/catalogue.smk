# Stage: catalogue (docs/catalogue.md): the searchable patch catalogue of the
# assembled dataset (GeoParquet, stac-geoparquet) and its STAC Collections,
# then its hash list, which verify compares with the tracked copy.


rule build_catalogue:
    input:
        # finalize_dataset (finalize.smk) writes directory("results/dataset").
        dataset="results/dataset",
        manifest="results/dataset.json",
    output:
        catalogue="results/catalogue/patches.parquet",
        stac=directory("results/catalogue/stac"),
    log:
        "logs/build_catalogue/build_catalogue.log",
    benchmark:
        "benchmarks/build_catalogue/build_catalogue.tsv"
    params:
        algorithm_version=PATCH_CATALOGUE_VERSION,
        tile_ids_sha256=get_build_catalogue_tile_ids_sha256(),
        overlap_threshold=config["patching"]["overlap_threshold"],
        reference_season_quirk=config["patching"]["reference_season_quirk"],
    script:
        "../scripts/build_catalogue.py"


rule hash_catalogue:
    input:
        catalogue=rules.build_catalogue.output.catalogue,
        stac=rules.build_catalogue.output.stac,
    output:
        catalogue="results/hashes/catalogue_hashes.csv",
    log:
        "logs/hash_catalogue/hash_catalogue.log",
    params:
        algorithm_version=HASHING_VERSION,
    script:
        "../scripts/hash_catalogue.py"
