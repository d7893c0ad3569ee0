"""What travels on the wire: frames around messages, the CBOR codec and its byte-by-byte
explainer, and typed, versioned envelopes (chapters 01 and 02)."""
