# Rules of this stage: see docs/DESIGN.md §2 and docs/release.md.
# hash_outputs, package_release and verify are part of `rule all`;
# freeze_release_artifacts is a freeze target (never in `rule all`).
from benpipe.release.hashing import ALGORITHM_VERSION as HASHING_VERSION
from benpipe.release.packaging import ALGORITHM_VERSION as PACKAGING_VERSION
from benpipe.release.verify import ALGORITHM_VERSION as VERIFY_VERSION


rule hash_outputs:
    input:
        # finalize_dataset (finalize.smk) writes directory("results/dataset").
        dataset="results/dataset",
        manifest="results/dataset.json",
    output:
        patches="results/hashes/patch_hashes.csv",
        patches_digest="results/hashes/patch_hashes.csv.sha256",
        reference_maps="results/hashes/reference_maps_hashes.csv",
        reference_maps_digest="results/hashes/reference_maps_hashes.csv.sha256",
        s1="results/hashes/s1_hashes.csv",
        s1_digest="results/hashes/s1_hashes.csv.sha256",
        metadata="results/hashes/metadata_hashes.csv",
        # Size and mtime of every hashed file (not published): verify
        # re-hashes the dataset files that changed since.
        patches_stats="results/hashes/patch_hashes.filestat.csv",
        reference_maps_stats="results/hashes/reference_maps_hashes.filestat.csv",
        s1_stats="results/hashes/s1_hashes.filestat.csv",
        metadata_stats="results/hashes/metadata_hashes.filestat.csv",
    log:
        "logs/hash_outputs/hash_outputs.log",
    benchmark:
        "benchmarks/hash_outputs/hash_outputs.tsv"
    params:
        algorithm_version=HASHING_VERSION,
    script:
        "../scripts/hash_outputs.py"


rule package_release:
    input:
        dataset="results/dataset",
        manifest="results/dataset.json",
    output:
        s1=protected("results/release/BigEarthNet-S1.tar.zst"),
        s2=protected("results/release/BigEarthNet-S2.tar.zst"),
        reference_maps=protected("results/release/Reference_Maps.tar.zst"),
        metadata_parquet="results/release/metadata.parquet",
        metadata_flagged_parquet="results/release/metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        md5s=report(
            protected("results/release/hashes.txt"),
            caption="../report/release.rst",
            category="Release",
        ),
        sha256s=protected("results/release/sha256sums.txt"),
    log:
        "logs/package_release/package_release.log",
    benchmark:
        "benchmarks/package_release/package_release.tsv"
    params:
        algorithm_version=PACKAGING_VERSION,
        zstd_level=config["release"]["zstd_level"],
        file_modes=config["release"]["file_modes"],
    script:
        "../scripts/package_release.py"


rule verify:
    input:
        l1c_hashes="results/hashes/ben_s2_l1c_hashes.csv",
        l1c_content_hashes="results/hashes/l1c_content_hashes.csv",
        patches=rules.hash_outputs.output.patches,
        patches_digest=rules.hash_outputs.output.patches_digest,
        reference_maps=rules.hash_outputs.output.reference_maps,
        reference_maps_digest=rules.hash_outputs.output.reference_maps_digest,
        s1=rules.hash_outputs.output.s1,
        s1_digest=rules.hash_outputs.output.s1_digest,
        metadata=rules.hash_outputs.output.metadata,
        # hash_catalogue (catalogue.smk) writes it.
        catalogue="results/hashes/catalogue_hashes.csv",
        patches_stats=rules.hash_outputs.output.patches_stats,
        reference_maps_stats=rules.hash_outputs.output.reference_maps_stats,
        s1_stats=rules.hash_outputs.output.s1_stats,
        metadata_stats=rules.hash_outputs.output.metadata_stats,
        release_md5=rules.package_release.output.md5s,
        release_sha256=rules.package_release.output.sha256s,
        # Re-checked as it is now: files changed since hash_outputs are named.
        dataset=rules.hash_outputs.input.dataset,
        published_metadata=get_verify_published_metadata,
    output:
        md=report(
            "results/verification.md",
            caption="../report/verification.rst",
            category="Verification",
        ),
        json="results/verification.json",
    log:
        # The report copies under logs/ survive a strict-mode failure, when
        # Snakemake removes the outputs of the failed job.
        log="logs/verify/verify.log",
        md="logs/verify/verification.md",
        json="logs/verify/verification.json",
    params:
        algorithm_version=VERIFY_VERSION,
        # Content fingerprints of the tracked copies and of the optional fresh
        # search_cdse result (both read through the run settings), so a
        # refreeze reruns verify and another spelling of the folder does not.
        tracked_state=get_verify_tracked_state,
        strict=config["verify"]["strict"],
        max_listed=config["verify"]["max_listed"],
    script:
        "../scripts/verify.py"


rule freeze_release_artifacts:
    input:
        unpack(get_freeze_release_inputs),
    output:
        **get_freeze_release_outputs(),
    log:
        "logs/freeze_release_artifacts/freeze_release_artifacts.log",
    script:
        "../scripts/freeze_files.py"
