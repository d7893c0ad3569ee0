"""Security (chapter 07): envelopes with MACs, signatures and AEAD, a key exchange, replay windows, TLS and mutual TLS, bearer tokens, broker permissions, and an adversary on the simulator."""
