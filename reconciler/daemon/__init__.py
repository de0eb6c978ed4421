"""``reconcile --watch``: the loop, the file watcher, probes and metrics, notifications, leader election.

A wing of its own: the engine never imports it; only the CLI does, lazily, so the
offline commands load none of it.
"""
