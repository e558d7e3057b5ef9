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


@pytest.fixture
def isolated_cdse_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No real CDSE credentials, ~/.netrc or token cache: a private HOME and cache."""
    for name in (
        "CDSE_USERNAME",
        "CDSE_PASSWORD",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return home


@pytest.fixture(scope="session")
def reference_artifacts() -> Path:
    """../shared/reference-artifacts, or skip when it is not there."""
    if not REFERENCE_ARTIFACTS.is_dir():
        pytest.skip(
            f"reference artifacts not found at {REFERENCE_ARTIFACTS}; "
            "golden tests need ../shared/reference-artifacts next to the repository"
        )
    return REFERENCE_ARTIFACTS
