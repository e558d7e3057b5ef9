"""The published dataset layout: the one home of its folder, file and column names.

REFERENCE-PIPELINE.md §6.1, §6.2, §8.1::

    <root>/metadata.parquet
    <root>/metadata_for_patches_with_snow_cloud_or_shadow.parquet
    <root>/BigEarthNet-S2/<tile>/<patch>/<patch>_<band>.tif        12 per patch
    <root>/Reference_Maps/<tile>/<patch>/<patch>_reference_map.tif
    <root>/BigEarthNet-S1/<s1 group>/<s1 name>/<s1 name>_{VV,VH}.tif

Pure constants; the finalizer builds this layout, ``check-dataset`` checks it
and the release stage hashes and archives it.
"""

from __future__ import annotations

from benpipe.names import BANDS

METADATA_FILE = "metadata.parquet"
FLAGGED_METADATA_FILE = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
#: The two metadata parquets, in the order the hash lists name them.
METADATA_FILES: tuple[str, ...] = (METADATA_FILE, FLAGGED_METADATA_FILE)
#: The columns of both metadata parquets, in order (REFERENCE-PIPELINE §6.1;
#: their types: :data:`benpipe.dataset.finalize.METADATA_SCHEMA`).
METADATA_COLUMNS: tuple[str, ...] = (
    "patch_id",
    "labels",
    "split",
    "country",
    "s1_name",
    "s2v1_name",
    "contains_seasonal_snow",
    "contains_cloud_or_shadow",
)

S2_TREE = "BigEarthNet-S2"
S1_TREE = "BigEarthNet-S1"
MAPS_TREE = "Reference_Maps"
#: The three trees, in the order the release archives are built.
TREES: tuple[str, ...] = (S1_TREE, S2_TREE, MAPS_TREE)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
S1_POLARISATIONS: tuple[str, ...] = ("VV", "VH")

#: File name suffixes of one patch folder (after the patch or S1 name).
S2_SUFFIXES: tuple[str, ...] = tuple(f"_{band}.tif" for band in BANDS)
MAP_SUFFIXES: tuple[str, ...] = ("_reference_map.tif",)
S1_SUFFIXES: tuple[str, ...] = tuple(f"_{pol}.tif" for pol in S1_POLARISATIONS)

#: The header of a per-file hash list (the reference ``tiff-hasher`` format,
#: REFERENCE-PIPELINE §7.2): ``name`` is the file stem of a GeoTIFF, or the
#: file name of a parquet in the metadata list (which adds an ``md5`` column).
HASH_CSV_HEADER: tuple[str, ...] = ("name", "hash-sha256")
