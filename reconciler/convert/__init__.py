"""``reconcile convert``: App Mesh → Gateway API, with every difference reported.

A wing of its own: the engine never imports it; only the CLI does, lazily.
"""
