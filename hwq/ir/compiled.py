"""Plan once, run many: a graph compiled into a list of exact numpy steps for the golden interpreter.

``compile_graph(graph)`` decides once per graph, from the tensor formats alone (never from the data),
how each op is evaluated, and ``Program.execute`` then runs only the arithmetic:

* Dense layers, ReLU, fixed-point ``requantize`` casts and layout ops (flatten, reshape) whose values
  provably stay small are carried as integers held in **float32** (every value and every partial sum
  of a matrix product below 2**23 in magnitude) or **float64** (below 2**52). Integers of that size
  are represented exactly, and every step used on them (BLAS matrix products, additions, scaling by
  powers of two, floor/ceil/rint, clip, fmod) is then exact whatever the summation order, so the
  results are the same integers as the int64 arithmetic of the op modules. A dense layer qualifies
  when its accumulator either wraps or cannot overflow for any input of its input format (the same
  test as ``hwq.ir.ops.common.mac_plan``, applied to the format's range instead of the data's).
* Every other op, and any op outside these bounds, runs its module's ``evaluate`` on int64 / Python
  int arrays, exactly as the reference interpreter does.

Rounding of a cast by d >= 1 bits on carried integers v (q = v * 2**-d, exact)::

    TRN floor(q)       TRN_ZERO trunc(q)     RND floor(q + 1/2)    RND_MIN_INF ceil(q - 1/2)
    RND_CONV rint(q)   RND_INF  q >= 0 ? floor(q + 1/2) : ceil(q - 1/2)
    RND_ZERO q >= 0 ? ceil(q - 1/2) : floor(q + 1/2)

then the overflow mode (SAT: clip; SAT_SYM: clip to [-max, max]; SAT_ZERO: out of range -> 0; WRAP:
``(v - min) mod 2**W + min``), skipped when the format's range shows that nothing can overflow.

Per call (``hwq.ir.run`` -> ``cached_program``): the plan of a graph is built once and reused while a
snapshot of the graph still matches it (the same op, tensor and array objects, equal attributes, and
each weight array's bytes equal to a private copy: one ``memcmp`` per array, so in-place edits are
seen). One integer raw vector then takes the direct path of ``Program.run``: a shape check, the range
check (none for a dtype that cannot leave the input format), the carrier conversion and, when the steps
form a chain, each step in turn. On the shared 2-core machine at load average 9-15 that took 29-58 us
of CPU per single-sample call of the 64-64-32-10 MLP (``benchmarks/bench_interpreter.py``).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import is_

import numpy as np

from hwq.formats import FixedFormat

from .graph import Graph, GraphError
from .ops import EVALUATORS
from .ops.common import _acc_limits, _no_overflow_possible, raw_frac_bits
from .result import RunResult, quantize_inputs

try:  # the clip ufunc itself (np.clip adds a Python wrapper: a few microseconds per call)
    from numpy._core.umath import clip as _clip
except ImportError:  # pragma: no cover - numpy < 2
    _clip = np.clip
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce
_dot = np.dot  # 2-D BLAS product: less per-call overhead than ``@`` on one vector, the same exact sums


def _const(value, dtype) -> np.ndarray:
    """``value`` as a 0-d array of the carrier dtype: a ufunc takes it several times faster than a
    Python float (no scalar conversion per call), with the same value (an integer the carrier holds)."""
    return np.array(value, dtype=dtype)


#: exact-integer headroom of each float carrier: magnitudes below 2**bits (one bit kept spare for the
#: rounding offsets of a cast).
_CARRIER_BITS = {np.float32: 23, np.float64: 52}


@dataclass
class _Value:
    """Static facts about a tensor's runtime array: its carrier dtype (np.float32 / np.float64 for
    integers held in floats, None for int64/object raws) and a bound on every |raw|."""

    dtype: object
    bound: int


def _is_fixed(fmt) -> bool:
    return type(fmt) is FixedFormat


def _fmt_bound(fmt) -> int:
    return max(abs(fmt.raw_min), abs(fmt.raw_max))


def _carrier_for(bound: int):
    """The narrowest float carrier holding integers up to ``bound`` exactly, or None."""
    for dt in (np.float32, np.float64):
        if bound.bit_length() <= _CARRIER_BITS[dt]:
            return dt
    return None


def _round_fn(rounding: str, d: int) -> Callable[[np.ndarray], np.ndarray]:
    """In place: integers v (float carrier) -> round(v * 2**-d) with an ap_fixed rounding mode (d >= 1)."""
    scale = 2.0**-d

    def trn(v):
        v *= scale
        return np.floor(v, out=v)

    def trn_zero(v):
        v *= scale
        return np.trunc(v, out=v)

    def rnd(v):
        v *= scale
        v += 0.5
        return np.floor(v, out=v)

    def rnd_min_inf(v):
        v *= scale
        v -= 0.5
        return np.ceil(v, out=v)

    def rnd_conv(v):
        v *= scale
        return np.rint(v, out=v)

    def rnd_inf(v):
        v *= scale
        return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)).astype(v.dtype, copy=False)

    def rnd_zero(v):
        v *= scale
        return np.where(v >= 0, np.ceil(v - 0.5), np.floor(v + 0.5)).astype(v.dtype, copy=False)

    return {
        "TRN": trn,
        "TRN_ZERO": trn_zero,
        "RND": rnd,
        "RND_MIN_INF": rnd_min_inf,
        "RND_CONV": rnd_conv,
        "RND_INF": rnd_inf,
        "RND_ZERO": rnd_zero,
    }[rounding]


def _float_cast(in_frac: int, lo: int, hi: int, fmt: FixedFormat, dtype) -> Callable | None:
    """An in-place float-carrier cast of integers in [lo, hi] at ``in_frac`` fractional bits into ``fmt``
    (its rounding, then its overflow), or None when the carrier cannot do it exactly."""
    bits = _CARRIER_BITS[dtype]
    d = in_frac - fmt.frac_bits
    mag = max(abs(lo), abs(hi))
    steps: list[Callable] = []
    if d > 0:
        if d > bits - 1 or mag.bit_length() > bits - 1:
            return None
        steps.append(_round_fn(fmt.rounding, d))
        lo, hi = lo >> d, -((-hi) >> d)  # floor / ceil: a range covering every rounding
    elif d < 0:
        if (mag << -d).bit_length() > bits:
            return None
        scale = float(2 ** (-d))

        def shl(v):
            v *= scale
            return v

        steps.append(shl)
        lo, hi = lo << -d, hi << -d
    olo, ohi = _acc_limits(fmt) if fmt.overflow != "SAT_SYM" or fmt.width > 1 else (fmt.raw_min, fmt.raw_max)
    if not (olo <= lo and hi <= ohi):
        if fmt.overflow in ("SAT", "SAT_SYM"):
            flo, fhi = _const(olo, dtype), _const(ohi, dtype)
            steps.append(lambda v: _clip(v, flo, fhi, out=v))
        elif fmt.overflow == "SAT_ZERO":
            flo, fhi = float(fmt.raw_min), float(fmt.raw_max)

            def sat_zero(v):
                v[(v < flo) | (v > fhi)] = 0
                return v

            steps.append(sat_zero)
        else:  # WRAP
            if (max(abs(lo), abs(hi)) + (1 << fmt.width)).bit_length() > bits:
                return None
            fmin, span = float(fmt.raw_min), float(1 << fmt.width)

            inv = 1.0 / span

            def wrap(v):  # v - span * floor((v - min) / span): every step exact on carried integers
                t = v - fmin
                t *= inv
                np.floor(t, out=t)
                t *= span
                v -= t
                return v

            steps.append(wrap)
    if not steps:
        return lambda v: v
    if len(steps) == 1:
        return steps[0]

    def run(v):
        for s in steps:
            v = s(v)
        return v

    return run


def _as(v: np.ndarray, dtype) -> np.ndarray:
    """Carried integers as ``dtype`` (float32/float64), or as int64 raws when ``dtype`` is None."""
    if dtype is None:
        return v.astype(np.int64) if v.dtype.kind == "f" else v
    return v.astype(dtype, copy=False)


def _dense_step(op, graph: Graph, vin: _Value, relu=None):
    """A float-carrier step for a Dense op, or None (then the op runs its own evaluate).

    ``relu``: the output format of a ReLU that reads only this layer's output, to be fused in (the
    step then yields the ReLU's output), or None."""
    xf, yf, af = graph.tensor(op.inputs[0]).fmt, graph.tensor(op.output).fmt, op.acc_fmt
    if not (_is_fixed(xf) and _is_fixed(yf) and _is_fixed(af)):
        return None
    w = op.weight
    if not isinstance(w, np.ndarray) or w.dtype.kind not in "iu" or op.bias.dtype.kind not in "iu":
        return None
    off = int(op.input_offset)
    shift = af.frac_bits - (xf.frac_bits + raw_frac_bits(op.weight_fmt))
    if shift < 0:
        return None
    x_lo, x_hi = min(xf.raw_min + off, 0), max(xf.raw_max + off, 0)
    bias_acc = af.cast_raw(op.bias, raw_frac_bits(op.bias_fmt))
    if af.overflow != "WRAP" and not _no_overflow_possible(x_lo, x_hi, w[None], shift, bias_acc[None], af):
        return None
    wo = w.astype(object) << shift  # (M, N) exact
    b_eff = np.asarray(bias_acc).astype(object) + off * wo.sum(axis=1)  # input offset folded into the bias
    xmag = max(abs(xf.raw_min), abs(xf.raw_max))
    bound = int(max(np.abs(wo).sum(axis=1) * xmag + np.abs(b_eff))) if w.size else int(max(np.abs(b_eff), default=0))
    first = _carrier_for(max(bound, vin.bound, xmag))
    if first is None:
        return None
    wpos = np.where(wo > 0, wo, 0).sum(axis=1)
    wneg = np.where(wo < 0, wo, 0).sum(axis=1)
    b_all = np.asarray(bias_acc).astype(object)
    acc_lo = int(min(wpos * x_lo + wneg * x_hi + b_all, default=0))  # exact range of the final sum
    acc_hi = int(max(wpos * x_hi + wneg * x_lo + b_all, default=0))
    for dtype in (np.float32, np.float64)[(0 if first is np.float32 else 1) :]:
        made = _dense_on(dtype, wo, b_eff, bound, af, yf, acc_lo, acc_hi, relu)
        if made is not None:
            return made
    return None


