"""Remote procedure calls: the wire format, the pending-call table, a Trio client and server,
and a blocking client (chapter 03)."""
