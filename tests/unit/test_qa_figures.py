"""QA figures: deterministic PNG bytes, no dates, the CLC palette where expected."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benpipe.clc import BEN19_CLASSES, CLC_RGBA
from benpipe.qa.core import Outcome, split_grid
from benpipe.qa.figures import (
    DPI,
    GallerySample,
    MapLayer,
    class_frequency_png,
    cooccurrence_png,
    gallery_png,
    patch_map_png,
    quicklook_png,
    reference_map_png,
    split_counts_png,
)

PRODUCT = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def quicklook() -> bytes:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    outcomes = np.zeros((10, 10), dtype=np.uint8)
    outcomes[:, 9] = Outcome.NODATA
    outcomes[2, 3] = Outcome.UNLABELED
    return quicklook_png(
        rgb,
        pixel_m=40,
        outcomes=outcomes,
        splits=split_grid(tile_side_m=12_000, patch_side_m=1200),
        patch_side_m=1200,
        title=PRODUCT,
        unlabeled_max_fraction=0.25,
    )


def test_figures_are_byte_identical_when_drawn_twice():
    assert quicklook() == quicklook()


def test_png_carries_no_date_and_no_software_stamp():
    data = quicklook()
    kinds = [kind for kind, _ in png_chunks(data)]
    assert b"tIME" not in kinds
    texts = [body for kind, body in png_chunks(data) if kind in (b"tEXt", b"iTXt")]
    compressed = [
        zlib.decompress(body.split(b"\0", 2)[2])
        for kind, body in png_chunks(data)
        if kind == b"zTXt"
    ]
    assert not any(b"Software" in t or b"Date" in t or b"Time" in t for t in texts)
    assert not compressed
    width, height = Image.open(io.BytesIO(data)).size
    assert (width, height) == (15 * DPI, int(10.5 * DPI))


_SUBPROCESS = """
import sys
from tests.unit.test_qa_figures import quicklook
sys.stdout.buffer.write(quicklook())
"""


def test_a_user_matplotlibrc_does_not_change_the_bytes(tmp_path, repo):
    # Another style, font size and backend in the user's matplotlibrc: the
    # figure code resets to matplotlib's defaults plus its own overrides.
    (tmp_path / "matplotlibrc").write_text(
        "font.size: 22\nfont.family: serif\naxes.facecolor: black\n"
        "savefig.dpi: 300\nimage.interpolation: bilinear\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS],
        capture_output=True,
        cwd=repo,
        env={"MPLCONFIGDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    assert result.stdout == quicklook()


def test_figures_use_the_dejavu_font_shipped_with_matplotlib():
    import matplotlib
    from matplotlib import font_manager

    from benpipe.qa.figures import _style

    with _style():
        path = font_manager.findfont(font_manager.FontProperties())
    assert Path(path).name == "DejaVuSans.ttf"
    assert Path(path).is_relative_to(Path(matplotlib.get_data_path()))


def colours(data: bytes) -> set[tuple[int, int, int]]:
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return {tuple(c) for c in np.unique(image.reshape(-1, 3), axis=0).tolist()}


def test_reference_map_uses_the_clc_palette_and_greys_patches_without_a_map():
    codes = np.full((120, 120), 311, dtype=np.uint16)
    codes[:, 60:] = 512
    has_map = np.ones((10, 10), dtype=bool)
    has_map[0, 0] = False
    found = colours(
        reference_map_png(
            codes, pixel_m=100, has_map=has_map, patch_side_m=1200, title=PRODUCT
        )
    )
    assert tuple(CLC_RGBA[311][:3]) in found
    assert tuple(CLC_RGBA[512][:3]) in found
    assert (217, 217, 217) in found  # the patch without a map


def test_reference_map_without_clc_says_so():
    data = reference_map_png(
        np.zeros((0, 0), dtype=np.uint16),
        pixel_m=10,
        has_map=np.zeros((10, 10), dtype=bool),
        patch_side_m=1200,
        title=PRODUCT,
    )
    assert png_chunks(data)[0][0] == b"IHDR"


def test_dataset_figures_render():
    table = {
        c: {"train": i, "validation": 2 * i, "test": 0}
        for i, c in enumerate(BEN19_CLASSES)
    }
    matrix = np.diag(np.arange(19, dtype=np.int64))
    matrix[0, 1] = matrix[1, 0] = 5
    counts = {"Austria": {"train": 3, "validation": 2, "test": 1}}
    layer = MapLayer(
        x_m=np.array([4.5e6, 4.51e6]),
        y_m=np.array([2.8e6, 2.8e6]),
        split=np.array([0, 2], dtype=np.uint8),
        side_m=1200,
    )
    ring = np.array([[4.4e6, 2.7e6], [4.6e6, 2.7e6], [4.6e6, 2.9e6], [4.4e6, 2.7e6]])
    sample = GallerySample(
        patch_id=f"{PRODUCT.rsplit('_', 1)[0]}_01_02",
        labels=(BEN19_CLASSES[0], BEN19_CLASSES[8]),
        rgb=np.zeros((120, 120, 3), dtype=np.uint8),
        reference_map=np.full((120, 120), 311, dtype=np.uint16),
        vv=np.full((120, 120), 128, dtype=np.uint8),
        vh=None,
    )
    figures = [
        class_frequency_png(table, title="classes"),
        cooccurrence_png(matrix, title="co-occurrence"),
        split_counts_png(counts, title="countries", what="country"),
        patch_map_png(
            layer,
            outlines=[ring],
            outline_names=[(4.5e6, 2.75e6, "Austria")],
            title="map",
            crs_label="EPSG:3035",
        ),
        gallery_png(BEN19_CLASSES[0], [sample], title="gallery"),
    ]
    for data in figures:
        assert min(Image.open(io.BytesIO(data)).size) > 200
    assert tuple(CLC_RGBA[311][:3]) in colours(figures[-1])


@pytest.mark.parametrize("n_samples", [1, 4])
def test_gallery_width_follows_the_samples(n_samples):
    sample = GallerySample(
        patch_id=f"{PRODUCT.rsplit('_', 1)[0]}_01_02",
        labels=(BEN19_CLASSES[2],),
        rgb=np.zeros((120, 120, 3), dtype=np.uint8),
        reference_map=None,
        vv=None,
        vh=None,
    )
    data = gallery_png(BEN19_CLASSES[2], [sample] * n_samples, title="g")
    width, _ = Image.open(io.BytesIO(data)).size
    assert width == int((0.6 + 2.0 * n_samples) * DPI)
