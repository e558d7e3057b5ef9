"""The realistic band texture of ``benpipe demo-world --texture realistic``.

Its bytes must not depend on the number of threads, its 10 m bands must carry
about 5.3 bits per pixel (real Sentinel-2 L2A), and its codestream must have
ESA's options (5 resolutions, 256x256 precincts, PLT markers, 64x64
code-blocks).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.demo import WorldParams, generate_world
from benpipe.demo.raster import Texture, bits_per_pixel
from benpipe.demo.world import resolve_texture
from benpipe.errors import ConfigError
from digests import tree_digests


def _params(texture: Texture = "smooth", threads: int = 1) -> WorldParams:
    """One product (P1) at the default tile size, no S1 rasters."""
    return WorldParams(
        seed=0, products=("P1",), s1_rasters=False, texture=texture, threads=threads
    )


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("texture") / "world"
    generate_world(out, _params("realistic", threads=1))
    return out


@pytest.fixture(scope="module")
def smooth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("texture") / "smooth"
    generate_world(out, _params("smooth", threads=1))
    return out


@pytest.fixture(scope="module")
def bands(realistic: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    (archive,) = (realistic / "cdse" / "products").glob("*.zip")
    dest = tmp_path_factory.mktemp("bands")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    return {p.stem.rsplit("_", 1)[-1]: p for p in dest.rglob("IMG_DATA/*.jp2")}


def test_bytes_do_not_depend_on_threads(realistic: Path, tmp_path: Path) -> None:
    two = tmp_path / "two"
    generate_world(two, _params("realistic", threads=2))
    first, second = tree_digests(realistic), tree_digests(two)
    assert first == second
    assert any(name.endswith(".zip") for name in first)


def test_smooth_bytes_do_not_depend_on_threads(smooth: Path, tmp_path: Path) -> None:
    two = tmp_path / "two"
    generate_world(two, _params("smooth", threads=2))
    assert tree_digests(smooth) == tree_digests(two)


def test_realistic_differs_from_smooth_and_says_so(
    realistic: Path, smooth: Path
) -> None:
    a, b = tree_digests(realistic), tree_digests(smooth)
    zips = [n for n in a if n.endswith(".zip")]
    assert zips and all(a[n] != b[n] for n in zips)
    assert '"texture": "realistic"' in (realistic / "manifest.json").read_text()
    assert '"texture"' not in (smooth / "manifest.json").read_text()


def test_ten_metre_bands_carry_about_5_3_bits_per_pixel(
    bands: dict[str, Path],
) -> None:
    rates = {b: bits_per_pixel(bands[b]) for b in ("B02", "B03", "B04", "B08")}
    mean = float(np.mean(list(rates.values())))
    assert 4.8 <= mean <= 5.9, rates


def _headers(data: bytes) -> dict[int, bytes]:
    """Marker -> first segment body of the main header and the first tile-part
    header of a JPEG 2000 file (walked by lengths, not by searching)."""
    pos = data.index(b"\xff\x4f\xff\x51") + 2  # SOC, then SIZ
    found: dict[int, bytes] = {}
    while True:
        marker = int.from_bytes(data[pos : pos + 2])
        if marker == 0xFF93:  # SOD: the tile's packets follow
            return found
        length = int.from_bytes(data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        found.setdefault(marker, body)
        pos += 2 + (10 if marker == 0xFF90 else length)  # SOT: Psot is not Lsot


def _cod(data: bytes) -> tuple[int, int, int, bytes]:
    """(decomposition levels, code-block width and height exponents, precinct
    bytes) of the COD marker."""
    cod = _headers(data)[0xFF52]
    # Scod(1) SGcod(4: progression, layers(2), MCT) SPcod: levels, xcb, ycb,
    # style, transform, then one precinct byte per resolution if Scod & 1.
    levels, cbw, cbh = cod[5], cod[6], cod[7]
    precincts = cod[10 : 11 + levels] if cod[0] & 1 else b""
    return levels, cbw + 2, cbh + 2, precincts


def test_codestream_has_esa_options(bands: dict[str, Path]) -> None:
    data = bands["B02"].read_bytes()
    levels, cbw, cbh, precincts = _cod(data)
    assert levels == 4  # 5 resolutions
    assert (cbw, cbh) == (6, 6)  # 64x64 code-blocks
    assert precincts == bytes([0x88] * 5)  # 256x256 (2^8) at every resolution
    assert 0xFF58 in _headers(data)  # PLT marker segments
    siz = _headers(data)[0xFF51]
    assert int.from_bytes(siz[18:22]) == int.from_bytes(siz[22:26]) == 1024  # tiles


def test_smooth_codestream_keeps_gdal_defaults(smooth: Path) -> None:
    (archive,) = (smooth / "cdse" / "products").glob("*.zip")
    with zipfile.ZipFile(archive) as zf:
        name = next(n for n in zf.namelist() if n.endswith("_B02.jp2"))
        data = zf.read(name)
    levels, _, _, precincts = _cod(data)
    assert (levels, precincts) != (4, bytes([0x88] * 5))  # GDAL's defaults
    assert 0xFF58 not in _headers(data)


def test_auto_texture() -> None:
    assert resolve_texture("auto", 10980) == "realistic"
    assert resolve_texture("auto", 1200) == "smooth"
    assert resolve_texture("smooth", 10980) == "smooth"
    assert resolve_texture("realistic", 1200) == "realistic"
    with pytest.raises(ConfigError):
        resolve_texture("rough", 1200)


def test_cli_documents_texture_and_threads(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["demo-world", "--help"])
    assert result.exit_code == 0
    assert "--texture" in result.output and "--threads" in result.output
    bad = runner.invoke(
        main, ["demo-world", "--out", str(tmp_path / "x"), "--texture", "rough"]
    )
    assert bad.exit_code == 2
    bad = runner.invoke(
        main, ["demo-world", "--out", str(tmp_path / "x"), "--threads", "0"]
    )
    assert bad.exit_code == 2


def test_products_n_worlds_get_realistic_detail_per_product() -> None:
    """--texture works with --products N: every product gets its own streams."""
    from benpipe.demo.spec import REBEN_TILE_IDS, layout_for, world_products
    from benpipe.demo.world import _landscapes, read_product_names

    repo = Path(__file__).resolve().parents[2]
    specs = world_products(8, read_product_names(repo / REBEN_TILE_IDS))
    layouts = {p.key: layout_for(p, 1200) for p in specs}
    realistic = _landscapes(0, layouts, texture="realistic")
    details = [realistic[p.key].detail for p in specs]
    assert [d.product if d else None for d in details] == list(range(1, 9))
    assert all(d is not None and d.seed == 0 for d in details)
    smooth = _landscapes(0, layouts)
    assert all(smooth[p.key].detail is None for p in specs)
