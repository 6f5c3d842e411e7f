"""Quantising float32 tensors: hwq's bit-exact torch quantisers beside the memory floor and the peers.

Run: ``python benchmarks/bench_quantize.py [--n 10000000] [--repeats 5] [--threads N]``

Every method writes into a preallocated output (page faults of fresh allocations would otherwise
dominate). The methods are timed round-robin (one run of each per round, so that load changes on a
shared machine hit all rows alike) and each row is its best of ``--repeats`` rounds. The peers run in a
second phase, after every torch row: running apytypes between torch measurements slowed the following
torch ops about 2x on the 2-core machine (its worker threads keep the cores busy). fxpmath is timed on a
100k subset (it is slow) and reported per element. Ratios are against ``x.clone()`` (the memory floor:
one read, one write) and against hwq's time for the same format. The peers' results are checked against
hwq's after the timing (printed), so the rows compare equal work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's hwq, whatever is installed

from hwq.formats import parse  # noqa: E402
from hwq.formats.torch_quant import quantize_tensor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.n
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=gen) * 3  # covers the range of fixed<8,3> and beyond
    out = torch.empty_like(x)
    xs_np = x.numpy()
    sub = xs_np[:100_000].astype(np.float64)

    fx = parse("fixed<8,3,RND,SAT>")
    e4m3 = parse("float<4,3>")
    csd = parse("csd<8,3,3>")
    plans: dict[str, list] = {"torch": [], "peers": []}  # phase -> [(format, method, fn, elements)]
    checks: list = []  # peers' results equal hwq's (run after the timing)

    def add(fmt_name: str, method: str, fn, elements: int = n, phase: str = "torch") -> None:
        plans[phase].append((fmt_name, method, fn, elements))

    add("-", "x.clone() into a preallocated buffer (memory floor)", lambda: out.copy_(x))

    # ---- fixed<8,3,RND,SAT>
    def hand_written():  # four in-place ops (RNE ties, not RND: the common hand-written version)
        torch.mul(x, 32.0, out=out).round_().clamp_(-128, 127).mul_(1 / 32)

    add(str(fx), "plain torch mul/round/clamp/mul (ties to even)", hand_written)
    add(str(fx), "hwq quantize_tensor (NaN check)", lambda: quantize_tensor(x, fx, out=out))
    add(str(fx), "hwq quantize_tensor (nan='propagate')", lambda: quantize_tensor(x, fx, out=out, nan="propagate"))
    fx_even = parse("fixed<8,3,RND_CONV,SAT>")
    add(
        str(fx_even),
        "hwq quantize_tensor (same work as the plain torch row)",
        lambda: quantize_tensor(x, fx_even, out=out),
    )
    ref_fx = quantize_tensor(x, fx).numpy()

    try:
        from apytypes import APyFixedArray, OverflowMode, QuantizationMode

        def apy_fixed():
            a = APyFixedArray.from_float(xs_np, int_bits=6, frac_bits=30)
            return a.cast(int_bits=3, frac_bits=5, quantization=QuantizationMode.TIES_POS, overflow=OverflowMode.SAT)

        add(str(fx), "apytypes from_float + cast(TIES_POS, SAT)", apy_fixed, phase="peers")
        checks.append(lambda: np.array_equal(np.asarray(apy_fixed().to_numpy(), dtype=np.float32), ref_fx))
    except ImportError:
        print("apytypes not installed: skipped")
    try:
        from fxpmath import Fxp

        def fxp_fixed():
            return Fxp(sub, signed=True, n_word=8, n_frac=5, rounding="around", overflow="saturate")

        add(str(fx), "fxpmath Fxp(rounding='around', 100k subset)", fxp_fixed, elements=len(sub), phase="peers")
        checks.append(lambda: np.array_equal(np.asarray(fxp_fixed().get_val()), ref_fx[: len(sub)]))
    except ImportError:
        print("fxpmath not installed: skipped")

    # ---- float<4,3> (e4m3, IEEE-like)
    add(str(e4m3), "hwq quantize_tensor", lambda: quantize_tensor(x, e4m3, out=out))
    ref_f8 = quantize_tensor(x, e4m3).numpy()
    try:
        from apytypes import APyFloatArray

        def apy_float():
            return APyFloatArray.from_float(xs_np, exp_bits=4, man_bits=3)

        add(str(e4m3), "apytypes APyFloatArray.from_float", apy_float, phase="peers")
        checks.append(lambda: np.array_equal(np.asarray(apy_float().to_numpy(), dtype=np.float32), ref_f8))
    except ImportError:
        pass
    try:
        import ml_dtypes

        dt = ml_dtypes.float8_e4m3
        out_np = np.empty(n, dtype=dt)
        add(
            str(e4m3),
            "ml_dtypes astype(float8_e4m3) (to codes only)",
            lambda: np.copyto(out_np, xs_np, casting="unsafe"),
            phase="peers",
        )
    except (ImportError, AttributeError):
        pass

    add("-", "x.clone() again, in the peers' phase", lambda: out.copy_(x), phase="peers")

    # ---- 3-digit CSD
    add(str(csd), "hwq quantize_tensor (exact nearest, midpoint table)", lambda: quantize_tensor(x, csd, out=out))

    rows = []
    for phase in ("torch", "peers"):
        plan = plans[phase]
        for _, _, fn, _ in plan:
            fn()  # warm-up: first touch of buffers, lazy tables
        best = [float("inf")] * len(plan)
        for _ in range(args.repeats):
            for i, (_, _, fn, _) in enumerate(plan):
                t0 = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - t0)
        rows += [(f, m, b, e) for (f, m, _, e), b in zip(plan, best)]
    same = [c() for c in checks]
    clone = rows[0][2] / rows[0][3]
    hwq_by_fmt = {}
    for r in rows:
        if r[1].startswith("hwq quantize_tensor"):
            hwq_by_fmt.setdefault(r[0], r[2] / r[3])
    print(f"\nn = {n:,} float32 values, torch threads = {torch.get_num_threads()}, best of {args.repeats}\n")
    print(f"peers' values equal hwq's: {same} (apytypes fixed, fxpmath on random data, apytypes float)")
    print("| format | method | ns/element | x clone | x hwq |")
    print("| --- | --- | ---: | ---: | ---: |")
    for fmt_name, method, sec, elements in rows:
        per = sec / elements
        h = hwq_by_fmt.get(fmt_name)
        print(
            f"| {fmt_name} | {method} | {per * 1e9:,.2f} | {per / clone:,.1f} | {(f'{per / h:,.1f}' if h else '-')} |"
        )


if __name__ == "__main__":
    main()
