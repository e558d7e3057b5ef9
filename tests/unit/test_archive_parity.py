"""Archive parity: package_release writes GNU tar's bytes (REFERENCE-PIPELINE §6.2, §7.1).

The published archives were made by GNU tar from a sorted ``--files-from``
list of files (no directory entries) with ``--anchored --owner=0 --group=0
--mtime="2024-01-01 00:00:00Z" --numeric-owner --format=gnu``, mode bits
from the filesystem, and a ``--transform`` that gives the published member
names; then ``zstd -6 --threads=0``.  This test runs exactly that on a small
tree (long names, nested folders, several file modes) and checks that
benpipe's archives are byte-identical: identical trees give the published
md5s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from benpipe.dataset.layout import MAPS_TREE, METADATA_FILES, S1_TREE, S2_TREE
from benpipe.release.packaging import package_release, write_tar_zst

from .test_packaging import _cli_libzstd_version

pytestmark = pytest.mark.skipif(
    shutil.which("tar") is None
    or "GNU tar"
    not in subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout,
    reason="GNU tar is not installed",
)

#: The reference's common options (nu-scripts/ben-data-finalizer.nu).
GNU_TAR_OPTIONS = (
    "--anchored",
    "--owner=0",
    "--group=0",
    "--mtime=2024-01-01 00:00:00Z",
    "--numeric-owner",
    "--format=gnu",
)
#: The reference's transforms, applied to paths relative to each root.
TRANSFORMS = {
    S2_TREE: r"--transform=s#\(.\+\)#BigEarthNet-S2/\1#",
    MAPS_TREE: r"--transform=s#\(.\+\)#Reference_Maps/\1#",
    # v1 S1 root <s1 name>/<file> -> BigEarthNet-S1/<group>/<s1 name>/<file>
    S1_TREE: r"--transform=s#\([^/]\+\)\(_[0-9A-Z]\+_[0-9]\+_[0-9]\+\)#BigEarthNet-S1/\1/\1\2#",
}
MODES = (0o644, 0o600, 0o755, 0o444, 0o640, 0o664)
SIZES = (0, 1, 511, 512, 513, 10_000)
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
GROUP = "S1A_IW_GRDH_1SDV_20170613T165043"


def _s2_like_paths() -> list[str]:
    """Paths under an S2 or map root: long (> 100 bytes) and short ones."""
    paths = []
    for col, row in ((0, 3), (1, 3), (12, 40)):
        patch = f"{TILE}_{col:02d}_{row:02d}"
        for band in ("B01", "B02", "B8A", "B12"):
            paths.append(f"{TILE}/{patch}/{patch}_{band}.tif")
    # Names of 99, 100 and 101 bytes once the tree prefix is added: the
    # boundary of the ././@LongLink entry.
    for total in (99, 100, 101):
        stem = "T" * (total - len("BigEarthNet-S2/T/T/") - len("T_B01.tif"))
        paths.append(f"T/T/T{stem}_B01.tif")
    paths.append("T/T_1/T_1_B01.tif")
    return paths


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(benpipe dataset dir, v1-style S1 root with the same S1 files)."""
    base = tmp_path_factory.mktemp("parity")
    dataset, v1_s1 = base / "dataset", base / "v1-s1"
    i = 0

    def content() -> tuple[bytes, int]:
        nonlocal i
        i += 1
        data = hashlib.sha256(str(i).encode()).digest() * (
            SIZES[i % len(SIZES)] // 32 + 1
        )
        return data[: SIZES[i % len(SIZES)]], MODES[i % len(MODES)]

    for rel in _s2_like_paths():
        _write(dataset / S2_TREE / rel, *content())
        maps_rel = rel.replace("_B01.tif", "_reference_map.tif")
        if maps_rel != rel:
            _write(dataset / MAPS_TREE / maps_rel, *content())
    for xy in ("7_7", "7_73", "74_73", "100_101"):
        s1 = f"{GROUP}_33UUP_{xy}"
        for pol in ("VH", "VV"):
            data, mode = content()
            _write(dataset / S1_TREE / GROUP / s1 / f"{s1}_{pol}.tif", data, mode)
            _write(v1_s1 / s1 / f"{s1}_{pol}.tif", data, mode)
    for name in METADATA_FILES:
        _write(dataset / name, b"parquet bytes of " + name.encode(), 0o644)
    return dataset, v1_s1


