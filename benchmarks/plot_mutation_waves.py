"""Waveform picture around the first mismatch of one mutation (issue 16 closing note).

Emits the streamed CNN (``tests.rtl.graphs_stream.stream_cnn``) with its bench folder, flips one bias
constant (``tests.rtl.test_bench_export.mutate``, mutation ``--mutation``), runs the exported plain Verilog
bench on Icarus with ``-DWAVES`` (``waves.vcd``), reads the VCD (a small reader below: scopes, ``$var``,
scalar and vector value changes) and plots the handshake and data signals of the first diverging layer's
probe stream and of the output stream around the cycle of the layer's first mismatch, with the bench's
``TB LAYER MISMATCH`` / ``TB MISMATCH`` lines as the title.

    python benchmarks/plot_mutation_waves.py [--mutation 0] [--vectors 10] [--out benchmarks/results/mutation_waves.png]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import hwq.rtl  # noqa: F401  (import the installed package before the repository root joins sys.path)


def read_vcd(path: Path, wanted: set[str]) -> tuple[dict[str, list[tuple[int, str]]], dict[str, int]]:
    """Value changes ``{full.dotted.name: [(time, value bits)]}`` of the ``wanted`` signals of a VCD file,
    and their widths. Times are in the file's timescale units."""
    ids: dict[str, list[str]] = {}
    widths: dict[str, int] = {}
    scope: list[str] = []
    changes: dict[str, list[tuple[int, str]]] = {n: [] for n in wanted}
    t = 0
    with open(path) as f:
        header = True
        for line in f:
            tok = line.split()
            if not tok:
                continue
            if header:
                if tok[0] == "$scope":
                    scope.append(tok[2])
                elif tok[0] == "$upscope":
                    scope.pop()
                elif tok[0] == "$var":
                    name = ".".join(scope + [tok[4]])
                    if name in wanted:
                        ids.setdefault(tok[3], []).append(name)
                        widths[name] = int(tok[2])
                elif tok[0] == "$enddefinitions":
                    header = False
                continue
            c = tok[0]
            if c[0] == "#":
                t = int(c[1:])
            elif c[0] in "bB" and len(tok) == 2:
                for n in ids.get(tok[1], ()):
                    changes[n].append((t, c[1:]))
            elif c[0] in "01xXzZ":
                for n in ids.get(c[1:], ()):
                    changes[n].append((t, c[0]))
    return changes, widths


def value_at(ch: list[tuple[int, str]], t: int) -> str:
    """The value of a signal at time ``t`` (its last change at or before t)."""
    v = "x"
    for tt, vv in ch:
        if tt > t:
            break
        v = vv
    return v


