"""Deterministic tar.zst release archives (REFERENCE-PIPELINE.md §6.2, §7, §10.23)."""

import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
import zstandard

from benpipe.dataset.layout import TREES
from benpipe.errors import DatasetCheckError, InputDataError
from benpipe.release.checksums import parse_checksum_lines, render_hashes_txt
from benpipe.release.packaging import (
    check_release,
    package_release,
    write_tar_zst,
)
from benpipe.release.tar import (
    FILE_MODE,
    TAR_MTIME,
    Member,
    tar_header,
    tar_header_reference,
)

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
GROUP = "S1A_IW_GRDH_1SDV_20170613T165043"
PARQUETS = (
    "metadata.parquet",
    "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
)


def _layout(seed: int = 7) -> dict[str, bytes]:
    """{archive path: bytes} of a small dataset in the reference layout."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for col, row in ((0, 3), (1, 3), (12, 40)):
        patch = f"{TILE}_{col:02d}_{row:02d}"
        for band in ("B01", "B02", "B8A", "B09", "B11", "B12"):
            size = rng.choice([0, 1, 511, 512, 513, 3000])
            files[f"BigEarthNet-S2/{TILE}/{patch}/{patch}_{band}.tif"] = rng.randbytes(
                size
            )
        files[f"Reference_Maps/{TILE}/{patch}/{patch}_reference_map.tif"] = (
            rng.randbytes(700)
        )
    for name in ("7_7", "7_73", "74_73"):
        s1 = f"{GROUP}_33UUP_{name}"
        for pol in ("VH", "VV"):
            files[f"BigEarthNet-S1/{GROUP}/{s1}/{s1}_{pol}.tif"] = rng.randbytes(900)
    for name in PARQUETS:
        files[name] = rng.randbytes(64)
    return files


def _materialise(root: Path, files: dict[str, bytes], *, variant: int) -> Path:
    """Write ``files`` under ``root`` with variant-specific order, mtime, mode, owner."""
    order = sorted(files, reverse=bool(variant % 2))
    for i, rel in enumerate(order):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
        os.chmod(path, 0o600 if variant else 0o755)
        if variant and os.geteuid() == 0:  # another owner, where allowed
            os.chown(path, 1234, 5678)
        os.utime(path, (1_000_000 + 997 * i * (variant + 1),) * 2)
    return root


def _decompress(path: Path) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()


@pytest.fixture(scope="module")
def releases(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict[str, bytes]]:
    files = _layout()
    base = tmp_path_factory.mktemp("pkg")
    out = []
    for variant in (0, 1):
        dataset = _materialise(
            base / f"ds{variant}" / "dataset", files, variant=variant
        )
        release = base / f"ds{variant}" / "release"
        package_release(dataset, release, level=6, threads=variant + 1)
        out.append(release)
    return out[0], out[1], files


def test_archives_are_byte_identical_across_builds(releases) -> None:
    a, b, _ = releases
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert {f"{t}.tar.zst" for t in TREES} <= set(names)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert not [n for n in names if n.startswith(".")]


def test_tar_entries_are_sorted_files_with_normalised_headers(releases) -> None:
    release, _, files = releases
    for tree in TREES:
        raw = _decompress(release / f"{tree}.tar.zst")
        assert len(raw) % tarfile.RECORDSIZE == 0
        assert raw[257:265] == b"ustar  \x00"  # GNU magic of the first header
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            expected = sorted(
                (k for k in files if k.startswith(tree + "/")), key=str.encode
            )
            assert names == expected
            for m in members:
                assert m.isreg()
                assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (
                    TAR_MTIME,
                    0,
                    0,
                    "",
                    "",
                    FILE_MODE,
                )
                assert tar.extractfile(m).read() == files[m.name]


def test_gnu_tar_and_zstd_cli_read_the_archive(releases) -> None:
    if not (shutil.which("zstd") and shutil.which("tar")):
        pytest.skip("zstd or tar CLI not installed")
    release, _, files = releases
    archive = release / "BigEarthNet-S2.tar.zst"
    listing = subprocess.run(
        f"zstd -dc '{archive}' | tar -tf -",
        shell=True,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert listing == sorted(
        (k for k in files if k.startswith("BigEarthNet-S2/")), key=str.encode
    )
    verbose = subprocess.run(
        ["tar", "--zstd", "-tvf", str(archive)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert all(
        line.startswith("-rw-r--r-- 0/0") and "2024-01-01 00:00" in line
        for line in verbose
    )


def test_zstd_threads_do_not_change_bytes(tmp_path: Path) -> None:
    dataset = _materialise(tmp_path / "ds", _layout(seed=3), variant=0)
    digests = {
        threads: write_tar_zst(
            dataset, "BigEarthNet-S2", tmp_path / f"t{threads}.tar.zst", threads=threads
        )
        for threads in (1, 2, 0)
    }
    blobs = {t: (tmp_path / f"t{t}.tar.zst").read_bytes() for t in digests}
    assert blobs[1] == blobs[2] == blobs[0]
    assert len({d.zst_sha256 for d in digests.values()}) == 1


def test_hashes_txt_and_sha256sums(releases) -> None:
    release, _, files = releases
    text = (release / "hashes.txt").read_text()
    assert text.startswith("md5 hashes:\n\n")
    listed = parse_checksum_lines(text)
    assert set(listed) == {f"{t}.tar" for t in TREES} | {
        f"{t}.tar.zst" for t in TREES
    } | set(PARQUETS)
    shas = parse_checksum_lines((release / "sha256sums.txt").read_text())
    assert set(shas) == set(listed)
    for tree in TREES:
        zst = release / f"{tree}.tar.zst"
        assert listed[f"{tree}.tar.zst"] == hashlib.md5(zst.read_bytes()).hexdigest()
        assert shas[f"{tree}.tar.zst"] == hashlib.sha256(zst.read_bytes()).hexdigest()
        assert listed[f"{tree}.tar"] == hashlib.md5(_decompress(zst)).hexdigest()
        assert shas[f"{tree}.tar"] == hashlib.sha256(_decompress(zst)).hexdigest()
    for name in PARQUETS:
        assert listed[name] == hashlib.md5(files[name]).hexdigest()
        assert (release / name).read_bytes() == files[name]
    assert set(check_release(release).values()) == {"ok"}


def test_check_release_names_a_tampered_archive(tmp_path: Path, releases) -> None:
    release = tmp_path / "copy"
    shutil.copytree(releases[0], release)
    target = release / "Reference_Maps.tar.zst"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match="Reference_Maps.tar.zst"):
        check_release(release)


def test_plain_tar_size_is_predicted_exactly(tmp_path: Path) -> None:
    dataset = _materialise(tmp_path / "ds", _layout(seed=5), variant=1)
    digest = write_tar_zst(
        dataset, "BigEarthNet-S1", tmp_path / "s1.tar", compress=False
    )
    data = (tmp_path / "s1.tar").read_bytes()
    assert digest.tar_size == len(data) == digest.zst_size
    assert digest.tar_md5 == hashlib.md5(data).hexdigest()


def test_layout_violations_are_refused(tmp_path: Path) -> None:
    dataset = _materialise(tmp_path / "ds", _layout(), variant=0)
    stray = dataset / "BigEarthNet-S2" / TILE / "stray.tif"
    stray.write_bytes(b"x")
    with pytest.raises(DatasetCheckError, match="stray.tif"):
        write_tar_zst(dataset, "BigEarthNet-S2", tmp_path / "x.tar.zst")
    assert list(tmp_path.glob("*x.tar.zst*")) == []
    with pytest.raises(InputDataError, match="not a directory"):
        write_tar_zst(tmp_path / "nowhere", "BigEarthNet-S2", None)


def test_symlinked_files_are_archived_and_special_files_refused(
    tmp_path: Path,
) -> None:
    files = _layout(seed=3)
    plain = _materialise(tmp_path / "plain", files, variant=0)
    linked = _materialise(tmp_path / "linked", files, variant=0)
    # A hard-linked or symlinked tree (finalize_dataset links files) archives
    # the target's bytes under the link's path.
    target = next((linked / "BigEarthNet-S2").rglob("*_B02.tif"))
    moved = tmp_path / "elsewhere.tif"
    target.rename(moved)
    target.symlink_to(moved)
    a = write_tar_zst(plain, "BigEarthNet-S2", tmp_path / "a.tar.zst")
    b = write_tar_zst(linked, "BigEarthNet-S2", tmp_path / "b.tar.zst")
    assert a == b
    fifo = target.with_name(target.name.replace("_B02", "_B03x"))
    os.mkfifo(fifo)
    with pytest.raises(DatasetCheckError, match=f"{fifo.name} is neither a regular"):
        write_tar_zst(linked, "BigEarthNet-S2", tmp_path / "c.tar.zst")


def test_hash_free_stream_writes_the_same_archive(tmp_path: Path) -> None:
    # bench_packaging times write_tar_zst(hashes=False) as the packaging stream.
    dataset = _materialise(tmp_path / "ds", _layout(seed=4), variant=0)
    full = write_tar_zst(dataset, "BigEarthNet-S2", tmp_path / "full.tar.zst")
    bare = write_tar_zst(
        dataset, "BigEarthNet-S2", tmp_path / "bare.tar.zst", hashes=False
    )
    data = (tmp_path / "full.tar.zst").read_bytes()
    assert data == (tmp_path / "bare.tar.zst").read_bytes()
    assert full.zst_md5 == hashlib.md5(data).hexdigest()
    assert (bare.zst_size, bare.zst_md5, bare.tar_md5) == (len(data), "", "")


def test_a_file_removed_during_packaging_is_named(tmp_path: Path, monkeypatch) -> None:
    import benpipe.release.packaging as packaging

    dataset = _materialise(tmp_path / "ds", _layout(seed=6), variant=0)
    real = packaging._walk
    calls = {"n": 0}

    def racing(dataset_dir, tree):
        calls["n"] += 1
        for arcname, entry in real(dataset_dir, tree):
            if calls["n"] == 2:  # listed by the writing pass, gone when opened
                Path(entry.path).unlink()
            yield arcname, entry

    monkeypatch.setattr(packaging, "_walk", racing)
    with pytest.raises(InputDataError, match="_VH.tif disappeared while being"):
        write_tar_zst(dataset, "BigEarthNet-S1", tmp_path / "s1.tar.zst")
    assert list(tmp_path.glob("*s1.tar.zst*")) == []


_PEAK_RSS_CHILD = """
import resource, sys
from pathlib import Path
from benpipe.release.packaging import write_tar_zst
write_tar_zst(Path(sys.argv[1]), "BigEarthNet-S2", Path(sys.argv[2]), threads=2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _s2_tree_of(root: Path, patches: int, block: bytes) -> Path:
    for i in range(patches):
        patch = f"{TILE}_{i % 91:02d}_{i // 91:02d}"
        folder = root / "BigEarthNet-S2" / TILE / patch
        folder.mkdir(parents=True)
        for band in ("B02", "B03", "B04", "B08"):
            (folder / f"{patch}_{band}.tif").write_bytes(f"{i}{band}".encode() + block)
    return root


def test_memory_stays_flat_as_the_tree_grows(tmp_path: Path) -> None:
    # Everything is streamed: once zstd's worker buffers are in use (a few
    # tens of MB of tar), an 8x larger tree must not raise the peak RSS by
    # anything like its size (a buffered tar or archive would add ~350 MB).
    block = random.Random(0).randbytes(500_000)
    peaks = []
    for patches in (25, 200):  # 50 MB and 400 MB of tar
        dataset = _s2_tree_of(tmp_path / f"ds{patches}", patches, block)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _PEAK_RSS_CHILD,
                str(dataset),
                str(dataset / "a.zst"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(out.stdout.split()[-1]) / 1024)  # MiB
        shutil.rmtree(dataset)
    assert peaks[1] - peaks[0] < 32, f"peak RSS {peaks[0]:.0f} -> {peaks[1]:.0f} MiB"


def test_render_hashes_txt_reproduces_the_reference_file() -> None:
    path = REFERENCE / "hashes.txt"
    if not path.is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    data = path.read_bytes()
    assert render_hashes_txt(parse_checksum_lines(data.decode())) == data


@pytest.mark.parametrize("length", [1, 99, 100, 101, 511, 512, 600])
@pytest.mark.parametrize("size", [0, 1, 512, 8**11 - 1, 8**11])
@pytest.mark.parametrize("mode", [FILE_MODE, 0o600, 0o755])
def test_fast_header_equals_tarfile_gnu_header(
    length: int, size: int, mode: int
) -> None:
    # The main block equals tarfile's; a long name's ././@LongLink entry is
    # GNU tar's (mode 0644; tarfile writes 0): test_archive_parity.py
    # compares whole archives with the GNU tar CLI.
    member = Member("é/" + "a" * max(0, length - 3), "unused", size, mode)
    header = tar_header(member)
    assert header[-512:] == tar_header_reference(member)
    if len(member.arcname.encode()) > 100:
        with tarfile.open(fileobj=io.BytesIO(header + bytes(1024))) as tar:
            info = tar.next()
        assert info is not None
        assert (info.name, info.size, info.mode) == (member.arcname, size, mode)
        assert header[100:108] == b"0000644\0"  # the LongLink header's mode
    else:
        assert len(header) == 512


def _cli_libzstd_version() -> tuple[int, ...] | None:
    if shutil.which("zstd") is None:
        return None
    out = subprocess.run(["zstd", "-V"], capture_output=True, text=True).stdout
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else None


def test_archive_equals_zstd_cli_output_for_the_same_libzstd(tmp_path: Path) -> None:
    version = _cli_libzstd_version()
    if version != tuple(zstandard.ZSTD_VERSION):
        pytest.skip(
            f"zstd CLI libzstd {version} != python-zstandard's {zstandard.ZSTD_VERSION}; "
            "bytes are only comparable for the same libzstd version"
        )
    dataset = _materialise(tmp_path / "ds", _layout(seed=11), variant=0)
    write_tar_zst(dataset, "BigEarthNet-S2", tmp_path / "s2.tar", compress=False)
    write_tar_zst(dataset, "BigEarthNet-S2", tmp_path / "ours.tar.zst", threads=2)
    subprocess.run(
        [
            "zstd",
            "-6",
            "-T0",
            "-q",
            "-f",
            str(tmp_path / "s2.tar"),
            "-o",
            str(tmp_path / "cli.tar.zst"),
        ],
        check=True,
    )
    assert (tmp_path / "ours.tar.zst").read_bytes() == (
        tmp_path / "cli.tar.zst"
    ).read_bytes()


def test_a_file_growing_during_packaging_is_an_error(
    tmp_path: Path, monkeypatch
) -> None:
    import benpipe.release.packaging as packaging

    dataset = _materialise(tmp_path / "ds", _layout(seed=2), variant=0)
    real = packaging.check_member_layout

    def growing(member: Member) -> None:
        real(member)  # the listing pass has recorded the size; now the file grows
        Path(member.path).write_bytes(b"x" * (member.size + 5000))

    monkeypatch.setattr(packaging, "check_member_layout", growing)
    with pytest.raises(InputDataError, match="changed while being archived"):
        write_tar_zst(dataset, "Reference_Maps", tmp_path / "rm.tar.zst")
    assert list(tmp_path.glob("*rm.tar.zst*")) == []
    assert [t.name for t in threading.enumerate() if "digests" in t.name] == []
