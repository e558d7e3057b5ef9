# Stage: acquisition (docs/acquisition.md, DESIGN.md §2).
# v1 CSV -> L1C names -> CDSE ids (freeze targets) -> downloads -> extraction,
# hashes. Credentials are never params: the library reads CDSE_USERNAME /
# CDSE_PASSWORD or the netrc file (cdse.netrc, ~/.netrc) at the call site, so
# runs against the emulator and dry runs need no real credentials. The cdse.*
# endpoints, retries and timeouts reach the scripts as run settings (common.smk):
# a verified zip does not depend on them.


rule derive_l1c_names:
    input:
        csv=input_file("tile_names_and_links"),
    output:
        names="results/l1c/l1c_product_names.txt",
    log:
        "logs/derive_l1c_names/derive_l1c_names.log",
    localrule: True
    params:
        algorithm_version=L1C_ALGORITHM_VERSION,
    script:
        "../scripts/derive_l1c_names.py"


# Freeze target (never in `all`): query the catalogue, diff with tracked.
rule search_cdse:
    input:
        names=rules.derive_l1c_names.output.names,
    output:
        tile_ids=SEARCH_TILE_IDS,
        catalogue="results/l1c/search/cdse_catalogue.csv",
        diff="results/l1c/search/diff.md",
    log:
        "logs/search_cdse/search_cdse.log",
    localrule: True
    resources:
        cdse_slots=1,
    params:
        algorithm_version=CATALOGUE_ALGORITHM_VERSION,
    script:
        "../scripts/search_cdse.py"


# Freeze target: copy the reviewed search results onto the tracked copies.
rule freeze_tile_ids:
    input:
        tile_ids=rules.search_cdse.output.tile_ids,
        catalogue=rules.search_cdse.output.catalogue,
    output:
        tile_ids=str(TRACKED / "bigearthnet_s2_tile_ids.csv"),
        catalogue=str(TRACKED / "cdse_catalogue.csv"),
    log:
        "logs/freeze_tile_ids/freeze_tile_ids.log",
    localrule: True
    script:
        "../scripts/freeze_files.py"


rule download_l1c:
    output:
        zip=ensure("resources/l1c/{l1c}.zip", non_empty=True),
    log:
        "logs/download_l1c/{l1c}.log",
    benchmark:
        "benchmarks/download_l1c/{l1c}.tsv"
    retries: 2
    resources:
        cdse_slots=1,
    params:
        product_id=get_cdse_id,
        algorithm_version=DOWNLOAD_ALGORITHM_VERSION,
    script:
        "../scripts/download_l1c.py"


rule extract_l1c:
    input:
        zip="resources/l1c/{l1c}.zip",
    output:
        safe=temp(directory("resources/l1c/{l1c}.SAFE")),
    log:
        "logs/extract_l1c/{l1c}.log",
    params:
        algorithm_version=L1C_ALGORITHM_VERSION,
    script:
        "../scripts/extract_l1c.py"


rule hash_l1c:
    input:
        zips=get_hash_l1c_zips,
    output:
        zip_hashes="results/hashes/ben_s2_l1c_hashes.csv",
        content_hashes="results/hashes/l1c_content_hashes.csv",
        diff="results/hashes/l1c_hashes_diff.md",
    log:
        "logs/hash_l1c/hash_l1c.log",
    benchmark:
        "benchmarks/hash_l1c/hash_l1c.tsv"
    params:
        products=get_hash_l1c_products,
        ids=get_hash_l1c_ids,
        algorithm_version=L1C_ALGORITHM_VERSION,
    script:
        "../scripts/hash_l1c.py"


# Freeze target: copy the reviewed L1C hash lists onto the tracked copies.
rule freeze_l1c_hashes:
    input:
        zip_hashes=rules.hash_l1c.output.zip_hashes,
        content_hashes=rules.hash_l1c.output.content_hashes,
    output:
        zip_hashes=str(TRACKED / "ben_s2_l1c_hashes.csv"),
        content_hashes=str(TRACKED / "l1c_content_hashes.csv"),
    log:
        "logs/freeze_l1c_hashes/freeze_l1c_hashes.log",
    localrule: True
    script:
        "../scripts/freeze_files.py"
