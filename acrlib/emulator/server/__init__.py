"""The emulator's server process: one HTTPS origin per registry (data plane and token service) and one for ARM
and Resource Graph, over the tenant of ``..model``. Started by ``..process.Emulator``."""
