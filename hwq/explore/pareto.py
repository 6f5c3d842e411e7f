"""Pareto dominance, hypervolume, and the outputs of ``hwq explore``: ``pareto.json``, ``pareto.csv``,
``pareto.png`` and the ranked terminal table."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from hwq.io import atomic_write


def nondominated(points: list[tuple[float, ...]]) -> list[bool]:
    """For minimisation vectors: True where no other point is <= in every objective and < in one.
    Equal points are all kept."""
    p = np.asarray(points, dtype=float)
    keep = []
    for i in range(len(p)):
        le = np.all(p <= p[i], axis=1)
        lt = np.any(p < p[i], axis=1)
        keep.append(not bool(np.any(le & lt)))
    return keep


def hypervolume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Hypervolume dominated by minimisation ``points`` up to the reference point ``ref`` (pymoo's HV)."""
    from pymoo.indicators.hv import HV

    p = np.asarray([q for q in points if all(a < b for a, b in zip(q, ref))], dtype=float)
    if len(p) == 0:
        return 0.0
    return float(HV(ref_point=np.asarray(ref, dtype=float))(p))


def _fmt_config(cfg: list[dict]) -> str:
    parts = []
    for c in cfg:
        s = c["weight"]
        if c.get("act") is not None:
            s += f"/a{c['act']}"
        s += f"/r{c['acc']}"
        parts.append(s)
    return " ".join(parts)


def write_json(path, doc: dict) -> None:
    """Write ``doc`` as stable JSON (sorted keys, one-space indent, trailing newline)."""
    atomic_write(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def write_csv(path, points: list[dict], layers: list[str], costs: list[str]) -> None:
    """One row per evaluated point: id, source, baseline, per-layer formats, PTQ validation accuracy,
    QAT test accuracy (refined points), every cost, dominated flags."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["id", "source", "baseline"]
    for n in layers:
        head += [f"{n}.weight", f"{n}.act", f"{n}.acc"]
    head += ["val_accuracy_ptq", "test_accuracy", *costs, *[f"refined_{c}" for c in costs]]
    head += ["dominated_search", "dominated"]
    w.writerow(head)
    for p in points:
        row = [p["id"], "+".join(p["source"]), p.get("baseline") or ""]
        for c in p["config"]:
            row += [c["weight"], "" if c.get("act") is None else c["act"], c["acc"]]
        r = p.get("refined") or {}
        row += [p["val_accuracy"], r.get("test_accuracy", "")]
        row += [p["costs"][c] for c in costs]
        row += [r.get("costs", {}).get(c, "") for c in costs]
        row += [int(p["dominated_search"]), "" if not r else int(r["dominated"])]
        w.writerow(row)
    atomic_write(path, buf.getvalue())


def table(points: list[dict], primary: str, costs: list[str], chosen: str | None, limit: int = 25) -> str:
    """The ranked table of the final front (refined points, non-dominated first, by primary cost)."""
    ref = [p for p in points if p.get("refined")]
    ref.sort(key=lambda p: (p["refined"]["dominated"], p["refined"]["costs"][primary], -p["refined"]["test_accuracy"]))
    lines = [
        f"{'rank':>4}  {'test acc %':>10}  {'ptq val %':>9}  " + "  ".join(f"{c:>12}" for c in costs) + "  formats"
    ]
    for i, p in enumerate(ref[:limit], 1):
        r = p["refined"]
        mark = "*" if p["id"] == chosen else ("F" if not r["dominated"] else " ")
        tag = f"  [{p['baseline']}]" if p.get("baseline") else ""
        lines.append(
            f"{i:>3}{mark}  {r['test_accuracy']:>10.2f}  {p['val_accuracy']:>9.2f}  "
            + "  ".join(f"{r['costs'][c]:>12,.0f}" for c in costs)
            + f"  {_fmt_config(p['config'])}{tag}"
        )
    lines.append("(F: on the final front, *: chosen; formats per layer: weight/a<act bits>/r<result bits>)")
    return "\n".join(lines)


def plot(path, points: list[dict], costs: list[str], chosen: str | None, title: str) -> None:
    """``pareto.png``: accuracy vs each cost (one panel per cost, log x): every PTQ-scored point (grey,
    validation accuracy), the refined points (test accuracy), the final front drawn as a step line,
    uniform baselines marked and labelled, the chosen point circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(costs), figsize=(5.2 * len(costs), 4.2), squeeze=False)
    for ax, c in zip(axes[0], costs):
        xs = [p["costs"][c] for p in points]
        ys = [p["val_accuracy"] for p in points]
        ax.scatter(xs, ys, s=8, c="0.75", label="PTQ candidates (val.)", zorder=1)
        ref = [p for p in points if p.get("refined")]
        fr = sorted((p for p in ref if not p["refined"]["dominated"]), key=lambda p: p["refined"]["costs"][c])
        if fr:
            fx = [p["refined"]["costs"][c] for p in fr]
            fy = np.maximum.accumulate([p["refined"]["test_accuracy"] for p in fr])
            ax.step(fx, fy, where="post", color="C0", lw=1.5, label="front (QAT, test)", zorder=2)
        other = [p for p in ref if not p.get("baseline")]
        ax.scatter(
            [p["refined"]["costs"][c] for p in other],
            [p["refined"]["test_accuracy"] for p in other],
            s=22,
            c="C0",
            label="refined points (test)",
            zorder=3,
        )
        base = [p for p in ref if p.get("baseline")]
        ax.scatter(
            [p["refined"]["costs"][c] for p in base],
            [p["refined"]["test_accuracy"] for p in base],
            marker="s",
            s=30,
            c="C3",
            label="uniform baselines (test)",
            zorder=4,
        )
        for p in base:
            ax.annotate(
                p["baseline"],
                (p["refined"]["costs"][c], p["refined"]["test_accuracy"]),
                fontsize=7,
                xytext=(3, -9),
                textcoords="offset points",
            )
        ch = [p for p in ref if p["id"] == chosen]
        if ch:
            ax.scatter(
                [ch[0]["refined"]["costs"][c]],
                [ch[0]["refined"]["test_accuracy"]],
                s=180,
                facecolors="none",
                edgecolors="k",
                lw=1.5,
                label="chosen",
                zorder=5,
            )
        if min(xs + [1]) > 0:
            ax.set_xscale("log")
        accs = [p["refined"]["test_accuracy"] for p in ref] or ys
        ax.set_ylim(max(0.0, min(accs) - 5), 100.5)
        ax.set_xlabel(c)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write(path, buf.getvalue())
