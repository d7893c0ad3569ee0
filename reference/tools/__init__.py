"""Helpers for notebooks and tests: Trio in a background thread, a TCP proxy that adds latency,
and byte streams that deliver data in random pieces."""
