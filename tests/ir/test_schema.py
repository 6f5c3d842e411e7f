"""The published IR schema (``hwq.ir.schema``): derived from the op dataclasses, names the JSON path of the
first bad field, and its JSON Schema form accepts real graphs and rejects malformed ones."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from hwq.ir import OPS, GraphError, Op
from hwq.ir.random_graph import random_graph
from hwq.ir.schema import MAX_ELEMENTS, field_spec, json_schema, op_specs, validate_document
from hwq.ir.serialize import graph_from_dict, graph_to_dict


def _docs() -> list[dict]:
    out = []
    for seed, ops in enumerate(
        [
            ["dense", "relu", "dense"],
            ["conv2d", "maxpool", "flatten", "dense"],
            ["conv1d", "batchnorm", "avgpool", "global_avgpool"],
            ["conv2d", "add", "mul", "clip", "concat", "lut", "reshape"],
            ["dense", "add_dyadic", "mul_dyadic", "requantize_s64"],
        ]
    ):
        try:
            g = random_graph(seed, ops=ops, max_width=8)
        except Exception:  # an op this version does not draw
            continue
        out.append(json.loads(json.dumps(graph_to_dict(g))))
    return out


DOCS = _docs()


def _bad(doc: dict, match: str) -> None:
    with pytest.raises(GraphError, match=match):
        graph_from_dict(doc, "g.json")


def test_every_op_kind_and_field_is_in_the_schema():
    schema = json_schema()
    for kind, cls in OPS.items():
        d = schema["$defs"][f"op_{kind}"]
        fields = {f.name for f in dataclasses.fields(cls)}
        assert fields <= set(d["properties"]), (kind, fields - set(d["properties"]))
        for s in op_specs(cls):
            assert s.kind != "any" or s.name in ("function",), (kind, s)  # every field has a known kind


def test_a_new_op_class_is_covered_without_editing_the_schema():
    @dataclasses.dataclass
    class Probe(Op):
        kind = "probe_for_schema_test"
        table: np.ndarray = None
        window: tuple[int, int] = (1, 1)
        gain: int = 3
        bound: int | None = None
        acc_fmt: object = None
        offset: int = dataclasses.field(default=0, metadata={"omit_default": True})

    specs = {s.name: s for s in op_specs(Probe)}
    assert specs["table"].kind == "array" and specs["window"].kind == "ints" and specs["window"].length == 2
    assert specs["gain"].kind == "int" and not specs["gain"].nullable
    assert specs["bound"].nullable and specs["acc_fmt"].kind == "format"
    assert specs["offset"].required is False and specs["gain"].required is True
    assert field_spec(next(f for f in dataclasses.fields(Probe) if f.name == "window")).kind == "ints"


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("outputs"), r"g\.json: outputs: missing key 'outputs'"),
        (
            lambda d: d["ops"][0]["weight"]["shape"].__setitem__(0, None),
            r"ops\[0\]\.weight\.shape\[0\]: op '.*' \(dense\)",
        ),
        (lambda d: d["ops"][0].__setitem__("weight", 5), r"ops\[0\]\.weight: .*expected an object, got 5"),
        (lambda d: d["ops"][0]["weight"].__setitem__("data", "!!"), r"ops\[0\]\.weight\.data: .*not valid base64"),
        (lambda d: d["ops"][0]["weight"].__setitem__("data", "AAAA"), r"ops\[0\]\.weight\.data: .*holds 3 bytes"),
        (lambda d: d["ops"][0]["acc_fmt"].__setitem__("format", "e4m3fn"), r"ops\[0\]\.acc_fmt\.format: .*fixed-point"),
        (lambda d: d["ops"][0].__setitem__("colour", 1), r"ops\[0\]\.colour: op '.*' \(dense\): unknown attribute"),
        (lambda d: d["ops"][0].__setitem__("kind", "softmax9"), r"ops\[0\]\.kind: op '.*' has unknown kind"),
        (lambda d: d["tensors"][0].__setitem__("shape", [10**12]), r"tensors\[0\]\.shape\[0\]: .*\[0, 2147483647\]"),
        (lambda d: d["tensors"][0].__setitem__("shape", [4096, 4096, 4]), rf"more than the limit of {MAX_ELEMENTS}"),
        (lambda d: d["tensors"][1].__setitem__("format", "fixed<8,99999>"), r"tensors\[1\]\.format: .*binary point"),
        (
            lambda d: d["tensors"][1].__setitem__("format", "fixed<8;3>"),
            r"tensors\[1\]\.format: tensor '.*': bad format",
        ),
        (lambda d: d.__setitem__("hwq_ir", True), r"IR schema version true is not supported"),
        (lambda d: d.__setitem__("inputs", []), r"inputs: a graph needs at least one tensor"),
        (lambda d: d["ops"][0].__setitem__("inputs", "x"), r"ops\[0\]\.inputs: .*expected a list"),
    ],
)
def test_bad_fields_are_named_by_their_json_path(mutate, match):
    doc = copy.deepcopy(DOCS[0])
    mutate(doc)
    _bad(doc, match)


def test_valid_documents_pass_the_checker_and_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for d in DOCS:
        validate_document(d, "g.json")
        jsonschema.validate(d, schema)


def test_json_schema_rejects_what_the_checker_rejects():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    for mutate in (
        lambda d: d["ops"][0]["weight"]["shape"].__setitem__(0, None),
        lambda d: d["ops"][0].__setitem__("colour", 1),
        lambda d: d["tensors"][0].__setitem__("shape", "4"),
        lambda d: d.pop("ops"),
        lambda d: d["ops"][0].__setitem__("kind", "softmax9"),
    ):
        doc = copy.deepcopy(DOCS[0])
        mutate(doc)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schema)
        with pytest.raises(GraphError):
            validate_document(doc, "g.json")


def test_schema_module_prints_the_json_schema():
    r = subprocess.run([sys.executable, "-m", "hwq.ir.schema"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["properties"]["hwq_ir"] == {"const": 1} and "op_dense" in s["$defs"]
