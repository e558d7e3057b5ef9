# Stage: S2 patch export (docs/dataset.md, DESIGN.md §2).
# One job per L2A product: every band decoded once, cut into 1200 m windows,
# 12 uncompressed GeoTIFFs per valid patch (no 0 pixel in any band, the
# reference's D8 rule computed on the arrays), staged under results/export/s2.
# The true-colour QA preview comes from the same decoded bands (qa.smk).


rule export_patches:
    input:
        l2a="results/l2a/{l2a}.SAFE",
    output:
        patches=directory("results/export/s2/{l2a}"),
        manifest="results/export/s2/{l2a}.json",
        qa_preview="results/qa/previews/{l2a}_rgb.npz",
    log:
        "logs/export_patches/{l2a}.log",
    benchmark:
        "benchmarks/export_patches/{l2a}.tsv"
    params:
        patch_side_m=config["patching"]["size_m"],
        algorithm_version=EXPORT_ALGORITHM_VERSION,
        qa_preview_version=QA_PREVIEW_VERSION,
    script:
        "../scripts/export_patches.py"
