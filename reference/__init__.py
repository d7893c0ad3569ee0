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
3. `delivery/`, `routing/`, `order/` and `security/`, and `debug/` (tools that
   explore, replay, shrink and search runs of the algorithms beside it);
4. the capstone.

Chapter by chapter:

== ===================== ==============================================================
00 start here            tools/background (Trio in a background thread)
01 messages over sockets wire/framing (frames, `MessageStream`); tools/piecewise
02 serialization         wire/cbor (a teaching codec), wire/cbor_explain (the hex view),
                         wire/schemas (typed, versioned envelopes)
03 paradigms             rpc/wire (the messages), rpc/pending (the call table),
                         rpc/client, rpc/server and rpc/served_connection, rpc/blocking (sync),
                         rpc/limits (what one peer may take), rpc/hostile (abusive peers,
                         for the soak test and bench/abuse.py);
                         tools/delay_proxy (latency on a TCP link)
04 reliable delivery     net/node (the node interface), net/links (loss, delay, clocks),
                         net/simnet (the simulator), net/udp (the same nodes over UDP),
                         net/trace (events), net/spacetime and net/mermaid (diagrams);
                         delivery/reliable (acks, retries, windows),
                         delivery/durable_queue (SQLite), delivery/queue_file (opening and
                         checking its file), delivery/wal_check (SQLite's write-ahead log,
                         read frame by frame), delivery/worker (a Trio consumer);
                         debug/faults (a run's faults as data, replayed exactly),
                         debug/shrink (the fewest faults that still fail), debug/planted
                         (planted bugs: a forgetful receiver, a log-blind vote rule)
05 routing               routing/subjects (subjects, wildcards, the subscription trie),
                         routing/queue_groups (balancing policies), routing/operations and
                         routing/protocol (the NATS protocol: events, writer, sans-I/O
                         reader), routing/broker, routing/broker_connection and
                         routing/outbound (the broker), routing/authorization (its hook for
                         credentials), routing/client, routing/client_errors,
                         routing/connection, routing/subscription, routing/inbox and
                         routing/reconnect (the client), routing/nats_server (real
                         nats-server processes), tools/nats_py (a barrier for nats-py);
                         routing/distance_vector(_runs) and routing/gossip(_runs) (nodes)
06 order and consistency order/clocks, order/happens_before; order/broadcast, order/causal,
                         order/total_order, order/broadcast_checks, order/broadcast_scenarios;
                         order/raft_log, order/raft, order/kv, order/raft_invariants,
                         order/raft_scenarios; order/history, order/models,
                         order/linearizability, order/timeline, order/simulated;
                         order/crdt (G- and PN-counters); order/etcd_cluster,
                         order/etcd_partition and order/etcd_history (a real etcd cluster);
                         debug/steps and debug/explorer (a run step by step, a widget);
                         debug/search_world and debug/search (every order of events, with
                         state hashing), debug/raft_election (Raft's election, for the search)
07 security              security/envelopes (canonical, HMAC, Ed25519), security/aead
                         (ChaCha20-Poly1305, counter nonces), security/channel (X25519 + HKDF),
                         security/replay (replay windows), security/tokens (bearer tokens),
                         security/tls and security/tls_certificates (TLS and mutual TLS),
                         security/permissions and security/broker_auth (the broker's
                         per-subject permissions from a token), security/adversary and
                         security/attack_scenarios (an attacker on the simulator)
08 capstone              capstone/chat_message (signed posts and digests), capstone/member
                         (one chat member, a node), capstone/relay (the broker on the
                         simulator), capstone/campaign and capstone/chat_checks (a fault
                         campaign and its checker); capstone/credentials,
                         capstone/secure_broker (mutual TLS + tokens), capstone/state_file,
                         capstone/process_host, capstone/terminal, capstone/process_runs and
                         capstone/__main__ (the same member as a real process)
== ===================== ==============================================================
"""
