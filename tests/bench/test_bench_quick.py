"""The benchmark suite works: `python bench/run.py --quick` produces every figure.

Speeds are never asserted here (performance checks live in bench/ itself); this checks that every
figure, every contender and every output file is produced. The first run builds the contenders'
venvs under bench/.venvs/ (a few minutes); later runs reuse them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"
sys.path.insert(0, str(REPO / "bench"))

import _report  # noqa: E402
from _harness import stat  # noqa: E402

REFERENCES = ["ref-httpx-raw", "ref-aiohttp-lines", "ref-aiohttp-any", "ref-socket", "ref-socket-uvloop"]
CONTENDERS = [
    "floor", "litellm", "tyler640-events", "tyler640-openai", "tyler640-run", "ours-events", "ours-raw", "ours-go",
    "ours-events-uvloop",
]
STREAMING = [c for c in CONTENDERS if c not in ("tyler640-run", "ours-go")]
SWEEP = STREAMING + ["ref-aiohttp-any", "ref-socket", "ref-socket-uvloop"]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=3000, check=False, cwd=str(REPO),
    )
    log = proc.stdout + proc.stderr
    assert (out / "results.json").exists(), log[-5000:]
    return out, json.loads((out / "results.json").read_text()), log


@pytest.mark.bench
@pytest.mark.timeout(3600)  # first run builds four venvs (Tyler 6.4.0 alone installs ~1.2 GB)
def test_quick_run_produces_every_figure(quick_results):
    out, res, log = quick_results
    assert res["errors"] == {}, (res["errors"], log[-5000:])
    assert set(res["figures"]) == {"fig1", "fig2", "fig3", "fig4", "fig5", "fig6"}, log[-5000:]
    for key in ("date", "cores", "python", "versions"):
        assert res["meta"][key], key
    figs = res["figures"]
    assert sorted(figs["fig1"]["contenders"]) == sorted(CONTENDERS + REFERENCES)
    assert sorted(figs["fig4"]["contenders"]) == sorted(CONTENDERS)  # the reference readers have no tool loop
    for fig in ("fig1", "fig4"):
        for label, entry in figs[fig]["contenders"].items():
            assert entry["median"] is not None and entry["min"] <= entry["median"] <= entry["max"], (fig, label)
            assert entry["ratio_to_floor"] is not None, (fig, label)
    assert sorted(figs["fig2"]["contenders"]) == sorted(STREAMING + REFERENCES)
    assert all(e["median"] is not None for e in figs["fig2"]["contenders"].values())
    sweep = figs["fig3"]
    assert sorted(sweep["contenders"]) == sorted(SWEEP)
    for label, entry in sweep["contenders"].items():
        assert str(sweep["ks"][0]) in entry["by_k"], label
        row = entry["by_k"][str(sweep["ks"][0])]
        assert row["all_chunks_received"], (label, row)
        assert row["throughput_chunks_s"]["median"] > 0
        assert "max_sustained_k" in entry
    assert sorted(figs["fig5"]["contenders"]) == ["floor", "litellm", "ours", "tyler640"]
    for entry in figs["fig5"]["contenders"].values():
        assert entry["import_s"]["median"] > 0 and entry["import_rss_mb"]["median"] > 0
        assert entry["installed_mb"] > 0
    assert figs["fig6"]["data"], "thread store figure is empty"


@pytest.mark.bench
@pytest.mark.timeout(3600)  # first run builds four venvs (Tyler 6.4.0 alone installs ~1.2 GB)
def test_quick_run_writes_table_and_plot(quick_results):
    out, res, _log = quick_results
    md = (out / "results.md").read_text()
    for n in range(1, 7):
        assert f"## {n}. " in md, n
    assert res["meta"]["date"] in md
    assert "Ratios to the floor at the same K" in md and "| venv MB |" in md
    png = (out / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_stat_is_median_with_min_max():
    s = stat([3.0, 1.0, None, 2.0, 10.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 10.0, 4)
    assert stat([None])["median"] is None


def test_targets_read_the_figures():
    res = {
        "figures": {
            "fig1": {"contenders": {
                "floor": {"median": 10.0}, "ours-events": {"median": 16.0},
                "ours-raw": {"median": 12.0}, "tyler640-events": {"median": 100.0},
            }},
            "fig5": {"contenders": {"ours": {"import_s": {"median": 0.2}, "import_rss_mb": {"median": 70.0}}}},
        }
    }
    got = {name: ok for name, _val, ok in _report.targets(res)}
    assert got["events CPU/chunk ≤ 1.5× floor"] is False  # 1.6×
    assert got["events CPU/chunk ≥ 5× less than Tyler 6.4.0"] is True  # 6.25× less
    assert got["raw CPU/chunk ≤ 1.3× floor"] is True
    assert got["import ≤ 0.3 s"] is True
    assert got["import ≤ 60 MB"] is False


def test_sweep_table_gives_ratios_to_the_floor_at_each_k():
    def row(p99: float, peak: float, per: float, cores: float) -> dict:
        return {"added_gap_p99_ms": {"median": p99}, "peak_rss_mb": {"median": peak},
                "rss_per_stream_kb": {"median": per}, "client_cpu_cores": {"median": cores}}

    fig = {"contenders": {
        "floor": {"by_k": {"1": row(1.0, 30.0, 10.0, 0.1), "100": row(2.0, 40.0, 50.0, 0.4)}},
        "ours-events": {"by_k": {"1": row(1.5, 45.0, 20.0, 0.1), "100": row(3.0, 60.0, 0.0, 0.2)}},
    }}
    lines = _report._fig3_ratio_table(fig)
    assert "| ours-events | 1 | ×1.50 | ×1.50 | ×2.00 | ×1.00 |" in lines
    assert "| ours-events | 100 | ×1.50 | ×1.50 | ×0.00 | ×0.50 |" in lines
    assert not any(line.startswith("| floor |") for line in lines)


def test_every_contender_runs_in_a_venv_of_its_own():
    # The issue: each contender in its own virtualenv made by the script. The floor must not borrow
    # ours' (which holds pydantic, sqlalchemy, ...): its venv is httpx only.
    import _venvs
    import run

    family = {c.label.split("-")[0]: c.venv for c in run.CONTENDERS}
    assert family == {"floor": "floor", "litellm": "litellm", "tyler640": "tyler640", "ours": "ours", "ref": "readers"}
    assert all(_venvs.SPECS[c.venv] for c in run.CONTENDERS)
    assert [r.split(">")[0] for r in _venvs.SPECS["floor"].requirements] == ["httpx"]
    assert not _venvs.SPECS["floor"].editable
    assert {c.venv for c in run.CONTENDERS if c.label == "floor"} == {"floor"}


def test_unknown_figure_is_refused():
    proc = subprocess.run(
        [sys.executable, str(RUN), "--only", "fig9"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0 and "unknown figure" in proc.stderr
