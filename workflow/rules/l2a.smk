# Stage: L1C -> L2A (docs/l2a.md, DESIGN.md §2 and §5).
# sen2cor 2.11 (l2a.processor: sen2cor) or the documented built-in fallback
# converter (l2a.processor: fallback, NOT sen2cor). The converter that ran is
# logged, written into the sidecar and marked inside the product.


rule convert_l2a:
    input:
        unpack(get_convert_l2a_inputs),
    output:
        l2a=directory("results/l2a/{l2a}.SAFE"),
        sidecar="results/l2a/{l2a}.json",
    log:
        "logs/convert_l2a/{l2a}.log",
    benchmark:
        "benchmarks/convert_l2a/{l2a}.tsv"
    params:
        processor=config["l2a"]["processor"],
        sen2cor_version=get_convert_l2a_sen2cor_version(),
        algorithm_version=L2A_ALGORITHM_VERSION,
    script:
        "../scripts/convert_l2a.py"
