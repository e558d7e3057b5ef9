"""The one retry loop of the CDSE client: bounded, exponential backoff, jitter.

Catalogue queries, token grants and downloads all go through
:func:`call_with_retries` with a :class:`RetryPolicy` (config keys
``cdse.max_attempts``, ``backoff_initial_s``, ``backoff_max_s``,
``timeout_s``).  An attempt that should be repeated raises
:class:`TransientError` (a 429 or 5xx answer, a cut stream, a timeout); a
``requests`` network error counts the same.  ``Retry-After`` is honoured (up
to :data:`MAX_RETRY_AFTER_S`).  Anything else ends the loop at once.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests

from benpipe.errors import BenpipeError, DownloadError, QuotaExceededError

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


def is_transient(status: int) -> bool:
    """Whether an HTTP status is worth another attempt (429 and 5xx)."""
    return status == 429 or status >= 500


class TransientError(Exception):
    """An attempt failed in a way worth repeating (internal; never escapes the loop)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after_s = retry_after_s

    @classmethod
    def from_response(cls, resp: requests.Response) -> TransientError:
        """From a 429/5xx answer (closes it), keeping its ``Retry-After``."""
        error = cls(
            f"HTTP {resp.status_code}",
            status=resp.status_code,
            retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
        )
        resp.close()
        return error


def call_with_retries(
    func: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    advice: str = "the service may be down, try again later",
    on_attempt: Callable[[int], None] | None = None,
    exhausted: type[BenpipeError] = DownloadError,
) -> T:
    """Call ``func`` up to ``policy.max_attempts`` times; return its first result.

    ``on_attempt(n)`` is told about each attempt before it starts.  After the
    last attempt raises :class:`QuotaExceededError` when the last answer was
    429, else ``exhausted`` (with ``status_code`` for a :class:`DownloadError`);
    the message is ``"<what> failed after N attempts (last: ...); <advice>"``.
    """
    last = TransientError("no attempt")
    for attempt in range(1, policy.max_attempts + 1):
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            return func()
        except TransientError as exc:
            last = exc
        except requests.RequestException as exc:
            last = TransientError(exc.__class__.__name__)
            last.__cause__ = exc
        if attempt < policy.max_attempts:
            delay = policy.delay_s(attempt, last.retry_after_s)
            logger.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                what,
                attempt,
                policy.max_attempts,
                last,
                delay,
            )
            time.sleep(delay)
    message = (
        f"{what} failed after {policy.max_attempts} attempts (last: {last}); {advice}"
    )
    if last.status == 429:
        raise QuotaExceededError(message) from last
    if issubclass(exhausted, DownloadError):
        raise exhausted(message, status_code=last.status) from last
    raise exhausted(message) from last
