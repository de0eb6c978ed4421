"""A local App Mesh for demos, tests and benchmarks: moto's server, the realism layer, its control API."""

from .control import Control, ControlRefused
from .realism import Realism, is_write
from .server import Sandbox

__all__ = ["Control", "ControlRefused", "Realism", "Sandbox", "is_write"]
