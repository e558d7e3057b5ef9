"""The L1C stage: the product list from v1, safe extraction and the L1C hashes.

Importing this package is cheap (``common.smk`` reads
:data:`ALGORITHM_VERSION`).  Catalogue search and downloads are in
:mod:`benpipe.cdse`.
"""

#: Bump when the bytes of any output of this stage change.
ALGORITHM_VERSION = 1
