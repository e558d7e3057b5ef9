# Directory inputs tracked by content (docs/DESIGN.md §6, benpipe.dirstate).
# One manifest per directory input (path,size,sha256 of every file); its param
# is the tree's content digest, so it is rewritten when a file inside changes,
# and the rules that read the tree (ingest_v1_footprints, finalize_dataset)
# take it as an input and rerun after it.


rule record_input_tree:
    input:
        tree=get_record_input_tree_dir,
    output:
        manifest="results/inputs/{tree}.manifest.csv",
    log:
        "logs/record_input_tree/{tree}.log",
    wildcard_constraints:
        tree="|".join(INPUT_TREES),
    localrule: True
    params:
        content=get_record_input_tree_content,
        algorithm_version=DIRSTATE_ALGORITHM_VERSION,
    script:
        "../scripts/record_input_tree.py"
