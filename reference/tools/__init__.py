"""Helpers for notebooks and tests: Trio in a background thread, a TCP proxy that adds latency,
and bytes in random pieces (as a stream, or as a list for sans-I/O code)."""
