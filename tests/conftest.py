"""Shared fixtures: repository paths and the reference artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE_ARTIFACTS = SHARED / "reference-artifacts"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_artifacts() -> Path:
    """../shared/reference-artifacts, or skip when it is not there."""
    if not REFERENCE_ARTIFACTS.is_dir():
        pytest.skip(
            f"reference artifacts not found at {REFERENCE_ARTIFACTS}; "
            "golden tests need ../shared/reference-artifacts next to the repository"
        )
    return REFERENCE_ARTIFACTS
