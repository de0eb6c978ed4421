"""Declarative reconciler for AWS App Mesh virtual gateways and gateway routes."""

__version__ = "0.1.0"
