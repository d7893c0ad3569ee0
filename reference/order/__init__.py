"""Order and consistency (chapter 06): clocks, broadcast, Raft, and a linearizability checker."""
