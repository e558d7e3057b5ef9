# Stage: dataset assembly (docs/dataset.md, DESIGN.md §2).
# Metadata CSVs + v1 lists -> metadata parquets (REFERENCE-PIPELINE §6.1);
# the staged S2 patches, reference maps and v1 S1 patches of the kept patches
# -> results/dataset with the published layout (§8.1): read-only hard links to
# the staging trees, copies (reflinks where possible) of the S1 input files.


rule finalize_dataset:
    input:
        labels="results/metadata/patch_id_label_mapping.csv",
        s2v1="results/metadata/patch_id_s2v1_mapping.csv",
        split="results/metadata/patch_id_split_mapping.csv",
        country="results/metadata/patch_id_country_mapping.csv",
        s2_dirs=get_finalize_s2_dirs,
        s2_manifests=get_finalize_s2_manifests,
        map_dirs=get_finalize_reference_map_dirs,
        s1_root=input_file("s1_root"),
        # the directory's content (record_input_tree, inputs.smk)
        s1_manifest=input_tree_manifest("s1_root"),
        s1s2_mapping=input_file("s1s2_mapping"),
        snow=input_file("seasonal_snow_list"),
        cloud=input_file("cloud_shadow_list"),
    output:
        dataset=directory("results/dataset"),
        manifest=report(
            "results/dataset.json",
            caption="../report/dataset.rst",
            category="Dataset",
        ),
    log:
        "logs/finalize_dataset/finalize_dataset.log",
    benchmark:
        "benchmarks/finalize_dataset/finalize_dataset.tsv"
    params:
        algorithm_version=FINALIZE_ALGORITHM_VERSION,
    script:
        "../scripts/finalize_dataset.py"