def _dense_on(dtype, wo, b_eff, bound: int, af: FixedFormat, yf: FixedFormat, acc_lo: int, acc_hi: int, relu):
    """The Dense step on one float carrier, or None when that carrier cannot hold it exactly."""
    wrap = None
    if af.overflow == "WRAP" and not (af.raw_min <= acc_lo and acc_hi <= af.raw_max):
        wrap = _float_cast(af.frac_bits, acc_lo, acc_hi, af, dtype)
        if wrap is None:
            return None
        acc_lo, acc_hi = af.raw_min, af.raw_max
    if wrap is None:
        folded = _folded_dense(wo, b_eff, bound, af.frac_bits, acc_lo, acc_hi, yf, dtype, relu)
        if folded is not None:
            return folded
    if relu is not None:
        return None
    cast = _float_cast(af.frac_bits, acc_lo, acc_hi, yf, dtype)
    if cast is None:
        return None
    wt = np.ascontiguousarray(wo.T.astype(dtype))  # (N, M)
    bt = b_eff.astype(dtype)[None, :]  # (1, M): one vector adds it without broadcasting
    has_bias = bool(np.any(b_eff != 0))

    def step(x):
        acc = _dot(x if x.dtype.type is dtype else _as(x, dtype), wt)
        if has_bias:
            acc += bt
        if wrap is not None:
            acc = wrap(acc)
        return cast(acc)

    return step, _Value(dtype, _fmt_bound(yf))