def _plot_panel(ax, names, full, changes, widths, t_bad, cycles, caption) -> None:
    """Draw ``names`` (1-bit: steps; buses: hex boxes) for ``cycles`` cycles around time ``t_bad`` (ps), the
    beat sampled at ``t_bad`` (the clock edge of the report) shaded."""
    period = 10_000  # 10 ns clock in 1 ps units
    t0 = t_bad - cycles // 2 * period
    t1 = t0 + cycles * period
    for row, (label, name) in enumerate(zip(names, full)):
        y = len(full) - 1 - row
        ch = [(t, v) for t, v in changes.get(name, []) if t0 < t <= t1]
        pts = [(t0, value_at(changes.get(name, []), t0))] + ch + [(t1, None)]
        for (ta, va), (tb, _) in zip(pts, pts[1:]):
            xa, xb = ta / 1000, tb / 1000
            if widths.get(name, 1) == 1:
                level = y + (0.7 if va == "1" else 0.0)
                ax.plot([xa, xb], [level, level], color="tab:blue", lw=1.2)
                ax.plot([xb, xb], [y, y + 0.7], color="tab:blue", lw=0.4)
            else:
                ax.plot([xa, xb, xb, xa, xa], [y, y, y + 0.7, y + 0.7, y], color="tab:green", lw=1)
                if (tb - ta) >= period and va and set(va) <= set("01"):
                    ax.text((xa + xb) / 2, y + 0.35, f"{int(va, 2):x}", ha="center", va="center", fontsize=6)
        ax.text(t0 / 1000 - 2, y + 0.35, label, ha="right", va="center", fontsize=8)
    ax.axvspan((t_bad - period) / 1000, t_bad / 1000, color="red", alpha=0.15)
    ax.axvline(t_bad / 1000, color="red", ls="--", lw=1)
    ax.text(t_bad / 1000, len(full) - 0.25, f" {caption} (sampled at {t_bad / 1000:g} ns)", color="red", fontsize=8)
    ax.set_xlim(t0 / 1000 - 30, t1 / 1000)
    ax.set_ylim(-0.5, len(full) + 0.1)
    ax.set_yticks([])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutation", type=int, default=0)
    ap.add_argument("--vectors", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=24, help="cycles shown (centred on the first layer mismatch)")
    ap.add_argument("--out", default="benchmarks/results/mutation_waves.png")
    a = ap.parse_args()
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    import json
    import subprocess

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tests.rtl.test_bench_export import _emit, mutate

    with tempfile.TemporaryDirectory(prefix="hwq-waves-") as tmp:
        d = _emit("cnn", Path(tmp) / "cnn", a.vectors)
        what = mutate(d, a.mutation)
        p = subprocess.run(["sh", "run_icarus.sh", "-DWAVES"], cwd=d / "tb", capture_output=True, text=True)
        log = p.stdout + p.stderr
        cfg = json.loads((d / "tb" / "bench.json").read_text())
        top = cfg["top"]
        m = re.search(r"^TB FIRST DIVERGING LAYER: (\S+)", log, re.M)
        if not m:
            print(f"mutation {what}: no diverging layer reported\n{log[-2000:]}", file=sys.stderr)
            return 1
        layer = m.group(1)
        tap = next((t for t in cfg["taps"] if t["layer"] == layer), None)
        sig = f"dut.{tap['signal']}" if tap else "dut.m_axis"
        first = re.search(rf"^TB LAYER MISMATCH: layer {re.escape(layer)}, .*\(time (\d+)\)", log, re.M)
        first = first or re.search(r"^TB MISMATCH: .*\(time (\d+)\)", log, re.M)
        out_first = re.search(r"^TB MISMATCH: .*\(time (\d+)\)", log, re.M)
        lines = [ln for ln in log.splitlines() if ln.startswith(("TB LAYER MISMATCH", "TB MISMATCH"))][:1]
        lines += [ln for ln in log.splitlines() if ln.startswith("TB MISMATCH")][:1]
        lines += [ln for ln in log.splitlines() if ln.startswith("TB FIRST DIVERGING")][:1]
        p_in = ["clk", "s_axis_tvalid", "s_axis_tready", f"{sig[4:]}_tvalid", f"{sig[4:]}_tready", f"{sig[4:]}_tdata"]
        p_out = ["clk", "m_axis_tvalid", "m_axis_tready", "m_axis_tdata"]
        full = {n: f"tb_{top}.{'dut.' if n != 'clk' else ''}{n}" for n in p_in + p_out}
        changes, widths = read_vcd(d / "tb" / "waves.vcd", set(full.values()))
    panels = [(p_in, int(first.group(1)), f"layer {layer}: first mismatching beat")]
    if out_first:
        panels.append((p_out, int(out_first.group(1)), "output: first mismatching beat"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 1.2 + 0.55 * sum(len(n) for n, _, _ in panels)))
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, (names, t_bad, caption) in zip(axes, panels):
        _plot_panel(ax, names, [full[n] for n in names], changes, widths, t_bad, a.cycles, caption)
    axes[-1].set_xlabel("simulation time (ns)")
    ax = axes[0]
    ax.set_title(f"mutation {what}\n" + "\n".join(lines), fontsize=7, loc="left")
    fig.tight_layout()
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"{what}: first diverging layer {layer}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
