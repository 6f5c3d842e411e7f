"""``report.html``: one self-contained page a person reads after ``hwq flow`` (tables + embedded plots)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

import hwq
from hwq.io import atomic_write


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value) -> str:
    """A figure for a table cell: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(graph) -> list[tuple[str, str]]:
    """(caption, data-URI) pairs: tensor widths, and the CSD digit histogram of the weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwq.cost import csd_digit_count

    out = []
    names = list(graph.tensors)
    widths = [getattr(graph.tensors[n].fmt, "width", 0) for n in names]
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(names) + 2), 2.8))
    ax.bar(range(len(names)), widths, color="#3b6ea5")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("bits")
    ax.set_title("Width of every tensor")
    out.append(("Tensor widths (bits) in graph order", _png_data_uri(fig)))
    plt.close(fig)

    digits = [
        csd_digit_count(op.weight).ravel()
        for op in graph.ops
        if isinstance(getattr(op, "weight", None), np.ndarray) and op.weight.dtype != object
    ]
    if digits:
        d = np.concatenate(digits)
        fig, ax = plt.subplots(figsize=(4.5, 2.8))
        ax.hist(d, bins=np.arange(d.max() + 2) - 0.5, color="#a5583b")
        ax.set_xticks(range(int(d.max()) + 1))
        ax.set_xlabel("non-zero CSD digits per weight (a product costs digits - 1 adders)")
        ax.set_ylabel("weights")
        ax.set_title("Signed digits of the constant weights")
        out.append(("CSD digits per weight (all layers)", _png_data_uri(fig)))
        plt.close(fig)
    return out


def write_report(path, summary: dict, graph) -> None:
    """Write the flow report: accuracy, verification, formats, cost, plots. Atomic; self-contained HTML."""
    acc = summary.get("accuracy", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>hwq report</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:0.9em;text-align:left}th{background:#f0f0f0}.ok{color:#16702e;font-weight:bold}"
        ".bad{color:#b00020;font-weight:bold}</style></head><body>",
        f"<h1>hwq report: {html.escape(graph.name)}</h1><p>hwq {hwq.__version__}</p>",
        "<h2>Accuracy</h2>",
        _table(["", "value"], [[k, _fmt(v)] for k, v in acc.items()]),
        "<h2>Verification against the golden interpreter</h2>",
    ]
    rows = []
    for target, v in summary.get("verify", {}).items():
        if not v:
            continue
        status = "bit-exact" if v["mismatches"] == 0 and v["vectors"] > 0 else "MISMATCH"
        extra = ", ".join(f"{k}={_fmt(v[k])}" for k in v if k not in ("vectors", "mismatches") and v[k] != [])
        rows.append([target, v["vectors"], v["mismatches"], status, extra])
    parts.append(_table(["target", "vectors", "mismatches", "status", "figures"], rows))
    parts.append("<h2>Tensors and formats</h2>")
    trows = []
    for t in graph.tensors.values():
        prod = graph.producer(t.name)
        trows.append([t.name, prod.kind if prod else "input", "x".join(map(str, t.shape)), str(t.fmt)])
    parts.append(_table(["tensor", "produced by", "shape", "format"], trows))
    cost = summary.get("cost") or {}
    if cost.get("fpga"):
        f = cost["fpga"]
        parts.append("<h2>Cost estimate</h2>")
        parts.append(
            _table(
                ["", "value"],
                [[k, v] for k, v in f.items() if k != "per_op"] + [[f"mcu {k}", v] for k, v in cost["mcu"].items()],
            )
        )
    for caption, uri in _plots(graph):
        parts.append(
            f"<figure><img src='{uri}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
            "</figcaption></figure>"
        )
    parts.append("</body></html>\n")
    atomic_write(path, "".join(parts))