_FOLDED_ROUNDING = {"TRN": (0.0, np.floor), "RND": (0.5, np.floor), "RND_MIN_INF": (-0.5, np.ceil)}
_FOLDED_ROUNDING |= {"RND_CONV": (0.0, np.rint), "TRN_ZERO": (0.0, np.trunc)}


def _folded_dense(wo, b_eff, bound: int, in_frac: int, lo: int, hi: int, fmt, dtype, relu):
    """Dense + output cast (+ fused ReLU) as ``clip(round(x @ (W * 2**-d) + (b * 2**-d + r)))``.

    Exact when every partial sum, with the rounding offset r, is a multiple of 2**-d below 2**(p-1)
    (p: the carrier's mantissa bits); the rounding is one ufunc (floor/ceil/rint/trunc) and the
    saturation one clip. None when the output cast needs another rounding or overflow mode."""
    p = _CARRIER_BITS[dtype] + 1
    d = in_frac - fmt.frac_bits
    if d > 0:
        if fmt.rounding not in _FOLDED_ROUNDING or (bound + (1 << d)).bit_length() > p - 1:
            return None
        r, rnd = _FOLDED_ROUNDING[fmt.rounding]
        lo, hi = lo >> d, -((-hi) >> d)
    else:
        if (bound << -d).bit_length() > p - 1:
            return None
        r, rnd = 0.0, None
        lo, hi = lo << -d, hi << -d
    olo, ohi = _acc_limits(fmt) if fmt.overflow != "SAT_SYM" or fmt.width > 1 else (fmt.raw_min, fmt.raw_max)
    clip_lo = clip_hi = None
    if lo < olo or hi > ohi:
        if fmt.overflow not in ("SAT", "SAT_SYM"):
            return None
        clip_lo, clip_hi = (olo if lo < olo else None), (ohi if hi > ohi else None)
        lo, hi = max(lo, olo), min(hi, ohi)
    out_fmt = fmt
    if relu is not None:
        # fused only when the ReLU's own cast leaves [0, hi] unchanged
        if relu.frac_bits != fmt.frac_bits or not (relu.raw_min <= 0 and max(hi, 0) <= relu.raw_max):
            return None
        clip_lo = 0 if lo < 0 else clip_lo
        if clip_hi is not None and clip_hi < 0:
            clip_hi = 0
        out_fmt = relu
    scale = 2.0**-d
    wt = np.ascontiguousarray((wo.T.astype(np.float64) * scale).astype(dtype))  # exact: powers of two
    bt = (b_eff.astype(np.float64) * scale + r).astype(dtype)[None, :]  # (1, M): no broadcast for one vector
    clip_lo, clip_hi = (None if c is None else _const(c, dtype) for c in (clip_lo, clip_hi))
    has_bias = bool(np.any(bt != 0))

    def step(x):
        acc = _dot(x if x.dtype.type is dtype else _as(x, dtype), wt)
        if has_bias:
            acc += bt
        if rnd is not None:
            rnd(acc, out=acc)
        if clip_lo is not None:
            if clip_hi is not None:
                _clip(acc, clip_lo, clip_hi, out=acc)
            else:
                np.maximum(acc, clip_lo, out=acc)
        elif clip_hi is not None:
            np.minimum(acc, clip_hi, out=acc)
        return acc

    return step, _Value(dtype, _fmt_bound(out_fmt))


