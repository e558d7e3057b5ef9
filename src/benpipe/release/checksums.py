"""The release hash lists: the reference ``hashes.txt`` and ``sha256sums.txt``.

Pure text rendering and parsing; REFERENCE-PIPELINE.md §7.3.
"""

from __future__ import annotations

from collections.abc import Mapping


def _release_order(name: str) -> tuple[str, str]:
    # The reference hashes.txt lists names case-insensitively sorted.
    return (name.casefold(), name)


def render_hashes_txt(md5s: Mapping[str, str]) -> bytes:
    """The reference ``hashes.txt``: ``md5 hashes:``, a blank line, md5sum lines.

    Names are sorted case-insensitively and the file ends with a blank line,
    exactly as the published file (REFERENCE-PIPELINE.md §7.3).
    """
    lines = [f"{md5s[name]}  {name}\n" for name in sorted(md5s, key=_release_order)]
    return ("md5 hashes:\n\n" + "".join(lines) + "\n").encode("utf-8")


def render_sha256sums(sha256s: Mapping[str, str]) -> bytes:
    """``sha256sum`` format (``<hex>  <name>``), one line per file, same order."""
    lines = [
        f"{sha256s[name]}  {name}\n" for name in sorted(sha256s, key=_release_order)
    ]
    return "".join(lines).encode("utf-8")


def parse_checksum_lines(text: str) -> dict[str, str]:
    """``{name: hex}`` from md5sum/sha256sum lines; other lines are ignored.

    Accepts the reference ``hashes.txt`` (its ``md5 hashes:`` title and blank
    lines are skipped) and binary-mode ``*name`` markers.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or not all(c in "0123456789abcdef" for c in parts[0]):
            continue
        if len(parts[0]) not in (32, 40, 64, 128):
            continue
        out[parts[1].lstrip("*").strip()] = parts[0]
    return out
