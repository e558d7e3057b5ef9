"""benpipe: a reproducible pipeline that rebuilds BigEarthNet v2 (reBEN)."""

__version__ = "0.1.0"
