"""``report.html``: one self-contained page a person reads after ``hwq flow`` (offline, PNGs embedded).

``write_report(path, summary, graphs, ...)`` renders whatever the summary holds, in this order:

1. the verification table (every target: vectors, mismatches, tool, status) — the claim everything
   else rests on;
2. accuracy (float model, and each target's chosen configuration);
3. the Pareto fronts (one plot per target, the chosen point circled) with the rule that chose it;
4. per target: per-layer formats and costs, the estimate beside the synthesised or measured figure;
5. per-layer value histograms against each tensor's format range (where values clip, where bits are
   unused), from the interpreter on real inputs;
6. links to the generated projects.

Sections whose data is missing are left out, so the same writer serves ``hwq flow`` with one target or
all three. The page carries a small script that marks ``<body data-images-ok="N/M">`` once loaded, so
a headless browser can check that every embedded plot decoded.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

import hwq
from hwq.io import atomic_write

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}"
    "h1{font-size:1.6em}h2{border-bottom:2px solid #3b6ea5;padding-bottom:2px;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:0.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "font-size:0.88em;text-align:left;vertical-align:top}th{background:#eef2f7}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}.ok{color:#16702e;font-weight:bold}.bad{color:#b00020;font-weight:bold}"
    ".muted{color:#777}figure{display:inline-block;margin:0.5em 1em 1em 0;vertical-align:top}"
    "figcaption{font-size:0.85em;color:#444;max-width:520px}code{background:#f4f4f4;padding:0 3px}"
)

_CHECK_SCRIPT = (
    "<script>window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
    "document.body.setAttribute('data-images-ok',ok+'/'+im.length);});</script>"
)


def _esc(v) -> str:
    return html.escape(str(v))


def _fmt(value) -> str:
    """A figure for a table cell: thousands separators, floats to 4 significant digits."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def table(headers: list[str], rows: list[list], numeric: set[int] | None = None) -> str:
    """An HTML table; columns listed in ``numeric`` are right-aligned figures."""
    numeric = numeric or set()
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            raw = c if isinstance(c, _Html) else _esc(_fmt(c))
            cls = " class='num'" if i in numeric else ""
            cells.append(f"<td{cls}>{raw}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Html(str):
    """A table cell that is already HTML (not escaped again)."""


def png_data_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png`` URI (deterministic: no timestamp metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def file_data_uri(path) -> str | None:
    """A PNG file as a data URI (None when it does not exist)."""
    p = Path(path)
    if not p.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()


def _figure(uri: str, caption: str, show_caption: bool = True) -> str:
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if show_caption else ""
    return f"<figure><img src='{uri}' alt='{_esc(caption)}'>{cap}</figure>"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def value_histograms(graph, inputs: np.ndarray, max_plots: int = 12) -> list[tuple[str, str, dict]]:
    """Per tensor: (title, PNG data URI, figures) of its raw values on ``inputs`` against its format range.

    inputs: float samples (batch first) quantised with the graph's input format, or raw integers.
    figures: ``clipped`` (fraction of values at the format's min or max: saturation, or range used to the
    end), ``unused_msbs`` (integer bits never reached), ``values``. Minifloat tensors are plotted on their
    real values. Layout ops (flatten, reshape) are skipped: they repeat their input.
    """
    from hwq.ir import run

    plt = _plt()
    res = run(graph, inputs, trace=True)
    out = []
    for t in graph.tensors.values():
        prod = graph.producer(t.name)
        if prod is not None and prod.kind in ("flatten", "reshape"):
            continue
        if t.name not in res.raw:
            continue
        raw = np.asarray(res.raw[t.name]).astype(np.float64).ravel()
        lo, hi = getattr(t.fmt, "raw_min", None), getattr(t.fmt, "raw_max", None)
        if lo is None or raw.size == 0:
            continue
        lo, hi = float(lo), float(hi)
        # values at a range end that is not zero (an unsigned format's 0 is ReLU's floor, not saturation)
        at_edge = float(np.mean(((raw <= lo) & (lo != 0)) | ((raw >= hi) & (hi != 0))))
        span = max(abs(raw.min()), abs(raw.max()), 1.0)
        full = max(abs(lo), abs(hi), 1.0)
        unused = max(int(np.floor(np.log2(full))) - int(np.floor(np.log2(span))), 0)
        fig, ax = plt.subplots(figsize=(4.6, 2.4))
        ax.hist(raw, bins=min(64, max(8, int(hi - lo + 1) if hi - lo < 64 else 64)), color="#3b6ea5")
        ax.axvline(lo, color="#b00020", lw=1)
        ax.axvline(hi, color="#b00020", lw=1)
        title = f"{t.name}: {t.fmt}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("raw value (red: format range)", fontsize=8)
        ax.tick_params(labelsize=7)
        out.append((title, png_data_uri(fig), {"at_range_ends": at_edge, "unused_msbs": unused, "values": raw.size}))
        plt.close(fig)
        if len(out) >= max_plots:
            break
    return out


def _verify_section(verify: dict) -> str:
    rows = []
    for target in ("hls", "rtl", "mcu"):
        v = verify.get(target)
        if not v:
            continue
        ok = v.get("mismatches") == 0 and v.get("vectors", 0) > 0
        status = _Html(f"<span class='{'ok' if ok else 'bad'}'>{'bit-exact' if ok else 'MISMATCH'}</span>")
        tool = v.get("tool") or v.get("simulator") or v.get("target") or ""
        extra = ", ".join(
            f"{k} {_fmt(v[k])}"
            for k in ("latency_cycles", "cycles_per_vector", "instructions", "build_s", "vectors_per_s")
            if v.get(k) is not None
        )
        rows.append([target, v.get("vectors"), v.get("mismatches"), tool, status, extra])
        for sub, sv in (v.get("also") or {}).items():
            ok = sv.get("mismatches") == 0 and sv.get("vectors", 0) > 0
            st = _Html(f"<span class='{'ok' if ok else 'bad'}'>{'bit-exact' if ok else 'MISMATCH'}</span>")
            rows.append([f"{target} ({sub})", sv.get("vectors"), sv.get("mismatches"), sub, st, ""])
    if not rows:
        return ""
    return "<h2>Verification against the golden interpreter</h2>" + table(
        ["target", "vectors", "mismatches", "tool", "status", "figures"], rows, {1, 2}
    )


def _accuracy_section(summary: dict) -> str:
    acc = summary.get("accuracy") or {}
    rows = [[k, v] for k, v in acc.items() if isinstance(v, (int, float))]
    for name, t in (summary.get("targets") or {}).items():
        if isinstance(t, dict) and t.get("accuracy") is not None:
            rows.append([f"{name}: chosen point ({t.get('label', '')})", t["accuracy"]])
    if not rows:
        return ""
    return "<h2>Accuracy (percent, test split)</h2>" + table(["model", "accuracy"], rows, {1})


def _pareto_section(summary: dict, pareto_pngs: dict) -> str:
    parts = []
    pareto = summary.get("pareto") or {}
    if isinstance(pareto, list):
        pareto = {"": pareto}
    for target, points in pareto.items():
        if not points and target not in pareto_pngs:
            continue
        parts.append(f"<h3>{_esc(target or 'front')}</h3>")
        uri = file_data_uri(pareto_pngs[target]) if target in pareto_pngs else None
        if uri:
            parts.append(_figure(uri, f"Pareto front, {target}: accuracy against cost; the chosen point is circled"))
        rule = (summary.get("targets") or {}).get(target, {}).get("rule")
        if rule:
            parts.append(f"<p>Chosen by: {_esc(rule)}</p>")
        if points:
            cost_keys = sorted({k for p in points for k in (p.get("cost") or {})})
            rows = [
                [p.get("label", i), p.get("accuracy")] + [(p.get("cost") or {}).get(k) for k in cost_keys]
                + [_Html("<b>chosen</b>") if p.get("chosen") else ""]
                for i, p in enumerate(points)
            ]  # fmt: skip
            parts.append(table(["point", "accuracy"] + cost_keys + [""], rows, set(range(1, len(cost_keys) + 2))))
    if not parts:
        return ""
    return "<h2>Pareto fronts</h2>" + "".join(parts)


def _layers_section(summary: dict) -> str:
    parts = []
    for target, layers in (summary.get("layers") or {}).items():
        if not layers:
            continue
        keys = [k for k in layers[0] if k not in ("layer", "op", "format")]
        rows = [[r.get("layer"), r.get("op"), r.get("format")] + [r.get(k) for k in keys] for r in layers]
        parts.append(f"<h3>{_esc(target)}</h3>")
        parts.append(table(["layer", "op", "format"] + keys, rows, set(range(3, 3 + len(keys)))))
    if not parts:
        return ""
    return "<h2>Per-layer formats and costs (estimate beside measured)</h2>" + "".join(parts)


def _cost_section(summary: dict) -> str:
    cost = summary.get("cost") or {}
    rows = []
    for target, c in cost.items():
        if not isinstance(c, dict):
            continue
        est = c.get("estimate", c)
        meas = c.get("measured") or {}
        for k, v in est.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows.append([target, k, v, meas.get(k)])
    if not rows:
        return ""
    return "<h2>Cost: estimate and measurement</h2>" + table(["target", "figure", "estimate", "measured"], rows, {2, 3})


def _links_section(links: dict) -> str:
    if not links:
        return ""
    items = "".join(f"<li><a href='{_esc(href)}'>{_esc(label)}</a></li>" for label, href in links.items())
    return f"<h2>Generated projects</h2><ul>{items}</ul>"


def write_report(
    path,
    summary: dict,
    graph=None,
    *,
    histograms: list[tuple[str, str, dict]] | None = None,
    pareto_pngs: dict | None = None,
    links: dict | None = None,
    command: str | None = None,
) -> None:
    """Write the flow report (see the module docstring). Atomic; one self-contained HTML file.

    summary: the flow's summary dict (keys ``verify``, ``accuracy``, ``pareto``, ``targets``, ``layers``,
    ``cost`` are read when present); graph: the IR of the main configuration (named in the title);
    histograms: from ``value_histograms``; pareto_pngs: target -> PNG path; links: label -> relative href.
    """
    name = graph.name if graph is not None else summary.get("name", "model")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>hwq report: {_esc(name)}</title><style>{_STYLE}</style>{_CHECK_SCRIPT}</head><body>",
        f"<h1>hwq report: {_esc(name)}</h1>",
        f"<p class='muted'>hwq {_esc(hwq.__version__)}" + (f" &middot; <code>{_esc(command)}</code>" if command else "")
        + "</p>",
        _verify_section(summary.get("verify") or {}),
        _accuracy_section(summary),
        _pareto_section(summary, pareto_pngs or {}),
        _layers_section(summary),
        _cost_section(summary),
    ]  # fmt: skip
    if histograms:
        parts.append(
            "<h2>Values against each format's range</h2><p>Raw values of every tensor on test inputs (interpreter); "
            "red lines mark the format's range. Values at the lines saturate or use the range to its end; a gap "
            "between the values and the lines is integer bits never used.</p>"
        )
        rows = [[t, f["values"], f"{100 * f['at_range_ends']:.2f} %", f["unused_msbs"]] for t, _, f in histograms]
        parts.append(table(["tensor: format", "values", "at range ends", "unused integer bits"], rows, {1, 2, 3}))
        parts.extend(_figure(uri, title, show_caption=False) for title, uri, _ in histograms)
    parts.append(_links_section(links or {}))
    parts.append("</body></html>\n")
    atomic_write(path, "".join(parts))
