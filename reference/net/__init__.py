"""Nodes on a network: the node interface, links and clocks, the deterministic simulator, the
same nodes over UDP, traces and their diagrams (chapter 04, and every chapter after it that
runs an algorithm)."""
