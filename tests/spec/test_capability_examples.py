"""examples/009 (structured output) and 010 (delegation), run as scripts against the fake server."""

from __future__ import annotations

import json
import re

from spec_support import REPO, run_script

from tyler.testing import FakeModelServer, FakeToolCall, Turn

EXAMPLES = REPO / "examples"
PLAN = {"city": "Lisbon", "days": [{"title": "Old town", "activities": ["Alfama", "Tram 28"]},
                                    {"title": "Belém", "activities": ["Tower", "Pastéis"]}], "budget_eur": 400}


def test_009_structured_output_retries_then_prints_the_plan(fake: FakeModelServer, tmp_path) -> None:
    fake.enqueue(Turn(text=json.dumps({**PLAN, "budget_eur": 0})), Turn(text=json.dumps(PLAN)))
    out = run_script(EXAMPLES / "009_structured_output.py", fake, tmp_path, "Lisbon", "trip").stdout
    assert "⚠️  attempt 1 did not validate; asking again" in out
    assert out.splitlines()[-3:] == [
        "🗺️  Lisbon — budget 400 EUR",
        "  Day 1: Old town: Alfama, Tram 28",
        "  Day 2: Belém: Tower, Pastéis",
    ]
    assert fake.requests[0].body["response_format"]["json_schema"]["name"] == "TripPlan"
    assert "greater than 0" in fake.requests[1].messages[-1]["content"]


def test_009_on_anthropic_uses_the_output_tool(fake: FakeModelServer, tmp_path) -> None:
    fake.enqueue(Turn(tool_calls=[FakeToolCall("final_result", PLAN)]))
    out = run_script(EXAMPLES / "009_structured_output.py", fake, tmp_path,
                     TYLER_EXAMPLE_MODEL="anthropic/claude-sonnet-4-5").stdout
    assert "🗺️  Lisbon — budget 400 EUR" in out
    assert fake.requests[0].body["tool_choice"] == {"type": "tool", "name": "final_result"}


def test_010_delegation_shows_children_nested(fake: FakeModelServer, tmp_path) -> None:
    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "Facts on bicycles"})]),
        Turn(text="Invented 1817 by Drais."),
        Turn(tool_calls=[FakeToolCall("writer", {"task": "Write it up: invented 1817 by Drais."})]),
        Turn(text="The bicycle began in 1817."),
        Turn(text="Here it is: the bicycle began in 1817."),
    )
    out = run_script(EXAMPLES / "010_delegation.py", fake, tmp_path).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[:5] == [
        "→ lead asks researcher: Facts on bicycles",
        "    [researcher] Invented 1817 by Drais.",
        "→ lead asks writer: Write it up: invented 1817 by Drais.",
        "    [writer] The bicycle began in 1817.",
        "[lead] Here it is: the bicycle began in 1817.",
    ]
    assert re.fullmatch(r"📊 \d+ tokens \(lead only\) in \d+ ms", lines[-1])


def test_examples_report_a_failed_model_call_in_one_line(fake: FakeModelServer, tmp_path) -> None:
    import subprocess
    import sys

    from spec_support import program_env

    for name in ("009_structured_output.py", "010_delegation.py"):
        fake.enqueue(Turn(status=401, error_message="Incorrect API key provided"))
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=program_env(fake),
            capture_output=True, text=True, encoding="utf-8", timeout=60, check=False,
        )
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        assert proc.returncode == 1 and "Incorrect API key" in proc.stdout, (name, proc.stdout, proc.stderr)
