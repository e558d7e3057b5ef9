"""sha256 of every file below a folder: the tests' byte-identity check."""

import hashlib
from pathlib import Path


def tree_digests(root: Path) -> dict[str, str]:
    """Map each file's path relative to *root* (POSIX form) to its sha256."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