def _gnu_tar(
    root: Path,
    tree: str,
    out: Path,
    *,
    env: dict[str, str] | None = None,
    options: tuple[str, ...] = GNU_TAR_OPTIONS,
) -> bytes:
    """Run GNU tar as the reference did: sorted file list of ``root``, transform."""
    files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    listing = subprocess.run(
        ["sort"],
        input="\n".join(files) + "\n",
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    list_file = out.with_suffix(".list")
    list_file.write_text(listing)
    subprocess.run(
        [
            "tar",
            *options,
            "-cf",
            str(out),
            f"--files-from={list_file}",
            TRANSFORMS[tree],
        ],
        cwd=root,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return out.read_bytes()


def _roots(trees: tuple[Path, Path]) -> dict[str, Path]:
    dataset, v1_s1 = trees
    return {S2_TREE: dataset / S2_TREE, MAPS_TREE: dataset / MAPS_TREE, S1_TREE: v1_s1}


def _ours(dataset: Path, tree: str, out: Path, file_modes: str) -> bytes:
    write_tar_zst(dataset, tree, out, compress=False, file_modes=file_modes)  # type: ignore[arg-type]
    return out.read_bytes()


def test_the_tree_has_what_the_parity_must_cover(trees) -> None:
    dataset, _ = trees
    files = [p for p in dataset.rglob("*.tif")]
    lengths = {len(str(p.relative_to(dataset))) for p in files}
    assert {99, 100, 101} <= lengths and max(lengths) > 150
    assert {p.stat().st_mode & 0o777 for p in files} == set(MODES)


@pytest.mark.parametrize("tree", [S2_TREE, MAPS_TREE, S1_TREE])
def test_filesystem_modes_give_gnu_tar_bytes(trees, tree: str, tmp_path: Path) -> None:
    dataset, _ = trees
    gnu = _gnu_tar(_roots(trees)[tree], tree, tmp_path / "gnu.tar")
    ours = _ours(dataset, tree, tmp_path / "ours.tar", "filesystem")
    assert len(ours) == len(gnu)
    assert ours == gnu


def test_published_build_without_z_on_a_utc_host_gives_the_same_bytes(
    trees, tmp_path: Path
) -> None:
    # The published archives were built with --mtime="2024-01-01 00:00:00" on
    # a UTC host (REFERENCE-PIPELINE §6.2).
    dataset, _ = trees
    options = tuple(
        "--mtime=2024-01-01 00:00:00" if o.startswith("--mtime") else o
        for o in GNU_TAR_OPTIONS
    )
    gnu = _gnu_tar(
        _roots(trees)[S2_TREE],
        S2_TREE,
        tmp_path / "gnu.tar",
        env={"TZ": "UTC"},
        options=options,
    )
    assert _ours(dataset, S2_TREE, tmp_path / "ours.tar", "filesystem") == gnu


def test_normalized_modes_give_gnu_tar_bytes_of_a_0644_tree(
    trees, tmp_path: Path
) -> None:
    dataset, _ = trees
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    for path in copy.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o644)
    for tree in (S2_TREE, MAPS_TREE):
        gnu = _gnu_tar(copy / tree, tree, tmp_path / f"{tree}.gnu.tar")
        # normalized on the mixed-mode tree == GNU tar on the 0644 tree
        assert _ours(dataset, tree, tmp_path / f"{tree}.tar", "normalized") == gnu
        assert gnu != _gnu_tar(dataset / tree, tree, tmp_path / f"{tree}.fs.tar")


def test_package_release_md5s_and_zst_equal_gnu_tar_and_zstd_cli(
    trees, tmp_path: Path
) -> None:
    dataset, _ = trees
    result = package_release(
        dataset, tmp_path / "release", level=6, threads=2, file_modes="filesystem"
    )
    same_libzstd = _cli_libzstd_version() == tuple(zstandard.ZSTD_VERSION)
    for tree, root in _roots(trees).items():
        gnu = tmp_path / f"{tree}.tar"
        data = _gnu_tar(root, tree, gnu)
        assert result.md5s[f"{tree}.tar"] == hashlib.md5(data).hexdigest(), tree
        if not same_libzstd:
            continue
        subprocess.run(
            ["zstd", "-6", "--threads=0", "-q", "-f", str(gnu), "-o", f"{gnu}.zst"],
            check=True,
        )
        cli = Path(f"{gnu}.zst").read_bytes()
        ours = (tmp_path / "release" / f"{tree}.tar.zst").read_bytes()
        assert ours == cli, tree
        assert result.md5s[f"{tree}.tar.zst"] == hashlib.md5(cli).hexdigest()
    if not same_libzstd:
        pytest.skip(
            f"zstd CLI libzstd {_cli_libzstd_version()} != python-zstandard's "
            f"{zstandard.ZSTD_VERSION}: .tar parity checked, .tar.zst bytes are "
            "only comparable for the same libzstd version"
        )
