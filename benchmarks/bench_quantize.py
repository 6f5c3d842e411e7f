"""Quantising float32 tensors: hwq's bit-exact torch quantisers beside the memory floor and the peers.

Run: ``python benchmarks/bench_quantize.py [--n 10000000] [--repeats 5] [--threads N]``

Every method writes into a preallocated output (page faults of fresh allocations would otherwise
dominate). Each row is the best of ``--repeats`` runs; fxpmath is timed on a 100k subset (it is slow)
and reported per element. Ratios are against ``x.clone()`` (the memory floor: one read, one write) and
against hwq's time for the same format. The peers' results are also checked against hwq's (same values
where their rounding mode is the same), so the table compares equal work.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hwq.formats import parse
from hwq.formats.torch_quant import quantize_tensor


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (first-touch of buffers, caches, lazy tables)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
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
    rows: list[tuple[str, str, float, int]] = []  # (format, method, seconds, elements)

    def add(fmt_name: str, method: str, fn, elements: int = n) -> None:
        rows.append((fmt_name, method, best_time(fn, args.repeats), elements))

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

        add(str(fx), "apytypes from_float + cast(TIES_POS, SAT)", apy_fixed)
        assert np.array_equal(np.asarray(apy_fixed().to_numpy(), dtype=np.float32), ref_fx), "apytypes differs"
    except ImportError:
        print("apytypes not installed: skipped")
    try:
        from fxpmath import Fxp

        def fxp_fixed():
            return Fxp(sub, signed=True, n_word=8, n_frac=5, rounding="around", overflow="saturate")

        add(str(fx), "fxpmath Fxp(rounding='around', 100k subset)", fxp_fixed, elements=len(sub))
        got = np.asarray(fxp_fixed().get_val(), dtype=np.float64)
        mism = int(np.count_nonzero(got != ref_fx[: len(sub)]))
        print(f"fxpmath 'around' (numpy.around: ties to even) differs from RND on {mism} of {len(sub)} values")
    except ImportError:
        print("fxpmath not installed: skipped")

    # ---- float<4,3> (e4m3, IEEE-like)
    add(str(e4m3), "hwq quantize_tensor", lambda: quantize_tensor(x, e4m3, out=out))
    ref_f8 = quantize_tensor(x, e4m3).numpy()
    try:
        from apytypes import APyFloatArray

        def apy_float():
            return APyFloatArray.from_float(xs_np, exp_bits=4, man_bits=3)

        add(str(e4m3), "apytypes APyFloatArray.from_float", apy_float)
        assert np.array_equal(np.asarray(apy_float().to_numpy(), dtype=np.float32), ref_f8), "apytypes float differs"
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
        )
    except (ImportError, AttributeError):
        pass

    # ---- 3-digit CSD
    add(str(csd), "hwq quantize_tensor (exact nearest, midpoint table)", lambda: quantize_tensor(x, csd, out=out))

    clone = rows[0][2] / rows[0][3]
    hwq_by_fmt = {}
    for r in rows:
        if r[1].startswith("hwq quantize_tensor"):
            hwq_by_fmt.setdefault(r[0], r[2] / r[3])
    print(f"\nn = {n:,} float32 values, torch threads = {torch.get_num_threads()}, best of {args.repeats}\n")
    print("| format | method | ns/element | x clone | x hwq |")
    print("| --- | --- | ---: | ---: | ---: |")
    for fmt_name, method, sec, elements in rows:
        per = sec / elements
        h = hwq_by_fmt.get(fmt_name)
        print(
            f"| {fmt_name} | {method} | {per * 1e9:,.2f} | {per / clone:,.1f} | "
            f"{(per / h if h else float('nan')):,.1f} |"
        )


if __name__ == "__main__":
    main()
