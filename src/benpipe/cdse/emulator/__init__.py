"""A local, offline CDSE: Keycloak realm, OData catalogue, zipper downloads.

``EmulatorServer(root)`` serves a world (``benpipe demo-world``, or
:mod:`~benpipe.cdse.emulator.synthetic_products` for tests) the way CDSE
answers its clients; ``benpipe cdse-emulator`` (:mod:`~benpipe.cdse.emulator.cli`)
runs it from the command line.
"""

from benpipe.cdse.emulator.cdse_hosts import CDSE_HOSTS, resolve_cdse_hosts
from benpipe.cdse.emulator.faults import FAULT_HELP, FaultSpec, parse_faults
from benpipe.cdse.emulator.realm import DEMO_PASSWORD, DEMO_USERNAME
from benpipe.cdse.emulator.server import EmulatorServer, EmulatorStats

__all__ = [
    "CDSE_HOSTS",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FAULT_HELP",
    "EmulatorServer",
    "EmulatorStats",
    "FaultSpec",
    "parse_faults",
    "resolve_cdse_hosts",
]
