"""L1C → L2A: sen2cor 2.11 runner, fallback converter and the L2A reader.

Importing this package is cheap (``common.smk`` reads
:data:`ALGORITHM_VERSION`); the modules that need rasterio load on use:
:mod:`benpipe.l2a.products`, :mod:`benpipe.l2a.fallback`,
:mod:`benpipe.l2a.sen2cor`, :mod:`benpipe.l2a.convert`.
"""

#: Bump when the output of convert_l2a changes on purpose (reruns the rule).
ALGORITHM_VERSION = 1
