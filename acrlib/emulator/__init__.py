"""A local HTTPS emulator of Azure Container Registry and Azure Resource Graph.

The library core never imports this package; tests, benchmarks, the CLI and the demo report do.
"""

from .faults import Faults
from .generate import PRESETS
from .process import Emulator, EmulatorConnection, EmulatorError, attach

__all__ = ["PRESETS", "Emulator", "EmulatorConnection", "EmulatorError", "Faults", "attach"]
