"""Is the yosys order of a group's close format pairs a property of the formats or of the weight draw?

The FPGA LUT model must order the formats of every calibration group (one layer shape, 6-7 weight formats,
``calibrate.design_set``) with Spearman >= 0.95 against yosys. It misses in a few groups by one swap of
neighbours 0.2-2.4 % apart in yosys LUTs. Each design of the set is one random weight draw
(``make_design(seed=17*s+f)``), so such a close pair may order one way for that draw and the other way for
another. For every requested group this script re-makes each of its designs with ``--draws K`` other weight
seeds (``17*s + f + 1000*k``, k = 1..K: same shape, format, pipeline and input format), featurises and
synthesises them (``calibrate.synthesise``: cached by the emitted Verilog in the calibration cache, so a
re-run is free) and predicts them with the packaged model (the coefficients ``hwq cost calibrate`` fits:
``calibrate.fit`` on the design set's fit designs from the cache; checked against the target file). Draw 0 is
the design set's own draw. It reports, per group:

- per draw: the model's within-group Spearman on the group's held-out formats (the goal metric; the fitted
  format is left out as in ``calibrate.accuracy``) and on all formats, and whether yosys orders the held-out
  formats exactly as in draw 0;
- per close pair (in draw 0: a pair of held-out formats the model orders against yosys, or neighbours in
  yosys's order at most ``--close`` % apart; and any pair the model orders against yosys's mean over the
  draws): in how many of the K+1 draws yosys orders the pair as in draw 0, the pair's yosys LUT gap per
  draw (% of the smaller; negative: flipped), and in how many draws the model orders it as yosys does;
- averaged over the K+1 draws: yosys LUTs and the model's prediction per format (with the draws' spread of
  yosys LUTs, sd / mean), and the Spearman of those means: does the model rank the formats once the weight
  draw is averaged out?

Synthesis runs as ``calibrate`` runs it (``nice``, up to 6 designs per yosys process, ``--jobs``
processes); the design set itself must be in the cache (``hwq cost calibrate --target T`` first). With
``--cached-only`` nothing is synthesised and draws with a missing design are dropped.

Usage: ``python benchmarks/cost_weight_draws.py [--target xc7 --target ice40] [--group G ...] [--draws 4]
[--close 2.5] [--jobs 2] [--cached-only] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from hwq.cost import calibrate as cal
from hwq.cost.fpga import LUT_FEATURES
from hwq.cost.rtl_model import emitter_default_adders
from hwq.cost.targets import load_target

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_fit_sets import finish  # noqa: E402  (a sibling benchmark script: same printing and JSON writing)

#: the groups one swap short of Spearman 0.95 in the packaged calibration (README, session 11)
DEFAULT_GROUPS = {
    "xc7": ["dense 16->6 p0", "conv1d 4x12->4 p1", "dense 64->8 p1 ufixed<3,2>"],
    "ice40": ["dense 32->4 p2", "dense 128->1 p3", "conv2d 4x5x5->2 p2", "dense 32->6 p2 ufixed<5,1>"],
}
#: seed offset of draw k: ``17*s + f + SEED_STEP*k`` never meets a design-set seed (those are < 17*16)
SEED_STEP = 1000


def shapes() -> dict[str, dict]:
    """The design set's shapes by group name (as ``calibrate.design_set`` names them): index s, make_design
    arguments, pipeline, input format, formats."""
    out = {}
    rows = [(*sh, "fixed<8,3>", cal.FORMATS) for sh in cal.SHAPES]
    rows += [(*sh, cal.NARROW_FORMATS) for sh in cal.NARROW_SHAPES]
    for s, (kind, shape, outs, kernel, pipe, x_fmt, formats) in enumerate(rows):
        x_tag = "" if x_fmt == "fixed<8,3>" else f" {x_fmt}"
        name = f"{kind} {'x'.join(map(str, shape))}->{outs} p{pipe}{x_tag}"
        out[name] = {"s": s, "kind": kind, "shape": shape, "outs": outs, "kernel": kernel, "pipeline": pipe}
        out[name] |= {"input": x_fmt, "formats": list(formats)}
    return out


def draw_designs(spec: dict, group: str, draws: int) -> list[dict]:
    """The designs of draws 1..``draws`` of one group (every format), as ``design_set`` dicts plus ``draw``
    and ``seed``; none is a fit design."""
    out = []
    for k in range(1, draws + 1):
        for f, fmt in enumerate(spec["formats"]):
            seed = 17 * spec["s"] + f + SEED_STEP * k
            g = cal.make_design(
                spec["kind"], spec["shape"], spec["outs"], spec["kernel"], fmt, seed=seed, x_fmt=spec["input"]
            )
            out.append(
                {"graph": g, "pipeline": spec["pipeline"], "group": group, "format": fmt, "input": spec["input"]}
                | {"fit": False, "draw": k, "seed": seed}
            )
    return out


def _order(vals: list[float]) -> list[int]:
    """Indices sorted by value (stable: a tie keeps the format order)."""
    return [int(i) for i in np.argsort(np.asarray(vals, dtype=float), kind="stable")]


def analyse(group: str, spec: dict, by_draw: dict[int, dict[str, dict]], fit_fmt: str | None, close: float) -> dict:
    """Per-draw Spearman and order, close pairs and the means over draws of one group. ``by_draw``:
    {draw: {format: design}} (complete draws only, draw 0 first); ``fit_fmt``: the design set's fitted format
    of the group (left out of the held-out figures)."""
    formats = spec["formats"]
    held = [f for f in formats if f != fit_fmt]
    draws = sorted(by_draw)
    lut = {k: {f: float(by_draw[k][f]["measured"]["LUT"]) for f in formats} for k in draws}
    pred = {k: {f: float(by_draw[k][f]["pred_lut"]) for f in formats} for k in draws}
    per_draw = []
    order0 = _order([lut[0][f] for f in held])
    for k in draws:
        per_draw.append(
            {
                "draw": k,
                "seeds": {f: int(by_draw[k][f]["seed"]) for f in formats},
                "lut": {f: int(lut[k][f]) for f in formats},
                "pred_lut": {f: round(pred[k][f], 1) for f in formats},
                "spearman": round(cal._spearman([pred[k][f] for f in held], [lut[k][f] for f in held]), 3),
                "spearman_all": round(cal._spearman([pred[k][f] for f in formats], [lut[k][f] for f in formats]), 3),
                "yosys_order_as_draw0": _order([lut[k][f] for f in held]) == order0,
            }
        )
    # close pairs of draw 0: (a, b) with a the format of more yosys LUTs in draw 0
    pairs: dict[tuple[str, str], str] = {}
    by_lut = sorted(held, key=lambda f: lut[0][f])
    for lo, hi in zip(by_lut, by_lut[1:]):
        if (lut[0][hi] - lut[0][lo]) / lut[0][lo] * 100 <= close:
            pairs[(hi, lo)] = "neighbours"
    for i, a in enumerate(held):
        for b in held[i + 1 :]:
            dm, dp = lut[0][a] - lut[0][b], pred[0][a] - pred[0][b]
            if dm != 0 and dm * dp <= 0:
                hi, lo = (a, b) if dm > 0 else (b, a)
                pairs[(hi, lo)] = "model swaps"
    mean_lut = {f: float(np.mean([lut[k][f] for k in draws])) for f in formats}
    mean_pred = {f: float(np.mean([pred[k][f] for k in draws])) for f in formats}
    for i, a in enumerate(held):
        for b in held[i + 1 :]:
            dm, dp = mean_lut[a] - mean_lut[b], mean_pred[a] - mean_pred[b]
            if dm != 0 and dm * dp <= 0 and (a, b) not in pairs and (b, a) not in pairs:
                hi, lo = (a, b) if lut[0][a] >= lut[0][b] else (b, a)
                pairs[(hi, lo)] = "means: model swaps"
    rank = {"model swaps": 0, "neighbours": 1, "means: model swaps": 2}
    pair_out = []
    for (a, b), why in sorted(pairs.items(), key=lambda kv: (rank[kv[1]], lut[0][kv[0][0]])):
        gaps = [(lut[k][a] - lut[k][b]) / min(lut[k][a], lut[k][b]) * 100 for k in draws]
        model_gaps = [(pred[k][a] - pred[k][b]) / min(pred[k][a], pred[k][b]) * 100 for k in draws]
        mean_a, mean_b = np.mean([lut[k][a] for k in draws]), np.mean([lut[k][b] for k in draws])
        pair_out.append(
            {
                "pair": [a, b],
                "why": why,
                "yosys_as_draw0": sum(g > 0 for g in gaps),
                "ties": sum(g == 0 for g in gaps),
                "draws": len(draws),
                "gap_percent": [round(g, 2) for g in gaps],
                "model_gap_percent": [round(g, 2) for g in model_gaps],
                "model_agrees": sum(g * m > 0 for g, m in zip(gaps, model_gaps)),
                "mean_gap_percent": round(float((mean_a - mean_b) / min(mean_a, mean_b) * 100), 2),
            }
        )
    sd_lut = {f: float(np.std([lut[k][f] for k in draws], ddof=1)) if len(draws) > 1 else 0.0 for f in formats}
    sp = [r["spearman"] for r in per_draw]
    return {
        "group": group,
        "fit_format": fit_fmt,
        "held_out_formats": held,
        "draws": len(draws),
        "per_draw": per_draw,
        "draws_at_0_95": sum(v >= 0.95 for v in sp),
        "spearman_draw_mean": round(float(np.mean(sp)), 3),
        "yosys_order_as_draw0": sum(r["yosys_order_as_draw0"] for r in per_draw),
        "pairs": pair_out,
        "means": {
            f: {
                "lut": round(mean_lut[f], 1),
                "lut_sd_percent": round(sd_lut[f] / mean_lut[f] * 100, 2),
                "pred_lut": round(mean_pred[f], 1),
                "error_percent": round((mean_pred[f] - mean_lut[f]) / mean_lut[f] * 100, 2),
            }
            for f in formats
        },
        "spearman_of_means": round(cal._spearman([mean_pred[f] for f in held], [mean_lut[f] for f in held]), 3),
        "spearman_of_means_all": round(
            cal._spearman([mean_pred[f] for f in formats], [mean_lut[f] for f in formats]), 3
        ),
    }


def run_target(name: str, groups: list[str], draws: int, close: float, cached_only: bool, jobs: int) -> dict:
    """All requested groups of one FPGA target; returns a JSON-ready dict."""
    t0 = time.perf_counter()
    target = load_target(name)
    adders = emitter_default_adders()
    specs = shapes()
    unknown = [g for g in groups if g not in specs]
    if unknown:
        raise SystemExit(f"unknown group(s) {unknown}; groups: {sorted(specs)}")

    def log(msg: str) -> None:
        print(f"{name}: {msg.strip()}", file=sys.stderr, flush=True)

    # the design set's fit designs (for the packaged coefficients) and the requested groups' own draw
    base = [d for d in cal.design_set() if d["fit"] or d["group"] in groups]
    for d in base:
        d["draw"], d["seed"] = 0, 17 * specs[d["group"]]["s"] + specs[d["group"]]["formats"].index(d["format"])
    cal.featurise(base, adders)
    base = cal.synthesise(base, target, jobs, adders, cached_only=True, log=log)
    fitset = [d for d in base if d["fit"]]
    if len(fitset) < cal.FIT_SIZE:
        raise SystemExit(f"{name}: {len(fitset)} fit designs cached; run `hwq cost calibrate --target {name}`")
    coefs = cal.fit(base, target)
    packaged = target.get("coefficients", {})
    diff = max(abs(coefs[k] - float(packaged.get(k, 0.0))) for k in LUT_FEATURES)
    log(f"coefficients fitted on {len(fitset)} cached fit designs; max |fit - {name}.toml| = {diff:.5f}")

    new = [d for g in groups for d in draw_designs(specs[g], g, draws)]
    cal.featurise(new, adders)
    log(f"{len(new)} designs of {draws} other draws in {len(groups)} group(s); synthesising the uncached ones")
    t1 = time.perf_counter()
    new = cal.synthesise(new, target, jobs, adders, cached_only=cached_only, log=log)
    synth_wall = time.perf_counter() - t1
    now = [d for d in new if d["synth_seconds"] > 0]
    log(f"{len(now)} synthesised now in {synth_wall:.0f} s wall")
    cal.predict(base + new, coefs, target)

    results = []
    for g in groups:
        spec = specs[g]
        by_draw: dict[int, dict[str, dict]] = {}
        for d in base + new:
            if d["group"] == g:
                by_draw.setdefault(d["draw"], {})[d["format"]] = d
        complete = {k: v for k, v in by_draw.items() if len(v) == len(spec["formats"])}
        if 0 not in complete:
            raise SystemExit(f"{name}: the design set's draw of {g!r} is not cached; run `hwq cost calibrate`")
        fit_fmt = next((d["format"] for d in complete[0].values() if d["fit"]), None)
        results.append(analyse(g, spec, complete, fit_fmt, close))
    return {
        "target": name,
        "coefficients_max_diff_to_packaged": round(diff, 5),
        "draws_requested": draws,
        "seed_rule": f"draw 0: 17*s + f (design_set); draw k: 17*s + f + {SEED_STEP}*k",
        "close_percent": close,
        "synthesised_now": len(now),
        "synth_cpu_seconds_now": round(sum(d.get("synth_cpu_seconds_first", 0.0) for d in now), 1),
        "synth_cpu_seconds_draws": round(sum(d.get("synth_cpu_seconds_first", 0.0) for d in new), 1),
        "synth_wall_seconds": round(synth_wall, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "groups": results,
    }


def _fmt_gaps(gaps: list[float]) -> str:
    return " / ".join(f"{g:+.1f}" for g in gaps)


def _tables(res: dict) -> str:
    """Markdown tables of one target's results."""
    out = [
        f"{res['target']}: draw 0 = design set, draws 1..{res['draws_requested']} = other weight seeds; "
        f"Spearman on the held-out formats (all formats in brackets)",
        "| group | draws | model Spearman per draw | draws >= 0.95 | yosys order = draw 0 | Spearman of means |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for g in res["groups"]:
        per = " / ".join(f"{r['spearman']:.3f}" for r in g["per_draw"])
        out.append(
            f"| {g['group']} | {g['draws']} | {per} | {g['draws_at_0_95']}/{g['draws']} | "
            f"{g['yosys_order_as_draw0']}/{g['draws']} | {g['spearman_of_means']:.3f} "
            f"({g['spearman_of_means_all']:.3f}) |"
        )
    out += [
        "",
        "close pairs (a > b in yosys LUTs in draw 0): yosys gap (a - b) / min per draw, % (negative: flipped)",
        "| group | pair a / b | in draw 0 | yosys as draw 0 | yosys gap per draw % | gap of means | model = yosys |",
        "| --- | --- | --- | ---: | --- | ---: | ---: |",
    ]
    for g in res["groups"]:
        for p in g["pairs"]:
            ties = f" ({p['ties']} tie)" if p["ties"] else ""
            out.append(
                f"| {g['group']} | {p['pair'][0]} / {p['pair'][1]} | {p['why']} | "
                f"{p['yosys_as_draw0']}/{p['draws']}{ties} | {_fmt_gaps(p['gap_percent'])} | "
                f"{p['mean_gap_percent']:+.2f} | {p['model_agrees']}/{p['draws']} |"
            )
    out += [
        "",
        "means over the draws per format (yosys LUTs, their sd over draws, model prediction; * = fitted format)",
        "| group | format | yosys mean | sd % | model mean | error % |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for g in res["groups"]:
        for f, m in sorted(g["means"].items(), key=lambda kv: kv[1]["lut"]):
            star = "*" if f == g["fit_format"] else ""
            out.append(
                f"| {g['group']} | {f}{star} | {m['lut']:.1f} | {m['lut_sd_percent']:.1f} | {m['pred_lut']:.1f} | "
                f"{m['error_percent']:+.1f} |"
            )
    out.append(
        f"{res['synthesised_now']} designs synthesised now ({res['synth_cpu_seconds_now']} s yosys CPU, "
        f"{res['synth_wall_seconds']} s wall; all draws' designs at their first synthesis: "
        f"{res['synth_cpu_seconds_draws']} s yosys CPU); "
        f"coefficients max |fit - packaged| {res['coefficients_max_diff_to_packaged']}"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", help="FPGA target(s) (default: xc7 and ice40)")
    ap.add_argument("--group", action="append", help="group name(s) (default: the target's failing groups)")
    ap.add_argument("--draws", type=int, default=4, help="other weight draws per design (default 4)")
    ap.add_argument("--close", type=float, default=2.5, help="neighbours at most this %% apart are close pairs")
    ap.add_argument("--cached-only", action="store_true", help="use only cached syntheses (no yosys run)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="yosys processes (default 2)")
    ap.add_argument("--json", type=Path, help="write all results (every draw) here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = []
    for t in args.target or ["xc7", "ice40"]:
        groups = args.group or DEFAULT_GROUPS.get(t)
        if not groups:
            raise SystemExit(f"no default groups for target {t!r}: give --group")
        results.append(run_target(t, groups, args.draws, args.close, args.cached_only, args.jobs))
    return finish(results, _tables, t0, args.json)


if __name__ == "__main__":
    sys.exit(main())
