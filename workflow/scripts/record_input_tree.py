"""Rule record_input_tree: the content manifest of one directory input.

Inputs:   tree      inputs.s1_root or inputs.v1_metadata_dir
Outputs:  manifest  results/inputs/<key>.manifest.csv (path,size,sha256)
Settings: params.content, the digest Snakemake compared when it built the DAG;
          the hash cache next to the manifest (benpipe.dirstate.cache_for).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dirstate import cache_for, directory_state, write_manifest
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    manifest = Path(snakemake.output.manifest)
    state = directory_state(Path(snakemake.input.tree), cache=cache_for(manifest))
    write_manifest(state, manifest)
    if state.digest != snakemake.params.content:
        # Changed since the DAG was built: the next run sees the new digest
        # and reruns this rule and its dependants.
        import logging

        logging.getLogger("benpipe.dirstate").warning(
            "inputs.%s changed while this run started; rerun snakemake",
            snakemake.wildcards.tree,
        )


main()
