"""Routing (chapter 05): NATS subjects and their index, the protocol's sans-I/O parser, a broker
and a client that speak the NATS client protocol, and on the node model a distance-vector router
and gossip broadcast."""
