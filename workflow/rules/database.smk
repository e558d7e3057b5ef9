# Stage: PostGIS (docs/labelling.md, DESIGN.md §2).
# The embedded cluster (database.url unset) starts on first use and is stopped
# when the run ends unless database.keep_running; database.url selects an
# external server that benpipe never starts or stops. Scripts connect through
# the run settings (common.smk). Only which database holds the state (url, or
# the embedded folder) is a param, of start_database: another database starts
# empty, so every database stage reruns there; port and keep_running never do.


onsuccess:
    stop_embedded_database()


onerror:
    stop_embedded_database()


rule start_database:
    output:
        receipt="results/db/schema.json",
    log:
        "logs/start_database/start_database.log",
    localrule: True
    params:
        database=RUN_SETTINGS.database_identity,
        algorithm_version=DB_SCHEMA_VERSION,
    script:
        "../scripts/start_database.py"


rule ingest_clc:
    input:
        gpkg=get_ingest_clc_gpkg,
        schema="results/db/schema.json",
    output:
        receipt="results/db/receipts/clc.json",
    log:
        "logs/ingest_clc/ingest_clc.log",
    benchmark:
        "benchmarks/ingest_clc/ingest_clc.tsv"
    resources:
        db_slots=1,
    params:
        layer=config["inputs"]["clc_layer"],
        algorithm_version=INGEST_ALGORITHM_VERSION,
    script:
        "../scripts/ingest_clc.py"


rule ingest_countries:
    input:
        countries=get_ingest_countries_file,
        schema="results/db/schema.json",
    output:
        receipt="results/db/receipts/countries.json",
    log:
        "logs/ingest_countries/ingest_countries.log",
    resources:
        db_slots=1,
    params:
        algorithm_version=INGEST_ALGORITHM_VERSION,
    script:
        "../scripts/ingest_countries.py"


rule ingest_v1_footprints:
    input:
        v1_dir=get_ingest_v1_footprints_dir,
        # the directory's content (record_input_tree, inputs.smk)
        v1_manifest=input_tree_manifest("v1_metadata_dir"),
        schema="results/db/schema.json",
    output:
        receipt="results/db/receipts/v1_footprints.json",
    log:
        "logs/ingest_v1_footprints/ingest_v1_footprints.log",
    resources:
        db_slots=1,
    params:
        reference_season_quirk=config["patching"]["reference_season_quirk"],
        algorithm_version=INGEST_ALGORITHM_VERSION,
    script:
        "../scripts/ingest_v1_footprints.py"
