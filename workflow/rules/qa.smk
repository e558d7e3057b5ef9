# Stage: QA figures and the offline QA page (docs/qa.md).
# Per product: drawn from the side outputs that export_patches and
# label_patches write from arrays they already hold (a product is never
# decoded a second time). Per dataset: from results/dataset only (the two
# parquets and the GeoTIFFs). The page links every figure by a relative path
# and shows the verify result; `snakemake --report` shows the same figures.


rule qa_product:
    input:
        rgb="results/qa/previews/{l2a}_rgb.npz",
        clc="results/qa/previews/{l2a}_clc.npz",
        export_manifest="results/export/s2/{l2a}.json",
    output:
        quicklook=report(
            "results/qa/products/{l2a}_quicklook.png",
            caption="../report/qa_quicklook.rst",
            category="QA products",
            subcategory="quicklooks",
            labels={"product": "{l2a}"},
        ),
        reference_map=report(
            "results/qa/products/{l2a}_reference_map.png",
            caption="../report/qa_reference_map.rst",
            category="QA products",
            subcategory="reference maps",
            labels={"product": "{l2a}"},
        ),
        summary="results/qa/products/{l2a}.json",
    log:
        "logs/qa_product/{l2a}.log",
    benchmark:
        "benchmarks/qa_product/{l2a}.tsv"
    params:
        algorithm_version=QA_ALGORITHM_VERSION,
    script:
        "../scripts/qa_product.py"


rule qa_dataset:
    input:
        dataset="results/dataset",
        manifest="results/dataset.json",
        countries=get_qa_dataset_countries,
    output:
        class_frequencies=report(
            "results/qa/dataset/class_frequencies.png",
            caption="../report/qa_class_frequencies.rst",
            category="QA dataset",
            labels={"figure": "class frequencies per split"},
        ),
        label_cooccurrence=report(
            "results/qa/dataset/label_cooccurrence.png",
            caption="../report/qa_label_cooccurrence.rst",
            category="QA dataset",
            labels={"figure": "label co-occurrence"},
        ),
        patches_per_country=report(
            "results/qa/dataset/patches_per_country.png",
            caption="../report/qa_patch_counts.rst",
            category="QA dataset",
            labels={"figure": "patches per country"},
        ),
        patches_per_season=report(
            "results/qa/dataset/patches_per_season.png",
            caption="../report/qa_patch_counts.rst",
            category="QA dataset",
            labels={"figure": "patches per season"},
        ),
        patches_per_tile=report(
            "results/qa/dataset/patches_per_tile.png",
            caption="../report/qa_patch_counts.rst",
            category="QA dataset",
            labels={"figure": "patches per tile"},
        ),
        patch_map=report(
            "results/qa/dataset/patch_map.png",
            caption="../report/qa_patch_map.rst",
            category="QA dataset",
            labels={"figure": "map of the patches by split"},
        ),
        gallery=report(
            directory("results/qa/gallery"),
            patterns=["{name}.png"],
            caption="../report/qa_gallery.rst",
            category="QA gallery",
            labels={"class": "{name}"},
        ),
        summary="results/qa/dataset/summary.json",
    log:
        "logs/qa_dataset/qa_dataset.log",
    benchmark:
        "benchmarks/qa_dataset/qa_dataset.tsv"
    params:
        samples_per_class=config["qa"]["samples_per_class"],
        algorithm_version=QA_ALGORITHM_VERSION,
    script:
        "../scripts/qa_dataset.py"


rule qa_page:
    input:
        summary="results/qa/dataset/summary.json",
        gallery="results/qa/gallery",
        products=get_qa_page_products(),
        product_figures=get_qa_page_product_figures(),
        verification="results/verification.json",
    output:
        page="results/qa/index.html",
    log:
        "logs/qa_page/qa_page.log",
    params:
        algorithm_version=QA_ALGORITHM_VERSION,
    script:
        "../scripts/qa_page.py"
