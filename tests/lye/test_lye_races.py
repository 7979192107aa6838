"""Workspace confinement against another process swapping path components for symlinks (item 5).

Deterministic: an audit hook swaps the folder `a` for a symlink to a folder outside at the
exact moment the tool opens (or lists) what is inside `a` -- after any check an implementation
could have made, just before the use. Then statistical: a racer process keeps replacing `a`
with a symlink to a folder outside and back. Whatever the timing, no file tool may read, list,
search or write anything outside the workspace: every component is opened relative to a
descriptor already checked, so there is no window between a check and a use.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lye import LyeError, make_files_tools

RACER = """
import os, sys
ws, out = sys.argv[1], sys.argv[2]
a, real = os.path.join(ws, "a"), os.path.join(ws, "a_real")
print("ready", flush=True)
while True:
    os.rename(a, real)
    os.symlink(out, a)
    os.unlink(a)
    os.rename(real, a)
"""

TRIES = 1500


@pytest.fixture()
def racing(tmp_path: Path) -> Iterator[Path]:
    ws, out = tmp_path / "ws", tmp_path / "out"
    (ws / "a").mkdir(parents=True)
    out.mkdir()
    (ws / "a" / "f.txt").write_text("inside")
    (out / "f.txt").write_text("SECRET")
    for number in range(40):  # a longer walk: more chances for a swap between a check and an open
        (ws / "a" / f"g{number:02d}.txt").write_text("inside")
        (out / f"g{number:02d}.txt").write_text("SECRET")
    (out / "secret_name.txt").write_text("SECRET")
    racer = subprocess.Popen([sys.executable, "-c", RACER, str(ws), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
        yield ws
    finally:
        racer.kill()
        racer.wait()


async def _try(call: Any) -> str:
    try:
        return str(await call)
    except (LyeError, OSError) as exc:  # the folder is missing half of the time: fine
        return f"error: {exc}"


@pytest.mark.parametrize("tool", ["files-read", "files-search", "files-list", "files-write"])
async def test_swapped_components_never_lead_outside(racing: Path, tool: str) -> None:
    impl = {t["definition"]["function"]["name"]: t["implementation"] for t in make_files_tools(racing)}[tool]
    args: dict[str, Any] = {
        "files-read": {"path": "a/f.txt"},
        "files-search": {"query": "e", "path": "."},
        "files-list": {"path": "a"},
        "files-write": {"path": "a/new.txt", "content": "written"},
    }[tool]
    out = racing.parent / "out"
    seen_inside = 0
    for _ in range(TRIES):
        answer = await _try(impl(**args))
        assert "SECRET" not in answer and "secret_name" not in answer, answer
        seen_inside += "inside" in answer or "f.txt" in answer or "Wrote" in answer
    assert not (out / "new.txt").exists(), "files-write created a file outside the workspace"
    assert seen_inside > 0  # the tool did work during the race, it did not just fail every time
    await asyncio.sleep(0)


# The swap happens inside the tool's own process, from an audit hook (sys.addaudithook), on the
# first event that uses what is inside `a`: the final open of the file (read, write, search) or
# the listing of `a` itself (list: by path, or by descriptor). Hooks cannot be removed, so each
# case runs in its own interpreter.
SWAPPER = """
import asyncio, json, os, sys
ws, out, tool, event_names, wanted = sys.argv[1:6]
args = json.loads(sys.argv[6])
from lye import LyeError, make_files_tools
swapped = []
armed = False

def hook(event, event_args):
    if not armed or swapped or event not in event_names.split(","):
        return
    target = event_args[0] if event_args else None
    if isinstance(target, int):
        name = "<descriptor>"
    elif isinstance(target, (str, bytes, os.PathLike)):
        name = os.path.basename(os.fsdecode(target))
    else:
        return
    if name not in wanted.split(","):
        return
    swapped.append(f"{event} {target!r}")
    os.rename(os.path.join(ws, "a"), os.path.join(ws, "a_real"))
    os.symlink(out, os.path.join(ws, "a"))

sys.addaudithook(hook)
impl = {t["definition"]["function"]["name"]: t["implementation"] for t in make_files_tools(ws)}[tool]
armed = True
try:
    answer = str(asyncio.run(impl(**args)))
except (LyeError, OSError) as exc:
    answer = f"error: {exc}"
print(json.dumps({"answer": answer, "swapped": swapped}))
"""

SWAP_CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # tool: (audit events, names that trigger the swap, arguments)
    "files-read": ("open", "f.txt", {"path": "a/f.txt"}),
    "files-write": ("open", "new.txt", {"path": "a/new.txt", "content": "written"}),
    "files-search": ("open", "f.txt", {"query": "e", "path": "."}),
    "files-list": ("os.scandir,os.listdir", "a,<descriptor>", {"path": "a"}),
}


@pytest.mark.parametrize("tool", sorted(SWAP_CASES))
def test_a_component_swapped_between_check_and_use_never_leads_outside(tmp_path: Path, tool: str) -> None:
    ws, out = tmp_path / "ws", tmp_path / "out"
    (ws / "a").mkdir(parents=True)
    out.mkdir()
    (ws / "a" / "f.txt").write_text("inside")
    (out / "f.txt").write_text("SECRET")
    (out / "secret_name.txt").write_text("SECRET")
    events, wanted, args = SWAP_CASES[tool]
    done = subprocess.run(
        [sys.executable, "-c", SWAPPER, str(ws), str(out), tool, events, wanted, json.dumps(args)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["swapped"], f"the tool never reached the moment of use: {result}"
    assert (ws / "a").is_symlink()  # the swap really happened before the use
    answer = result["answer"]
    assert "SECRET" not in answer and "secret_name" not in answer, answer
    assert not (out / "new.txt").exists(), "files-write created a file outside the workspace"
    if tool == "files-write":
        assert (ws / "a_real" / "new.txt").read_text() == "written"  # where `a` was when it was opened
    else:
        assert "inside" in answer or "f.txt" in answer, answer
