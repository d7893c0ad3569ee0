"""The limits of the RPC server: what each one stops, and why its default is what it is.

Theory of operation
-------------------
A server that talks to peers it does not control must decide, for every
resource a peer can make it spend, how much one peer may have: memory,
time on the event loop, connections, waiting. Each limit below answers
one way a careless or hostile client hurt the server in a test
(tests/rpc/test_limits.py), and reference/rpc/server.py enforces it.
The defaults are generous on purpose: a notebook on loopback never meets
them; a peer that does is broken or hostile.

Per connection:

- `max_frame_size` (1 MiB, reference/wire/framing.py): a frame is
  refused from its 4-byte header, before its body is buffered;
- `max_items` (100,000, reference/wire/untrusted.py): what 1 MiB may
  decode into; one byte can be a whole empty map, ~72 bytes in Python;
- `max_concurrent_requests` (16): methods running for one connection. The
  server reads the next request only when one finishes, so TCP flow
  control pushes back on a client that sends faster than it is served;
- `frame_timeout` (30 s): once a frame's first byte arrives, the whole
  frame must follow within it. A slowloris peer, sending a header and
  then a byte a minute, is cut off, and the frame it parked is let go.
  30 s for 1 MiB asks for 35 KB/s, which any working link gives;
- `idle_timeout` (300 s): a connection with no call running that sends
  nothing for this long is closed (farewell `IdleTimeout`). A notebook
  opens and closes its connections within a cell.

Across the server, so that memory does not grow with the number of
connections:

- `max_connections` (256): one more is told `ServerBusy` and closed;
- `max_calls_in_flight` (1,024): a request over it gets the error reply
  `ServerBusy` at once, without running (so the client may try again),
  and a notification over it is dropped and counted.

Together they bound what the server holds: at most `max_connections`
partial frames (each under `max_frame_size`, for at most `frame_timeout`),
and at most `max_calls_in_flight` requests with their replies, plus
`max_concurrent_requests` replies queued per connection for its writer.
"""

from __future__ import annotations

DEFAULT_MAX_CONCURRENT_REQUESTS = 16  # per connection
DEFAULT_FRAME_TIMEOUT = 30.0  # seconds from a frame's first byte to its last
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds of silence, with no call running, before we hang up
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_CALLS_IN_FLIGHT = 1024  # across all connections
FAREWELL_TIMEOUT = 1.0  # seconds to try to tell a peer why we hang up
TIME_SLICE = 0.002  # seconds of plain methods a connection's reader runs before it lets others in
