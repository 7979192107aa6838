"""What context-window management costs per model turn (issue 13).

    python bench/context_cost.py            # estimate (hosted models) only
    python bench/context_cost.py --local    # also the embedded model's /tokenize

Times `ContextPolicy.plan()` (what the run loop calls before every model request) for threads of
several lengths: "cold" counts every message, "turn" is the steady state of a conversation, where
one new user message and one new reply are counted and the rest come from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from tyler import Message, Thread
from tyler.context import ContextPolicy
from tyler.providers.base import ModelSettings

_TEXT = "Tell me about the history of the city, its food and its people. " * 6


def _thread(messages: int) -> Thread:
    thread = Thread()
    for i in range(messages):
        thread.add_message(Message(role="user" if i % 2 == 0 else "assistant", content=f"{i} {_TEXT}"))
    return thread


async def _time_plan(provider: object, model: str, window: int, sizes: tuple[int, ...], rounds: int) -> None:
    settings = ModelSettings(max_tokens=256)
    for size in sizes:
        cold, turn = [], []
        for _ in range(rounds):
            policy = ContextPolicy(model, "trim", window)
            thread = _thread(size)
            started = time.perf_counter()
            await policy.plan(provider, thread, "You are helpful.", [], settings)
            cold.append(time.perf_counter() - started)
            thread.add_message(Message(role="assistant", content=_TEXT))
            thread.add_message(Message(role="user", content=_TEXT))
            started = time.perf_counter()
            plan = await policy.plan(provider, thread, "You are helpful.", [], settings)
            turn.append(time.perf_counter() - started)
        print(
            f"{model:14} {size:4} messages  cold {statistics.median(cold) * 1000:8.3f} ms"
            f"  per turn {statistics.median(turn) * 1000:8.3f} ms  (sent {len(plan.messages)}, omitted {plan.omitted})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--local", action="store_true", help="also time the local model's tokenizer")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    await _time_plan(object(), "gpt-4o", 8_000, (20, 200, 1000), args.rounds)
    if args.local:
        from tyler.providers import resolve_provider

        provider = resolve_provider("local/smollm2")
        await provider.context_info()  # type: ignore[attr-defined]  # load the model outside the timing
        await _time_plan(provider, "local/smollm2", 4096, (20, 200), max(3, args.rounds // 4))


if __name__ == "__main__":
    asyncio.run(main())
