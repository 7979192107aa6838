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


def _sweep(ax_gap, ax_rss, fig: dict) -> None:
    for label, e in fig["contenders"].items():
        ks = [int(k) for k in e["by_k"]]
        p99 = [e["by_k"][str(k)]["added_gap_p99_ms"]["median"] for k in ks]
        rss = [e["by_k"][str(k)]["rss_per_stream_kb"]["median"] for k in ks]
        style = "-" if label.startswith("ours") else "--"
        ax_gap.plot(ks, p99, style, marker="o", label=label)
        ax_rss.plot(ks, rss, style, marker="o", label=label)
    ax_gap.axhline(10, color="red", linewidth=0.8)
    for ax, title, unit in (
        (ax_gap, "p99 added inter-chunk gap vs concurrent streams", "ms"),
        (ax_rss, "RSS per stream vs concurrent streams", "KB"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("K concurrent streams")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)


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
    ax.legend(fontsize=6)


def main(src: str, dst: str) -> None:
    with open(src) as fh:
        res = json.load(fh)
    figs = res["figures"]
    fig, axes = plt.subplots(4, 2, figsize=(13, 17))
    m = res["meta"]
    fig.suptitle(f"Benchmarks {m['date'][:10]} — {m['cores']} cores, Python {m['python'].split()[0]}"
                 + (" (--quick smoke)" if m["quick"] else ""), fontsize=12)
    if "fig1" in figs:
        _bars(axes[0][0], figs["fig1"], "1. CPU per streamed chunk", "µs/chunk")
    if "fig2" in figs:
        _bars(axes[0][1], figs["fig2"], "2. Server first byte → first content event", "ms")
    if "fig3" in figs:
        _sweep(axes[1][0], axes[1][1], figs["fig3"])
    if "fig4" in figs:
        _bars(axes[2][0], figs["fig4"], "4. Tool round trip (wall − server)", "ms")
    if "fig5" in figs:
        f5 = {"contenders": {k: v["import_s"] for k, v in figs["fig5"]["contenders"].items()}}
        _bars(axes[2][1], f5, "5. import wall time", "s")
    if "fig5" in figs:
        f5 = {"contenders": {k: v["import_rss_mb"] for k, v in figs["fig5"]["contenders"].items()}}
        _bars(axes[3][1], f5, "5. import peak RSS", "MB")
    if "fig6" in figs:
        _store(axes[3][0], figs["fig6"])
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
