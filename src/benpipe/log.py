"""Logging set-up for Snakemake rule scripts and the CLI.

The library only ever calls ``logging.getLogger(__name__)``; handlers are
configured here, once, at the edge (a rule script or the CLI group).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from benpipe.errors import ConfigError
from benpipe.runsettings import RunSettings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S"

_QUIET_LOGGERS = (
    "rasterio",
    "urllib3",
    "fiona",
    "pyogrio",
    "matplotlib",
    "alembic.runtime.plugins",
)


def configure_logging(
    *, log_file: Path | None = None, level: str | int = "INFO"
) -> None:
    """Send records to stderr and, when given, to ``log_file`` (appending)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(FORMAT, DATEFMT)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _excepthook(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
) -> None:
    logging.getLogger("benpipe").critical(
        "%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb)
    )


def setup_for_snakemake(snakemake: Any) -> RunSettings:
    """Configure logging for a rule script; return the run's settings.

    Logs go to ``snakemake.log[0]`` (the first log file) and stderr, at the
    run's ``log_level``, which comes with the other run settings through the
    environment (:mod:`benpipe.runsettings`), never as a param: a change of
    log level reruns nothing. Uncaught exceptions are logged with their
    traceback so they land in the rule log.
    """
    log_file = Path(snakemake.log[0]) if len(snakemake.log) else None
    sys.excepthook = _excepthook
    try:
        settings = RunSettings.from_environment()
    except ConfigError:
        configure_logging(log_file=log_file, level="INFO")
        raise
    configure_logging(log_file=log_file, level=settings.log_level)
    return settings


class Progress:
    """Periodic progress reporting for long loops.

    In a terminal it draws a tqdm bar; otherwise it logs a line every
    ``every_s`` seconds (and at the end): ``patches 2000/8281 (24%)``.
    Usable directly as the ``progress(done, total)`` callback that long
    library functions accept.
    """

    def __init__(
        self,
        what: str,
        *,
        total: int | None = None,
        logger: logging.Logger | None = None,
        every_s: float = 10.0,
        unit: str = "it",
        unit_scale: bool = False,
    ) -> None:
        self.what = what
        self.total = total
        self.logger = logger or logging.getLogger("benpipe.progress")
        self.every_s = every_s
        self._last = time.monotonic()
        self._bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=what, unit=unit, unit_scale=unit_scale, leave=False
            )
        self._done = 0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self._bar is not None:
            if self.total is not None and self._bar.total != self.total:
                self._bar.total = self.total
            self._bar.update(done - self._done)
        else:
            now = time.monotonic()
            finished = self.total is not None and done >= self.total
            if now - self._last >= self.every_s or finished:
                self._last = now
                if self.total:
                    pct = 100.0 * done / self.total
                    self.logger.info(
                        "%s %d/%d (%.0f%%)", self.what, done, self.total, pct
                    )
                else:
                    self.logger.info("%s %d", self.what, done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


#: The one progress callback type: called with (done, total) as work
#: advances; total is None while unknown (e.g. bytes hashed during a walk).
#: :class:`Progress` is one.
ProgressCallback = Callable[[int, int | None], None]
