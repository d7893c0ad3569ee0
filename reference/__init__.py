"""The reference code behind the chapters, one topic per subpackage.

Each module is short enough to read in one sitting and opens with a
"theory of operation". The subpackages hold modules only (their
`__init__.py` re-export nothing), so an import always names the file that
holds the code: `from reference.wire.framing import MessageStream`.

Layers, lowest first; a module imports only from its own layer or below
(tests/test_layers.py checks it):

1. `tools/` and `wire/`: helpers for notebooks and tests, and what travels
   on the wire;
2. `rpc/` and `net/`: calls over streams, and nodes over a network;
3. `delivery/` (and routing, order, security as those chapters land);
4. the capstone.

Chapter by chapter:

== ===================== ==============================================================
00 start here            tools/background (Trio in a background thread)
01 messages over sockets wire/framing (frames, `MessageStream`); tools/piecewise
02 serialization         wire/cbor (a teaching codec), wire/cbor_explain (the hex view),
                         wire/schemas (typed, versioned envelopes)
03 paradigms             rpc/wire (the messages), rpc/pending (the call table),
                         rpc/client, rpc/server, rpc/blocking (a sync client);
                         tools/delay_proxy (latency on a TCP link)
04 reliable delivery     net/node (the node interface), net/links (loss, delay, clocks),
                         net/simnet (the simulator), net/udp (the same nodes over UDP),
                         net/trace (events), net/spacetime and net/mermaid (diagrams);
                         delivery/reliable (acks, retries, windows),
                         delivery/durable_queue (SQLite), delivery/worker (a Trio consumer)
== ===================== ==============================================================
"""
