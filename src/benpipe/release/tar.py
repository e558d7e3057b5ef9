"""The normalised GNU tar format of the release archives (pure: bytes only).

Entries are the tree's regular files only (no directory entries), in GNU
format (``tarfile.GNU_FORMAT``: paths over 100 bytes use a ``././@LongLink``
entry), mtime 2024-01-01T00:00:00Z, uid/gid 0, empty uname/gname (numeric
owner), mode 0644 for every file whatever the filesystem says; the archive
ends with two zero blocks padded to a 10240-byte record, as GNU tar
(REFERENCE-PIPELINE.md §6.2, §7.1, §10 item 23).
"""

from __future__ import annotations

import functools
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

from benpipe.dataset.layout import S1_TREE
from benpipe.errors import DatasetCheckError

#: 2024-01-01T00:00:00Z, the reference's ``--mtime``.
TAR_MTIME = 1_704_067_200
#: Mode of every archived file.
FILE_MODE = 0o644

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240
_NAME_MAX = tarfile.LENGTH_NAME  # 100


@dataclass(frozen=True, slots=True)
class Member:
    """One archive entry: archive path, source file and size in bytes."""

    arcname: str
    path: str
    size: int


def check_member_layout(member: Member) -> None:
    """Raise :class:`DatasetCheckError` unless the path has the §6.2 shape.

    ``<tree>/<dir>/<patch>/<file>.tif(f)``: exactly four components, the patch
    folder name contains its parent's name (S2, reference maps) and the file
    name contains the patch folder name.
    """
    parts = member.arcname.split("/")
    problem = ""
    if len(parts) != 4:
        problem = f"has {len(parts)} path components, expected 4"
    elif not parts[3].endswith((".tif", ".tiff")):
        problem = "is not a .tif/.tiff file"
    elif parts[2] not in parts[3]:
        problem = f"file name does not contain its patch folder name {parts[2]!r}"
    elif parts[0] != S1_TREE and parts[1] not in parts[2]:
        problem = f"patch folder does not contain its tile folder name {parts[1]!r}"
    elif parts[0] == S1_TREE and not parts[2].startswith(parts[1]):
        problem = f"S1 folder does not start with its group name {parts[1]!r}"
    if problem:
        raise DatasetCheckError(
            f"archive entry {member.arcname} ({member.path}) {problem}; expected "
            f"{parts[0]}/<tile or S1 group>/<patch>/<patch>_<suffix>.tif as in "
            "REFERENCE-PIPELINE.md §8.1 — fix the dataset tree (finalize_dataset)"
        )


def header_size(arcname: str) -> int:
    """Bytes of the GNU header(s) ``tarfile`` writes for ``arcname``."""
    n = len(arcname.encode("utf-8"))
    if n <= _NAME_MAX:
        return BLOCK
    return 2 * BLOCK + -(-(n + 1) // BLOCK) * BLOCK


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def tar_stream_size(members: Iterable[Member]) -> tuple[int, int]:
    """``(number of members, exact size of the tar stream)`` for ``members``."""
    count = 0
    total = 0
    for member in members:
        count += 1
        total += header_size(member.arcname) + _padded(member.size)
    total += 2 * BLOCK
    return count, -(-total // RECORD) * RECORD


def tar_header_reference(member: Member) -> bytes:
    """The normalised GNU header block(s) of ``member``, built by ``tarfile``."""
    info = tarfile.TarInfo(member.arcname)
    info.size = member.size
    info.mtime = TAR_MTIME
    info.mode = FILE_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def _octal(value: int, digits: int) -> bytes:
    return b"%0*o\0" % (digits - 1, value)


_ZERO8 = b"0000000\0"
ZERO_BLOCK = bytes(BLOCK)


@functools.cache
def _block_tail(typeflag: bytes) -> bytes:
    # Field layout of tarfile._create_header for GNU_FORMAT with uid/gid 0,
    # empty uname/gname, no link name, no device numbers, empty prefix.
    return (
        typeflag
        + bytes(100)  # link name
        + tarfile.GNU_MAGIC
        + bytes(64 + 16)  # uname, gname; devmajor/devminor empty (not a device)
        + bytes(155 + 12)
    )


@functools.cache
def _constant_sum(mode: int, mtime: int, typeflag: bytes) -> int:
    # The checksum counts its own field as 8 spaces; everything but the name
    # and the size is the same for every entry of one kind.
    fixed = _octal(mode, 8) + _ZERO8 + _ZERO8 + _octal(mtime, 12)
    return sum(fixed) + 8 * 0x20 + sum(_block_tail(typeflag))


def _gnu_block(name: bytes, size: int, mode: int, mtime: int, typeflag: bytes) -> bytes:
    name = name[:100]
    size_field = _octal(size, 12)
    chksum = sum(name) + sum(size_field) + _constant_sum(mode, mtime, typeflag)
    return b"".join(
        (
            name.ljust(100, b"\0"),
            _octal(mode, 8),
            _ZERO8,
            _ZERO8,
            size_field,
            _octal(mtime, 12),
            b"%06o\0 " % chksum,
            _block_tail(typeflag),
        )
    )


def tar_header(member: Member) -> bytes:
    """The normalised GNU header block(s) of ``member``.

    Byte-identical to :func:`tar_header_reference` (``tarfile``'s GNU
    header, tested), built without ``TarInfo`` because it runs once per file.
    """
    name = member.arcname.encode("utf-8", "surrogateescape")
    if member.size >= 8**11:  # needs GNU base-256 size; rare, let tarfile do it
        return tar_header_reference(member)
    block = _gnu_block(name, member.size, FILE_MODE, TAR_MTIME, tarfile.REGTYPE)
    if len(name) <= _NAME_MAX:
        return block
    n = len(name) + 1  # the name and its NUL, padded to whole blocks
    return b"".join((_long_name_block(n), name, ZERO_BLOCK[: 1 + -n % BLOCK], block))


@functools.cache
def _long_name_block(payload_size: int) -> bytes:
    # The ``././@LongLink`` header depends only on the long name's length.
    return _gnu_block(b"././@LongLink", payload_size, 0, 0, tarfile.GNUTYPE_LONGNAME)
