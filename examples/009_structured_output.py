"""Structured output: the answer as a validated pydantic object, rendered while it streams.

    export OPENAI_API_KEY=...            # or ANTHROPIC_API_KEY with TYLER_EXAMPLE_MODEL=anthropic/claude-...
    python examples/009_structured_output.py "Plan a two-day trip to Lisbon"

The partial JSON arrives as LLM_STREAM_CHUNK events (OpenAI's json_schema mode, or Anthropic's
output tool); EXECUTION_COMPLETE carries the validated object. An answer that does not validate
is sent back to the model with the errors (STRUCTURED_OUTPUT_INVALID), up to RetryConfig.max_retries.
The model is $TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import os
import sys

from pydantic import BaseModel, Field

from tyler import Agent, EventType, Message, RetryConfig, Thread

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")


class Day(BaseModel):
    title: str
    activities: list[str] = Field(min_length=1)


class TripPlan(BaseModel):
    """A short travel plan."""

    city: str
    days: list[Day] = Field(min_length=1)
    budget_eur: int = Field(gt=0)


async def main(request: str) -> None:
    agent = Agent(
        name="trip-planner",
        model_name=MODEL,
        purpose="To plan short trips",
        response_type=TripPlan,
        retry_config=RetryConfig(max_retries=2),
    )
    thread = Thread()
    thread.add_message(Message(role="user", content=request))

    written = 0
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            written += len(event.data["content_chunk"])
            print(f"\r✍️  {written} characters of JSON", end="", flush=True)
        elif event.type == EventType.STRUCTURED_OUTPUT_INVALID:
            print(f"\n⚠️  attempt {event.data['attempt']} did not validate; asking again")
            written = 0
        elif event.type == EventType.EXECUTION_ERROR:
            print(f"\n💥 {event.data['error_type']}: {event.data['message']}")
            raise SystemExit(1)
        elif event.type == EventType.EXECUTION_COMPLETE:
            plan: TripPlan = event.data["structured_data"]
            print(f"\n\n🗺️  {plan.city} — budget {plan.budget_eur} EUR")
            for number, day in enumerate(plan.days, 1):
                print(f"  Day {number}: {day.title}: {', '.join(day.activities)}")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "Plan a two-day trip to Lisbon"))
