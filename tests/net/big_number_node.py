"""A node for the UDP runtime's command-line tests: it keeps an integer too long to print.

    python -m reference.net.udp n tests.net.big_number_node:BigNumberNode --idle 0.1

Python refuses to write an integer of over 4,300 digits in decimal, so a
storage dump that calls `json.dumps` on it fails unless it converts it first.
"""

from __future__ import annotations

from reference.net.node import Node

BIG_NUMBER = 10**5000  # 5,001 digits


class BigNumberNode(Node):
    def on_start(self) -> None:
        self.ctx.storage["big"] = BIG_NUMBER
        self.ctx.set_timer(0.0, "done")  # one event, so that --idle starts counting
