"""Progress reporting: one callback type for known and unknown totals."""

from __future__ import annotations

import logging

import pytest

from benpipe.log import Progress, ProgressCallback


def test_progress_logs_counts_with_and_without_a_total(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("benpipe.test.progress")
    caplog.set_level(logging.INFO, logger=logger.name)
    known: ProgressCallback = Progress("patches", total=4, logger=logger, every_s=0)
    known(1, 4)
    known(4, 4)
    unknown: ProgressCallback = Progress("bytes hashed", logger=logger, every_s=0)
    unknown(1024, None)
    assert [r.getMessage() for r in caplog.records] == [
        "patches 1/4 (25%)",
        "patches 4/4 (100%)",
        "bytes hashed 1024",
    ]
