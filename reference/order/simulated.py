"""Histories from a simulated concurrent object, linearizable by construction.

Theory of operation
-------------------
To try the checker on histories of any size we play a correct shared
object. Each client calls one operation after another: a call lasts a
random time, then the client thinks a little before the next. Every
operation takes effect at one random instant inside its call, and the
outputs are computed by running the model's `apply` over the operations
in the order of those instants. So the history is linearizable, and the
order of the instants is a witness.

With `timeout_chance`, a call instead never returns: its client gives up
at the end of the call and moves on, and the operation takes effect at a
random instant after its call (possibly long after) or, half the time,
never. It is recorded as pending (`timed_out`), as a real client would.

Everything random comes from one `random.Random(seed)`: the same seed
gives the same history.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import Any

from reference.order.history import Operation, timed_out
from reference.order.models import DeterministicModel


def simulated_history(
    model: DeterministicModel,
    make_input: Callable[[random.Random], Any],
    *,
    seed: int,
    clients: int = 3,
    operations: int = 10,
    timeout_chance: float = 0.0,
    longest_call: float = 2.0,
) -> list[Operation]:
    """`operations` calls by `clients` clients, in call order; inputs from `make_input(rng)`."""
    rng = random.Random(seed)
    free_at = {f"c{number}": rng.uniform(0.0, 1.0) for number in range(clients)}
    calls: list[tuple[Hashable, Any, float, float, float | None]] = []
    for _ in range(operations):
        client = min(free_at, key=free_at.__getitem__)
        call = free_at[client]
        ret = call + rng.uniform(0.1, longest_call)
        if rng.random() < timeout_chance:
            effect = rng.uniform(call, ret + 5 * longest_call) if rng.random() < 0.5 else None
            calls.append((client, make_input(rng), call, effect, None))
        else:
            calls.append((client, make_input(rng), call, rng.uniform(call, ret), ret))
        free_at[client] = ret + rng.uniform(0.0, 0.5)
    outputs = _run_in_effect_order(model, calls)
    history = []
    for index, (client, input, call, _, ret) in enumerate(calls):
        if ret is None:
            history.append(timed_out(client, input, call))
        else:
            history.append(Operation(client, input, call, outputs[index], ret))
    return history


def _run_in_effect_order(model: DeterministicModel, calls: list) -> dict[int, Any]:
    """Each operation's output, applying those that take effect in the order they do."""
    taking_effect = sorted(
        (effect, index) for index, (*_, effect, _) in enumerate(calls) if effect is not None
    )
    state = model.init()
    outputs = {}
    for _, index in taking_effect:
        outputs[index], state = model.apply(state, calls[index][1])
    return outputs
