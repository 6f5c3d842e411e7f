"""FixedFormat against the C++ ap_fixed headers shipped in the hls4ml wheel (compiled with g++).

A generated C++ program instantiates ap_fixed<W,I,Q,O> / ap_ufixed for a set of formats x all 28 modes,
reads ``case kind value`` lines and prints the W-bit result pattern:

- ``d <hex double>``: ``T t = value;`` (ap_fixed's double constructor)
- ``r <hex bits>``: ``T t = src;`` with ``src`` an ap_fixed<W2,I2> holding those bits (raw -> raw cast)
- ``t <pair>``: widths of ``a*b``, ``a+b``, ``a-b`` for format pairs (the result-type rules)

The binary is cached by the hash of its source and flags (built under a file lock, so pytest-xdist
workers share one build; about 30 s of CPU once, then each test takes about a second).
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, add_format, mul_format, sub_format

from ..tools import require_module, require_tool
from ._oracle import fixed_oracle

pytestmark = pytest.mark.slow  # the first test to run builds the oracle (about 30 s of g++)

# (W, I, signed) targets: 1-bit, negative I, I > W, 8/16/32-bit, odd widths, up to 64 bits
TARGETS = [
    (1, 1, True),
    (1, 0, False),
    (2, -1, True),
    (3, 5, True),
    (4, 2, True),
    (4, 2, False),
    (6, -3, False),
    (8, 3, True),
    (8, 3, False),
    (8, 0, True),
    (12, 4, True),
    (16, 6, True),
    (16, 20, False),
    (24, 8, True),
    (32, 16, True),
    (33, -5, True),
    (48, 10, True),
    (53, 20, False),
    (63, 30, True),
    (64, 32, True),
]
SOURCES = [(16, 8, True), (12, 3, False), (40, 10, True), (64, 20, True), (6, -2, True), (10, 14, True), (5, 5, False)]
MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
PAIRS = [
    ((8, 3, True), (8, 3, True)),
    ((8, 3, False), (6, 1, True)),
    ((5, 7, True), (9, -2, False)),
    ((4, 4, False), (4, 4, False)),
    ((16, 6, True), (12, 12, False)),
    ((3, -1, True), (7, 2, True)),
]


def _cases():
    out = []
    for t_idx, (w, i, s) in enumerate(TARGETS):
        for m_idx, (q, o) in enumerate(MODES):
            src = SOURCES[(t_idx + m_idx) % len(SOURCES)]
            out.append(((w, i, s, q, o), src))
    return out


CASES = _cases()


def _type(w, i, s, q="AP_TRN", o="AP_WRAP"):
    return f"ap_{'fixed' if s else 'ufixed'}<{w}, {i}, {q}, {o}>"


def _source() -> str:
    lines = [
        "#include <ap_fixed.h>",
        "#include <cstdio>",
        "#include <cstdlib>",
        "#include <cstdint>",
        "#include <cstring>",
        "template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>",
        "bool signed_of(const ap_fixed_base<W, I, S, Q, O, N>&) { return S; }",
        "template <typename T, typename Src>",
        "void run(char kind, const char* arg) {",
        "  T t;",
        "  if (kind == 'd') { double v = strtod(arg, nullptr); t = v; }",
        "  else { Src src; src.setBits(strtoull(arg, nullptr, 16)); t = src; }",
        '  printf("%llx\\n", (unsigned long long)t.bits_to_uint64());',
        "}",
        "template <typename A, typename B>",
        "void types() {",
        "  A a; B b;",
        '  printf("%d %d %d %d %d %d %d %d %d\\n",',
        "    decltype(a * b)::width, decltype(a * b)::iwidth, (int)signed_of(a * b),",
        "    decltype(a + b)::width, decltype(a + b)::iwidth, (int)signed_of(a + b),",
        "    decltype(a - b)::width, decltype(a - b)::iwidth, (int)signed_of(a - b));",
        "}",
        "int main() {",
        "  char kind; int c; char arg[128];",
        '  while (scanf("%d %c %127s", &c, &kind, arg) == 3) {',
        "    if (kind == 't') {",
        "      switch (c) {",
    ]
    for n, (a, b) in enumerate(PAIRS):
        lines.append(f"        case {n}: types<{_type(*a)}, {_type(*b)}>(); break;")
    lines += ["      }", "      continue;", "    }", "    switch (c) {"]
    for n, ((w, i, s, q, o), src) in enumerate(CASES):
        lines.append(f"      case {n}: run<{_type(w, i, s, 'AP_' + q, 'AP_' + o)}, {_type(*src)}>(kind, arg); break;")
    lines += ['      default: printf("bad case\\n");', "    }", "  }", "  return 0;", "}", ""]
    return "\n".join(lines)


def _ap_include() -> Path | None:
    try:
        import hls4ml
    except Exception:
        return None
    p = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    return p if (p / "ap_fixed.h").exists() else None


@pytest.fixture(scope="module")
def oracle_binary() -> Path:
    require_module("hls4ml", "its ap_types headers")
    inc = _ap_include()
    assert inc is not None, "hls4ml is installed but ships no templates/vivado/ap_types/ap_fixed.h"
    gxx = require_tool("g++", "compiles the ap_fixed oracle")
    src = _source()
    # -DNDEBUG: ap_fixed's cast evaluates get_bit(F2 - F - 1) before checking that it is inside the
    # source (it then discards it); with assertions on, casts that drop more bits than the source has
    # abort in C simulation.
    flags = ["-O0", "-DNDEBUG", "-std=c++14", "-w", f"-I{inc}"]
    key = hashlib.sha256((src + " ".join(flags) + gxx).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "hwq-test-cache" / f"apfixed-oracle-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    exe = cache / "oracle"
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            (cache / "oracle.cpp").write_text(src)
            tmp = cache / f"oracle.{os.getpid()}.tmp"
            cmd = [gxx, *flags, str(cache / "oracle.cpp"), "-o", str(tmp)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                pytest.fail(f"building the ap_fixed oracle failed:\n{res.stderr[-3000:]}")
            os.replace(tmp, exe)
    return exe


def _ask(exe: Path, lines: list[str]) -> list[str]:
    res = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = res.stdout.split("\n")[:-1]
    assert len(out) == len(lines), "oracle answered a different number of lines"
    return out


def _fmt(case) -> FixedFormat:
    (w, i, s, q, o), _ = case
    return FixedFormat(w, i, s, q, o)


def _test_values(fmt: FixedFormat, rng: np.random.Generator, n: int) -> np.ndarray:
    """Ties, grid points, near the bounds, far out of range, tiny, subnormal doubles."""
    f = fmt.frac_bits
    span = min(fmt.width + 2, 50)
    k = rng.integers(-(1 << span), 1 << span, size=n)
    ties = np.ldexp(k.astype(np.float64) + 0.5, -f)
    grid = np.ldexp(k.astype(np.float64) + rng.integers(-3, 4, size=n) / 8, -f)
    edges = np.array([fmt.raw_min, fmt.raw_max, -fmt.raw_max, fmt.raw_min - 1, fmt.raw_max + 1], dtype=np.float64)
    edges = np.concatenate([np.ldexp(edges + d, -f) for d in (-0.5, -0.25, 0, 0.25, 0.5)])
    far = np.array([1e30, -1e30, 1e300, -1e300, 2.0 ** (fmt.int_bits + 3), -(2.0 ** (fmt.int_bits + 3))])
    tiny = np.array([1e-300, -1e-300, 5e-324, -5e-324, 2.0 ** (-f - 3), -(2.0 ** (-f - 3)), 0.0])
    return np.concatenate([ties, grid, edges, far, tiny, rng.standard_normal(n) * 2.0 ** (fmt.int_bits - 1)])


def test_double_to_fixed_matches_ap_fixed(oracle_binary):
    rng = np.random.default_rng(2024)
    lines, expect = [], []
    for n, case in enumerate(CASES):
        fmt = _fmt(case)
        xs = _test_values(fmt, rng, 12)
        got = fmt.to_bits(fmt.to_raw(xs))
        for x, g in zip(xs.tolist(), got.tolist()):
            lines.append(f"{n} d {float(x).hex()}")
            expect.append((fmt, x, int(g)))
    answers = _ask(oracle_binary, lines)
    bad = [(f, x, g, int(a, 16) % (1 << f.width)) for (f, x, g), a in zip(expect, answers)]
    bad = [b for b in bad if b[2] != b[3]]
    assert len(lines) > 5000
    assert not bad, f"{len(bad)} of {len(lines)} differ from ap_fixed; first: {bad[:5]}"


def test_raw_cast_matches_ap_fixed(oracle_binary):
    rng = np.random.default_rng(7)
    lines, expect = [], []
    for n, case in enumerate(CASES):
        fmt = _fmt(case)
        w2, i2, s2 = case[1]
        src = FixedFormat(w2, i2, s2)
        bits = [int(b) for b in rng.integers(0, 1 << min(w2, 62), size=24, dtype=np.int64)]
        bits += [0, 1, (1 << w2) - 1, 1 << (w2 - 1), (1 << (w2 - 1)) - 1]
        bits = [b % (1 << w2) for b in bits]
        raw = src.from_bits(np.array(bits, dtype=object))
        got = fmt.to_bits(fmt.cast_raw(raw, src.frac_bits))
        for b, g in zip(bits, got.tolist()):
            lines.append(f"{n} r {b:x}")
            expect.append((fmt, src, b, int(g)))
    answers = _ask(oracle_binary, lines)
    bad = [e for e, a in zip(expect, answers) if int(a, 16) % (1 << e[0].width) != e[3]]
    assert len(lines) > 15000
    assert not bad, f"{len(bad)} of {len(lines)} raw casts differ from ap_fixed; first: {bad[:5]}"


def test_oracle_agrees_with_fraction_oracle_on_ties(oracle_binary):
    """Cross-check the two oracles on exact ties of one format in every mode (guards the test harness)."""
    lines, want = [], []
    for n, case in enumerate(CASES):
        (w, i, s, q, o), _ = case
        if (w, i, s) != (8, 3, True):
            continue
        for k in range(-300, 300, 7):
            x = (k + 0.5) / 32
            lines.append(f"{n} d {x.hex()}")
            want.append(fixed_oracle(Fraction(x), w, i, s, q, o) % 256)
    assert [int(a, 16) % 256 for a in _ask(oracle_binary, lines)] == want


def test_result_types_match_ap_fixed(oracle_binary):
    answers = _ask(oracle_binary, [f"{n} t x" for n in range(len(PAIRS))])
    for (a, b), ans in zip(PAIRS, answers):
        fa, fb = FixedFormat(*a), FixedFormat(*b)
        v = [int(t) for t in ans.split()]
        for k, fn in enumerate((mul_format, add_format, sub_format)):
            r = fn(fa, fb)
            assert (r.width, r.int_bits, int(r.signed)) == tuple(v[3 * k : 3 * k + 3]), (fn.__name__, fa, fb, ans)
