"""Tools for debugging distributed algorithms on the simulator: explore, replay, shrink, search."""
