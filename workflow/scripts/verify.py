"""Rule verify: compare every produced hash list with the tracked artifacts.

Inputs: the L1C, patch, reference-map, S1, metadata, catalogue and release hash lists
(with the file-stats sidecars of the dataset hash lists), the dataset (its
files whose size or mtime changed since hash_outputs are re-hashed), and
``published_metadata`` (the published parquets) when
``verify.published_metadata_dir`` is set.
Outputs: ``verification.md`` and ``verification.json`` (copies under logs/,
which survive a strict-mode failure).
Settings: ``params.strict``, ``params.max_listed``; the tracked folder and the
optional fresh search result from the run settings (``params.tracked_state``
only fingerprints their content, so that a refreeze reruns verify).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.release.verify import ProducedPaths, verify

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    inp = snakemake.input
    produced = ProducedPaths(
        search_tile_ids=run.search_tile_ids,
        l1c_hashes=Path(inp.l1c_hashes),
        l1c_content_hashes=Path(inp.l1c_content_hashes),
        patch_hashes=Path(inp.patches),
        reference_maps_hashes=Path(inp.reference_maps),
        s1_hashes=Path(inp.s1),
        metadata_hashes=Path(inp.metadata),
        catalogue_hashes=Path(inp.catalogue),
        release_md5=Path(inp.release_md5),
        release_sha256=Path(inp.release_sha256),
        dataset=Path(inp.dataset),
    )
    published = list(inp.get("published_metadata", []) or [])
    verify(
        tracked_dir=run.tracked_dir,
        out_md=Path(snakemake.output.md),
        out_json=Path(snakemake.output.json),
        produced=produced,
        max_listed=int(snakemake.params.max_listed),
        strict=bool(snakemake.params.strict),
        copies=(Path(snakemake.log.md), Path(snakemake.log.json)),
        published_metadata=Path(published[0]).parent if published else None,
    )


main()
