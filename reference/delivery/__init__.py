"""Reliable delivery: acknowledgements, retransmission and windows on the node interface, and a
durable queue on SQLite with a Trio worker (chapter 04)."""