def _relu_step(op, graph: Graph, vin: _Value):
    """max(x, 0) then the cast to the output format, on the float carrier."""
    xf, yf = graph.tensor(op.inputs[0]).fmt, graph.tensor(op.output).fmt
    if vin.dtype is None or not (_is_fixed(xf) and _is_fixed(yf)):
        return None
    dtype = vin.dtype
    cast = _float_cast(xf.frac_bits, 0, max(xf.raw_max, 0), yf, dtype)
    if cast is None:
        return None
    zero = _const(0, dtype)
    return (lambda x: cast(np.maximum(x, zero))), _Value(dtype, _fmt_bound(yf))


def _requantize_step(op, graph: Graph, vin: _Value):
    """A fixed-to-fixed ``cast`` requantize on the float carrier."""
    xf, yf = graph.tensor(op.inputs[0]).fmt, graph.tensor(op.output).fmt
    if op.mode != "cast" or vin.dtype is None or not (_is_fixed(xf) and _is_fixed(yf)):
        return None
    cast = _float_cast(xf.frac_bits, xf.raw_min, xf.raw_max, yf, vin.dtype)
    if cast is None:
        return None
    return (lambda x: cast(x.copy())), _Value(vin.dtype, _fmt_bound(yf))


def _layout_step(op, graph: Graph, vin: _Value):
    """Flatten / reshape: the raws are unchanged, on any carrier."""
    shape = graph.tensor(op.output).shape
    return (lambda x: x.reshape((x.shape[0], *shape))), vin


