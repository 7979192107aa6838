"""Workspace confinement against another process swapping path components for symlinks (item 5).

A racer process keeps replacing the folder `a` of the workspace with a symlink to a folder
outside it and back. Whatever the timing, no file tool may read, list, search or write
anything outside the workspace: every component is opened relative to a descriptor already
checked, so there is no window between a check and a use.
"""

from __future__ import annotations

import asyncio
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
