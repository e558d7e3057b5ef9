"""The GNU tar format of the release archives (pure: bytes only).

The bytes are those of GNU tar (1.34) run with the reference's options
(REFERENCE-PIPELINE.md §6.2): ``--format=gnu --owner=0 --group=0
--numeric-owner --mtime="2024-01-01 00:00:00Z"`` on a sorted ``--files-from``
list of regular files (no directory entries).  So: paths over 100 bytes use
a ``././@LongLink`` entry (GNU tar writes that header with mode 0644, mtime
0, uid/gid 0 and empty user/group names; ``tarfile`` would write mode 0),
uid/gid 0, empty uname/gname, no device numbers, and the archive ends with
two zero blocks padded to a 10240-byte record.  The mode of each file is
:data:`FILE_MODE` (``normalized``, the default: what GNU tar records for a
tree written with umask 022, whatever the local modes are) or the file's own
permission bits (``filesystem``: GNU tar without ``--mode``, as the reference
ran it; §10 item 23).  ``tests/unit/test_archive_parity.py`` checks the bytes
against the GNU tar CLI.
"""

from __future__ import annotations

import functools
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from benpipe.dataset.layout import S1_TREE
from benpipe.errors import DatasetCheckError

#: 2024-01-01T00:00:00Z, the reference's ``--mtime``.
TAR_MTIME = 1_704_067_200
#: Mode of every archived file with ``file_modes="normalized"``.
FILE_MODE = 0o644
#: Mode GNU tar writes in a ``././@LongLink`` header.
LONGLINK_MODE = 0o644
#: Where the mode of an archived file comes from (config ``release.file_modes``).
FileModes = Literal["normalized", "filesystem"]
FILE_MODES: tuple[FileModes, ...] = ("normalized", "filesystem")

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240
_NAME_MAX = tarfile.LENGTH_NAME  # 100


@dataclass(frozen=True, slots=True)
class Member:
    """One archive entry: archive path, source file, size in bytes and mode."""

    arcname: str
    path: str
    size: int
    mode: int = FILE_MODE


def member_mode(st_mode: int, file_modes: FileModes) -> int:
    """The mode recorded for a file with ``os.stat`` mode ``st_mode``."""
    if file_modes == "normalized":
        return FILE_MODE
    if file_modes == "filesystem":
        return stat.S_IMODE(st_mode)
    raise ValueError(f"file_modes must be one of {FILE_MODES}, got {file_modes!r}")


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
    """Bytes of the GNU header(s) written for ``arcname``."""
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
    """The GNU header block of ``member`` without a long-name entry, by ``tarfile``.

    Names over 100 bytes are cut to 100 (the long name goes in the
    ``././@LongLink`` entry that :func:`tar_header` writes before it).
    """
    name = member.arcname.encode("utf-8", "surrogateescape")[:_NAME_MAX]
    info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
    info.size = member.size
    info.mtime = TAR_MTIME
    info.mode = member.mode
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
    # Field layout of a GNU tar (and tarfile GNU_FORMAT) header with uid/gid
    # 0, empty uname/gname, no link name, no device numbers, empty prefix.
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
    """The GNU header block(s) of ``member``, as GNU tar writes them.

    The main block is byte-identical to :func:`tar_header_reference`
    (``tarfile``'s, tested) but built without ``TarInfo``, because it runs
    once per file; a path over 100 bytes is preceded by GNU tar's
    ``././@LongLink`` entry.
    """
    name = member.arcname.encode("utf-8", "surrogateescape")
    if member.size >= 8**11:  # needs GNU base-256 size; rare, let tarfile do it
        block = tar_header_reference(member)
    else:
        block = _gnu_block(name, member.size, member.mode, TAR_MTIME, tarfile.REGTYPE)
    if len(name) <= _NAME_MAX:
        return block
    n = len(name) + 1  # the name and its NUL, padded to whole blocks
    return b"".join((_long_name_block(n), name, ZERO_BLOCK[: 1 + -n % BLOCK], block))


@functools.cache
def _long_name_block(payload_size: int) -> bytes:
    # The ``././@LongLink`` header depends only on the long name's length.
    return _gnu_block(
        b"././@LongLink", payload_size, LONGLINK_MODE, 0, tarfile.GNUTYPE_LONGNAME
    )
