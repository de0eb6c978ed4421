"""A local App Mesh for demos, tests and benchmarks: moto's server plus a realism layer."""

from .server import Realism, Sandbox, is_write

__all__ = ["Realism", "Sandbox", "is_write"]
