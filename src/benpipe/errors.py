"""The benpipe error taxonomy.

One root, :class:`BenpipeError`; each subclass also inherits the builtin that
matches its nature, so callers can catch either.  Messages say what failed,
which item, what was expected versus found, and what to do next.
"""

from __future__ import annotations


class BenpipeError(Exception):
    """Root of every error benpipe raises on purpose."""


class ConfigError(BenpipeError, ValueError):
    """A configuration key is missing, misspelled or out of range."""


class InputDataError(BenpipeError, ValueError):
    """An input file is malformed, incomplete or of the wrong kind."""


class NamingError(BenpipeError, ValueError):
    """A product, patch or v1 name does not follow the expected pattern."""


class CatalogueError(BenpipeError, RuntimeError):
    """A catalogue lookup gave no match, several matches or an invalid answer."""


class AuthenticationError(BenpipeError, PermissionError):
    """The CDSE identity service refused the credentials or the token."""


class ProductUnavailableError(BenpipeError, RuntimeError):
    """A product exists but cannot be downloaded now (offline, deleted)."""


class QuotaExceededError(BenpipeError, RuntimeError):
    """The service kept answering 429 after every retry."""


class DownloadError(BenpipeError, OSError):
    """A download failed after its bounded retries."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ChecksumMismatchError(DownloadError):
    """Downloaded bytes do not match the catalogue checksum."""


class Sen2CorError(BenpipeError, RuntimeError):
    """sen2cor failed; carries its exit code and the tail of its log."""

    def __init__(
        self, message: str, *, exit_code: int | None = None, log_tail: str = ""
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.log_tail = log_tail


class ProductLayoutError(BenpipeError, ValueError):
    """A SAFE product lacks a file or has the wrong size, CRS or band set."""


class GridError(BenpipeError, ValueError):
    """Grid parameters are inconsistent (patch side, resolution, tile side)."""


class CrsMismatchError(GridError):
    """A raster or geometry has a CRS other than the one expected."""


class DatabaseError(BenpipeError, RuntimeError):
    """The PostGIS database could not be started, reached or migrated."""


class LabelCoverageError(BenpipeError, ValueError):
    """CORINE coverage or class data is missing or invalid."""


class DatasetCheckError(BenpipeError, ValueError):
    """A dataset directory violates the published layout contract."""


class VerificationError(BenpipeError, RuntimeError):
    """Produced artifacts differ from the tracked ones (strict mode)."""
