# Stage: PostGIS (docs/labelling.md, DESIGN.md §2).
# The embedded cluster (database.url unset) starts on first use and is stopped
# when the run ends unless database.keep_running; database.url selects an
# external server that benpipe never starts or stops.


onsuccess:
    stop_embedded_database(config)


onerror:
    stop_embedded_database(config)


rule start_database:
    output:
        receipt="results/db/schema.json",
    log:
        "logs/start_database/start_database.log",
    localrule: True
    params:
        database=get_database_settings(),
        algorithm_version=DB_SCHEMA_VERSION,
        log_level=LOG_LEVEL,
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
        database=get_database_settings(),
        layer=config["inputs"]["clc_layer"],
        algorithm_version=INGEST_ALGORITHM_VERSION,
        log_level=LOG_LEVEL,
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
        database=get_database_settings(),
        algorithm_version=INGEST_ALGORITHM_VERSION,
        log_level=LOG_LEVEL,
    script:
        "../scripts/ingest_countries.py"


rule ingest_v1_footprints:
    input:
        v1_dir=get_ingest_v1_footprints_dir,
        schema="results/db/schema.json",
    output:
        receipt="results/db/receipts/v1_footprints.json",
    log:
        "logs/ingest_v1_footprints/ingest_v1_footprints.log",
    resources:
        db_slots=1,
    params:
        database=get_database_settings(),
        reference_season_quirk=get_patching_settings()["reference_season_quirk"],
        algorithm_version=INGEST_ALGORITHM_VERSION,
        log_level=LOG_LEVEL,
    script:
        "../scripts/ingest_v1_footprints.py"
