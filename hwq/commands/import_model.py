"""``hwq import {qonnx,brevitas}``: turn an already-quantised model into hwq IR (``RUN/graph.json``), exactly.

``qonnx FILE``: a QONNX file (Brevitas ``export_qonnx``, FINN, hls4ml's exchange format).
``brevitas --model SPEC --input-shape C,H,W``: SPEC is ``package.module:function`` or ``file.py:function``
returning the Brevitas model (weights loaded); the input shape excludes the batch.

Only fixed-point grids (power-of-two scales, zero point 0) with float32-exact layer sums are accepted;
anything else is refused naming the layer (see ``hwq.interop``). The graph then goes through ``hwq emit``,
``hwq verify``, ``hwq cost`` like any other.
"""

from __future__ import annotations

import json

from hwq.cli import UserError, add_command


def register(sub) -> None:
    p = add_command(
        sub,
        "import",
        help="import a QONNX file or a Brevitas model as hwq IR (exact, or refused naming the layer)",
        description=__doc__,
        examples=[
            "hwq import qonnx model.onnx --out runs/imported",
            "hwq import brevitas --model mypkg.models:trained_cnn --input-shape 1,28,28 --out runs/brev",
        ],
        out=True,
    )
    p.add_argument("source", choices=("qonnx", "brevitas"), help="what to import")
    p.add_argument("file", nargs="?", help="qonnx: the .onnx file")
    p.add_argument("--model", help="brevitas: module:function (or file.py:function) returning the model")
    p.add_argument("--input-shape", help="brevitas: one sample's shape without the batch, e.g. 1,28,28 or 64")
    p.add_argument("--name", help="graph name (default: the file's or model's name)")
    p.set_defaults(func=run)


def _shape(text: str | None) -> tuple[int, ...]:
    if not text:
        raise UserError("--input-shape: needed for a Brevitas model (one sample's shape, e.g. 1,28,28)")
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input-shape: expected comma-separated positive integers, got {text!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise UserError(f"--input-shape: expected comma-separated positive integers, got {text!r}")
    return shape


def run(args) -> int:
    from hwq.interop import InteropError
    from hwq.io import atomic_write, staged_out_dir
    from hwq.ir.serialize import dumps

    try:
        if args.source == "qonnx":
            if not args.file:
                raise UserError("qonnx: give the .onnx file")
            from hwq.interop import from_qonnx

            graph = from_qonnx(args.file, name=args.name)
        else:
            if args.file:
                raise UserError("brevitas: takes --model, not a file argument")
            if not args.model:
                raise UserError("brevitas: --model module:function is needed")
            import torch

            from hwq.interop import from_brevitas
            from hwq.train.user import UserModelError, load_callable

            shape = _shape(args.input_shape)
            try:
                model = load_callable(args.model, "--model")()
            except UserModelError as e:
                raise UserError(str(e)) from None
            except Exception as e:  # noqa: BLE001 - user code
                raise UserError(f"--model: {args.model} raised {type(e).__name__}: {e}") from None
            example = torch.randn(8, *shape, generator=torch.Generator().manual_seed(0))
            graph = from_brevitas(model, example, name=args.name)
    except InteropError as e:
        raise UserError(str(e)) from None
    formats = {t.name: str(t.fmt) for t in graph.tensors.values()}
    with staged_out_dir(args.out, args.force) as tmp:
        atomic_write(tmp / "graph.json", dumps(graph))
        summary = {"name": graph.name, "imported_from": graph.meta.get("imported_from"), "formats": formats}
        atomic_write(tmp / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(f"import {args.source}: {graph.name}: {len(graph.ops)} ops, wrote {args.out}/graph.json")
    return 0
