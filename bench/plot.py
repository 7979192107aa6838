"""Draw bench/results/plot.png from results.json. Run in the `report` venv (it has matplotlib):

    bench/.venvs/report/bin/python bench/plot.py bench/results/results.json bench/results/plot.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _bars(ax, fig: dict, title: str, unit: str) -> None:
    labels, med, lo, hi = [], [], [], []
    for label, e in fig["contenders"].items():
        if e.get("median") is None:
            continue
        labels.append(label)
        med.append(e["median"])
        lo.append(e["median"] - e["min"])
        hi.append(e["max"] - e["median"])
    colors = ["#2a9d8f" if lab.startswith("ours") else "#999999" if lab == "floor" else "#e76f51" for lab in labels]
    ax.barh(labels, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(unit)
    ax.invert_yaxis()
    if med and max(med) / max(min(med), 1e-9) > 30:
        ax.set_xscale("log")


SWEEP_PANELS = (
    ("added_gap_p99_ms", "3. p99 added inter-chunk gap vs concurrent streams", "ms", 1.0),
    ("rss_per_stream_kb", "3. RSS per stream vs concurrent streams", "KB", 1.0),
    ("delivery_ratio", "3. throughput vs concurrent streams", "% of the schedule's", 100.0),
)


def _sweep(axes: list, fig: dict) -> None:
    for ax, (key, title, unit, scale) in zip(axes, SWEEP_PANELS, strict=True):
        top = low = 0.0
        for label, e in fig["contenders"].items():
            ks = [int(k) for k in e["by_k"]]
            ys = [(e["by_k"][str(k)][key]["median"] or 0) * scale for k in ks]
            top, low = max([top, *ys]), min([low, *ys])
            ax.plot(ks, ys, "-" if label.startswith("ours") else "--", marker="o", label=label)
        ax.set_xscale("log")
        if key == "delivery_ratio":
            ax.axhline(95, color="red", linewidth=0.8)
            ax.set_ylim(0, 105)
        else:
            ax.set_yscale("symlog", linthresh=1)
            # Headroom above the highest point (autoscaling put it on the frame, half cut off), and
            # room below 0: a client that falls behind reads in bursts, so its p99 gap can be < 0.
            ax.set_ylim(low * 3, max(top, 10) * 3)
        if key == "added_gap_p99_ms":
            ax.axhline(10, color="red", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("K concurrent streams")
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)


def _store(ax, fig: dict) -> None:
    data = fig.get("data") or {}
    names = {"ours": "ours", "tyler640": "Tyler 6.4.0"}
    for row in data.get("rows", []):
        save = row.get("save") or {}
        ns = sorted(int(n) for n in save if save[n] is not None)
        if not ns:
            continue
        style = "-" if row.get("impl") == "ours" else "--"
        label = f"{names.get(row.get('impl'), row.get('impl'))} {row.get('backend')} {row.get('mode')}"
        ax.plot(ns, [save[str(n)] * 1000 for n in ns], style, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("6. Thread store: per-save cost vs thread length", fontsize=10)
    ax.set_xlabel("messages in thread")
    ax.set_ylabel("ms per save")
    ax.legend(fontsize=7)


def main(src: str, dst: str) -> None:
    with open(src) as fh:
        res = json.load(fh)
    figs = res["figures"]
    fig, axes = plt.subplots(5, 2, figsize=(13, 21))
    m = res["meta"]
    fig.suptitle(f"Benchmarks {m['date'][:10]} — {m['cores']} cores, Python {m['python'].split()[0]}"
                 + (" (--quick smoke)" if m["quick"] else ""), fontsize=12)
    if "fig1" in figs:
        _bars(axes[0][0], figs["fig1"], "1. CPU per streamed chunk", "µs/chunk")
    if "fig2" in figs:
        _bars(axes[0][1], figs["fig2"], "2. Server first byte → first content event", "ms")
    if "fig3" in figs:
        _sweep([axes[1][0], axes[1][1], axes[4][0]], figs["fig3"])
    if "fig4" in figs:
        _bars(axes[2][0], figs["fig4"], "4. Tool round trip (wall − server)", "ms")
    if "fig5" in figs:
        f5 = {"contenders": {k: v["import_s"] for k, v in figs["fig5"]["contenders"].items()}}
        _bars(axes[2][1], f5, "5. import wall time", "s")
    if "fig5" in figs:
        f5 = {"contenders": {k: v["import_rss_mb"] for k, v in figs["fig5"]["contenders"].items()}}
        _bars(axes[3][1], f5, "5. import peak RSS", "MB")
        f5 = {"contenders": {k: {"median": v["installed_mb"], "min": v["installed_mb"], "max": v["installed_mb"]}
                             for k, v in figs["fig5"]["contenders"].items()}}
        _bars(axes[4][1], f5, "5. installed size (the distribution and what it requires)", "MB")
    if "fig6" in figs:
        _store(axes[3][0], figs["fig6"])
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
