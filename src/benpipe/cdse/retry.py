"""Bounded retries with exponential backoff, jitter and ``Retry-After``."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests

from benpipe.errors import DownloadError, QuotaExceededError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest ``Retry-After`` honoured, in seconds.
MAX_RETRY_AFTER_S = 600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Config keys ``cdse.max_attempts``, ``backoff_initial_s``, ``backoff_max_s``, ``timeout_s``."""

    max_attempts: int = 8
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 120.0
    timeout_s: float = 120.0

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Delay before attempt ``attempt + 1``: doubling, full jitter in [½, 1]."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** (attempt - 1))
        delay = base * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not crypto)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
        return delay


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class TransientHTTPError(Exception):
    """A 429 or 5xx answer worth retrying (internal; never escapes)."""

    def __init__(self, resp: requests.Response) -> None:
        super().__init__(f"HTTP {resp.status_code}")
        self.status_code = resp.status_code
        self.retry_after_s = parse_retry_after(resp.headers.get("Retry-After"))
        resp.close()


def call_with_retries(func: Callable[[], T], *, policy: RetryPolicy, what: str) -> T:
    """Call ``func``; retry transient HTTP answers and network errors.

    After ``policy.max_attempts`` raises :class:`QuotaExceededError` (last
    answer 429) or :class:`DownloadError`.
    """
    last: Exception | None = None
    for attempt in range(1, policy.max_attempts + 1):
        retry_after = None
        try:
            return func()
        except TransientHTTPError as exc:
            last, retry_after = exc, exc.retry_after_s
        except requests.RequestException as exc:
            last = exc
        if attempt < policy.max_attempts:
            delay = policy.delay_s(attempt, retry_after)
            logger.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                what,
                attempt,
                policy.max_attempts,
                _describe(last),
                delay,
            )
            time.sleep(delay)
    status = getattr(last, "status_code", None)
    message = (
        f"{what} failed after {policy.max_attempts} attempts (last: "
        f"{_describe(last)}); the service may be down, try again later"
    )
    if status == 429:
        raise QuotaExceededError(message) from last
    raise DownloadError(message, status_code=status) from last


def _describe(exc: Exception | None) -> str:
    if isinstance(exc, TransientHTTPError):
        return str(exc)
    return exc.__class__.__name__ if exc is not None else "unknown"