_FAST: dict[str, Callable] = {
    "dense": _dense_step,
    "relu": _relu_step,
    "requantize": _requantize_step,
    "flatten": _layout_step,
    "reshape": _layout_step,
}


#: batches at least this large run with one BLAS thread (a few tens of microseconds to set up)
_THREAD_LIMIT_BATCH = 64
_CONTROLLER: list = []


def _one_blas_thread():
    """A context manager limiting BLAS to one thread (threadpoolctl, when installed), else None.

    Integer-valued float products are exact in any thread count; one thread avoids OpenBLAS's thread
    hand-off, which on a loaded machine costs more than the products themselves."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _CONTROLLER.append(None)
    c = _CONTROLLER[0]
    return None if c is None else c.limit(limits=1, user_api="blas")


@dataclass
class _Step:
    output: str
    inputs: list[str]
    fn: Callable
    fast: bool


@dataclass
class Program:
    """A graph's ops as exact numpy steps (see the module docstring). Build with ``compile_graph``.

    A snapshot: it keeps the weights as they were when compiled (``hwq.ir.run`` recompiles by itself
    when the graph changes). It holds the graph weakly, so a cached program never keeps a graph alive.
    """

    graph_ref: Callable[[], Graph | None]
    steps: list[_Step] = field(default_factory=list)
    carriers: dict[str, object] = field(default_factory=dict)  # tensor -> float dtype or None (int raws)
    #: (name, shape, raw_min, raw_max, carrier dtype) of a single fixed-point graph input, for the
    #: direct path of ``run`` (an int64 raw array: range check and conversion only), else None
    direct_input: tuple | None = None
    #: (step functions, output name) when the steps form one chain from the single graph input to the
    #: single graph output (each step reading only the previous one's result), else None: ``run`` then
    #: calls the functions in turn on small batches, without the name-to-array dictionary
    chain: tuple | None = None

    @property
    def graph(self) -> Graph:
        """The compiled graph (GraphError once it no longer exists)."""
        g = self.graph_ref()
        if g is None:
            raise GraphError("compiled program: its graph no longer exists")
        return g

    def run(self, inputs, trace: bool = False):
        """``hwq.ir.run`` with this plan: inputs as ``quantize_inputs`` takes them; returns a RunResult
        (raws of the graph outputs, of every tensor with ``trace``).

        One integer raw array for a single fixed-point input (the usual test-bench call) takes the
        direct path: a shape check, the range check (skipped when the array's dtype cannot exceed the
        format's range) and the conversion to the input's carrier; a chain of steps then runs without
        building the tensor dictionary when the batch is below the one-BLAS-thread size."""
        g = self.graph_ref()
        if g is None:
            raise GraphError("compiled program: its graph no longer exists")
        fast = self.direct_input
        if fast is not None and type(inputs) is np.ndarray and inputs.dtype.kind == "i" and inputs.size:
            name, shape, lo, hi, carrier, safe = fast
            if inputs.shape[1:] == shape:  # one integer raw array: the range check and the carrier only
                if inputs.dtype not in safe and (_MIN(inputs, None) < lo or _MAX(inputs, None) > hi):
                    raise GraphError(f"graph {g.name!r}: raw input {name!r} outside the range of {g.tensor(name).fmt}")
                x = inputs.astype(carrier)
                chain = self.chain
                if chain is None or trace or x.shape[0] >= _THREAD_LIMIT_BATCH:
                    return RunResult(g, self.execute({name: x}, trace, g))
                fns, out = chain
                for f in fns:
                    x = f(x)
                return RunResult(g, {out: x.astype(np.int64) if x.dtype.kind == "f" else x})
        return RunResult(g, self.execute(quantize_inputs(g, inputs, self.carriers), trace, g))

    def execute(self, values: dict[str, np.ndarray], trace: bool = False, graph: Graph | None = None):
        """Run on raw inputs (dict by name, leading batch axis; int raws, or float-carried raws as
        ``quantize_inputs(..., carriers)`` returns them); returns a dict of int64/object raws of the
        graph outputs (of every tensor with ``trace``)."""
        env = dict(values)
        for name, dt in self.carriers.items():
            if dt is not None and name in env and env[name].dtype != dt:
                env[name] = env[name].astype(dt)
        batch = next(iter(values.values())).shape[0] if values else 0
        limiter = _one_blas_thread() if batch >= _THREAD_LIMIT_BATCH else None
        if limiter is None:
            self._loop(env)
        else:
            with limiter:
                self._loop(env)
        names = env if trace else (graph or self.graph).outputs
        return {n: _as(env[n], None) for n in names}

    def _loop(self, env: dict) -> None:
        for s in self.steps:
            ins = s.inputs
            env[s.output] = s.fn(env[ins[0]]) if len(ins) == 1 else s.fn(*[env[i] for i in ins])


def _generic(op, fn, graph_ref, floats: list[bool]):
    """Run the op module's evaluate on int raws (float-carried inputs converted exactly to int64)."""

    def step(*args):
        args = [a.astype(np.int64) if f else a for a, f in zip(args, floats, strict=True)]
        return fn(op, args, graph_ref())

    return step


def _fusable_relu(op, graph: Graph):
    """The ReLU that is the only reader of dense ``op``'s output (not itself a graph output), or None."""
    if op.kind != "dense" or op.output in graph.outputs:
        return None
    readers = graph.consumers(op.output)
    if len(readers) != 1 or readers[0].kind != "relu" or list(readers[0].inputs) != [op.output]:
        return None
    return readers[0] if _is_fixed(graph.tensor(readers[0].output).fmt) else None


def compile_graph(graph: Graph, fuse: bool = True) -> Program:
    """Plan ``graph`` for ``Program.execute``: one step per op, float-carried where provably exact.

    ``fuse``: a Dense layer and the ReLU that alone reads it become one step (the Dense output is then
    never materialised; ``run(trace=True)`` compiles without fusing). Raises GraphError naming the op
    for an op kind without an implementation or with float parameters.
    """
    prog = Program(weakref.ref(graph))
    fused: set[int] = set()
    vals: dict[str, _Value] = {}
    for name in graph.inputs:
        fmt = graph.tensor(name).fmt
        dt = _carrier_for(_fmt_bound(fmt)) if _is_fixed(fmt) else None
        if dt is not None and not any(op.kind in _FAST for op in graph.consumers(name)):
            dt = None
        vals[name] = _Value(dt, _fmt_bound(fmt) if _is_fixed(fmt) else 0)
    for op in graph.ops:
        fn = EVALUATORS.get(op.kind)
        if fn is None:
            raise GraphError(f"op {op.name!r}: the interpreter has no implementation of op kind {op.kind!r}")
        for pname, arr in op.params().items():
            if isinstance(arr, np.ndarray) and arr.dtype.kind not in "iu" and arr.dtype != object:
                raise GraphError(
                    f"op {op.name!r} ({op.kind}): parameter {pname!r} holds {arr.dtype} values, not integer raws; "
                    "quantise it first (hwq.ir.passes.fold_constants)"
                )
        if id(op) in fused:
            continue
        made, output = None, op.output
        if op.kind in _FAST and len(op.inputs) == 1:
            vin = vals.get(op.inputs[0])
            if vin is not None and (vin.dtype is not None or op.kind == "dense"):
                try:
                    relu = _fusable_relu(op, graph) if fuse else None
                    if relu is not None:
                        made = _dense_step(op, graph, vin, graph.tensor(relu.output).fmt)
                        if made is not None:
                            fused.add(id(relu))
                            output = relu.output
                    if made is None:
                        made = _FAST[op.kind](op, graph, vin)
                except (AttributeError, TypeError, ValueError):  # unusual attributes: the op's own evaluate
                    made, output = None, op.output
        if made is not None:
            step_fn, vout = made
            prog.steps.append(_Step(output, list(op.inputs), step_fn, True))
            vals[output] = vout
            continue
        floats = [i in vals and vals[i].dtype is not None for i in op.inputs]
        prog.steps.append(_Step(op.output, list(op.inputs), _generic(op, fn, prog.graph_ref, floats), False))
        vals[op.output] = _Value(None, 0)
    prog.carriers = {n: v.dtype for n, v in vals.items() if n in graph.inputs}
    if len(graph.inputs) == 1:
        name = graph.inputs[0]
        t = graph.tensor(name)
        if _is_fixed(t.fmt) and _fmt_bound(t.fmt).bit_length() <= 62:
            carrier = prog.carriers.get(name) or np.int64
            lo, hi = t.fmt.raw_min, t.fmt.raw_max
            safe = frozenset(  # integer dtypes whose every value is a raw of the format: no range check
                np.dtype(d) for d in _INT_DTYPES if np.iinfo(d).min >= lo and np.iinfo(d).max <= hi
            )
            prog.direct_input = (name, tuple(t.shape), lo, hi, carrier, safe)
        prog.chain = _chain(prog.steps, name, graph.outputs)
    return prog


_INT_DTYPES = (np.int8, np.int16, np.int32, np.int64)


def _chain(steps: list[_Step], name: str, outputs: list[str]) -> tuple | None:
    """(functions, output name) when ``steps`` read ``name`` then each the previous result, and the
    last writes the single graph output; else None."""
    if not steps or len(outputs) != 1 or steps[-1].output != outputs[0]:
        return None
    prev = name
    for s in steps:
        if s.inputs != [prev]:
            return None
        prev = s.output
    return tuple(s.fn for s in steps), prev


# ------------------------------------------------------------------ per-graph cache for hwq.ir.run


def _freeze(v):
    """A comparable snapshot of an op attribute (arrays by dtype, shape and bytes)."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is np.ndarray:
        if v.dtype == object:
            return ("O", v.shape, tuple(v.ravel().tolist()))
        return (v.dtype.str, v.shape, v.tobytes())
    if t is list or t is tuple:
        return tuple(_freeze(i) for i in v)
    if t is dict:
        return tuple((k, _freeze(i)) for k, i in v.items())
    return v


def _array_state(v: np.ndarray):
    """What an array attribute's content check compares against: a private bytearray of a C-contiguous
    numeric array (compared with the live array by one ``memcmp``, no copy), else bytes or a tuple."""
    if v.dtype == object:
        return tuple(v.ravel().tolist())
    if v.flags.c_contiguous:
        return bytearray(v.tobytes())
    return v.tobytes()


def _same_content(v: np.ndarray, state) -> bool:
    """True when array ``v`` still holds the values ``_array_state`` recorded (exact, byte for byte)."""
    t = type(state)
    if t is bytearray:
        # bytearray == <C-contiguous buffer> is a memcmp of the two buffers; anything else (the array
        # made non-contiguous meanwhile) is not the literal True and counts as changed
        return (state == v) is True
    if t is bytes:
        return v.dtype != object and v.tobytes() == state
    return v.dtype == object and tuple(v.ravel().tolist()) == state


class _Snapshot:
    """What a compiled program depends on, taken when it was compiled: the graph's inputs and outputs,
    its tensors (name, shape, format), its op objects, every op attribute (lists and dicts of plain
    values as deep copies), and the content of every array attribute.

    ``matches`` costs a few C-level comparisons per op plus one ``memcmp`` per weight array: identities
    (the same op, tensor and array objects), then ``==`` of the attribute dicts (identical objects
    compare equal without looking inside, copied lists by value), then each array's dtype, shape and
    bytes against a private copy, so that in-place edits of weights are seen too."""

    def __init__(self, graph: Graph) -> None:
        self.io = (list(graph.inputs), list(graph.outputs))
        self.tensor_names = list(graph.tensors)
        self.tensors = list(graph.tensors.values())
        self.tensor_attrs = [dict(vars(t)) for t in self.tensors]
        self.ops = list(graph.ops)
        self.attrs: list[dict] = []
        self.arrays: list[tuple] = []  # (op, name, array, dtype, shape, _array_state)
        self.frozen: list[tuple] = []  # (op, name, _freeze(v)): containers holding arrays or other objects
        for op in self.ops:
            d = {}
            for name, v in vars(op).items():
                if isinstance(v, np.ndarray):
                    self.arrays.append((op, name, v, v.dtype, v.shape, _array_state(v)))
                elif isinstance(v, (list, tuple, dict)):
                    if _is_plain(v):
                        v = copy.deepcopy(v) if type(v) is not tuple else v  # a plain tuple cannot change
                    else:
                        self.frozen.append((op, name, _freeze(v)))
                d[name] = v
            self.attrs.append(d)

    def matches(self, graph: Graph) -> bool:
        """True while ``graph`` is unchanged since the snapshot."""
        ops, tensors = graph.ops, graph.tensors
        if len(ops) != len(self.ops) or not all(map(is_, ops, self.ops)):
            return False
        if len(tensors) != len(self.tensors) or not all(map(is_, tensors.values(), self.tensors)):
            return False
        try:
            # identical objects compare equal without looking inside: unchanged arrays cost a pointer
            # comparison; the copied lists (op inputs) are compared by value
            if (graph.inputs, graph.outputs) != self.io or list(tensors) != self.tensor_names:
                return False
            if list(map(vars, self.tensors)) != self.tensor_attrs or list(map(vars, ops)) != self.attrs:
                return False
            for op, name, fz in self.frozen:
                if _freeze(getattr(op, name)) != fz:
                    return False
        except Exception:  # e.g. an attribute replaced by an array, compared element-wise
            return False
        for op, name, arr, dt, shape, state in self.arrays:
            if getattr(op, name) is not arr or arr.dtype is not dt or arr.shape != shape:
                return False
            if type(state) is bytearray:  # the usual case inline: one memcmp (see _same_content)
                if (state == arr) is not True:
                    return False
            elif not _same_content(arr, state):
                return False
        return True


def _is_plain(v) -> bool:
    """True when ``v`` is built only of str/int/float/bool/None/format values and lists/tuples/dicts of
    them (so that ``==`` on a deep copy detects any change)."""
    t = type(v)
    if t in (list, tuple):
        return all(_is_plain(i) for i in v)
    if t is dict:
        return all(_is_plain(k) and _is_plain(i) for k, i in v.items())
    return v is None or t in (str, int, float, bool) or type(v).__module__.startswith("hwq.formats")


_CACHE: dict[tuple, tuple] = {}


def cached_program(graph: Graph, trace: bool = False) -> Program:
    """The compiled program of ``graph`` (unfused when ``trace``), recompiled whenever the graph has
    changed since (see ``_Snapshot``)."""
    key = (id(graph), trace)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is graph and hit[1].matches(graph):
        return hit[2]
    snap = _Snapshot(graph)
    prog = compile_graph(graph, fuse=not trace)
    ref = weakref.ref(graph, lambda _r, k=key, c=_CACHE: c.pop(k, None))
    _CACHE[key] = (ref, snap, prog)
    return prog
