"""A local HTTPS emulator of Azure Container Registry and Azure Resource Graph.

The library core never imports this package; tests, benchmarks, the CLI and the demo report do.
"""

from .faults import Faults
from .process import Emulator, EmulatorConnection, EmulatorError, attach
from .tenant import PRESETS

__all__ = ["PRESETS", "Emulator", "EmulatorConnection", "EmulatorError", "Faults", "attach"]
