"""Per-patch mixed precision in the CMSIS-NN profile emulator (``hwq.nn.patch_precision``): the torch node equals
``hwq.ir.run`` integer for integer on 1,000 digits vectors (residual and plain CNN, several maps, uneven grids);
the torch function equals the IR evaluator on random raws; training mode is the same values; the search keeps
its accuracy budget, sizes the packed map, and gives up below ``min_saving``; the default criterion bounds the
prediction flips against the 8-bit model (Clopper-Pearson) and refuses what too few images cannot certify."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hwq.ir import run
from hwq.ir.ops.patch_quant import packed_bytes
from hwq.nn.patch_precision import CPatchQuant, insert_patch_quant, patch_quant_raw, select_patch_bits


@functools.cache
def digits_net(arch: str):
    """A calibrated digits ``arch`` in the CMSIS-NN profile (seeded initial weights) and the digits split."""
    from hwq.data.digits import load_digits_split
    from hwq.nn.cmsis import calibrate, cmsis_from_float
    from hwq.train import models

    torch.manual_seed(0)
    split = load_digits_split(image=True)
    build = {"cnn": models.digits_cnn, "rescnn": models.digits_rescnn}[arch]
    net = cmsis_from_float(build(), {"weights": "int8", "activations": "int8", "single_rounding": False})
    calibrate(net, torch.as_tensor(split.x_train[:512]).float(), "minmax")
    return net.eval(), split


MAPS = [
    ("rescnn", "conv1", (4, 4), [8, 4, 2, 6] * 4, None),
    ("rescnn", "conv1", (3, 2), [2, 3, 4, 5, 6, 7], [0, 5, 1, 3, 2, 1]),
    ("cnn", "conv1", (2, 2), [4, 4, 8, 2], [2, 4, 0, 1]),
    ("cnn", "pool1", (4, 3), [1, 2, 8, 3, 4, 5, 6, 7, 8, 2, 4, 6], None),
]


@pytest.mark.parametrize("case", MAPS, ids=lambda c: f"{c[0]}-{c[1]}-{c[2][0]}x{c[2][1]}")
def test_emulator_equals_interpreter_1000_vectors(case):
    arch, after, grid, bits, shifts = case
    net, split = digits_net(arch)
    pn = insert_patch_quant(net, after, grid, bits, shifts).eval()
    x = torch.as_tensor(np.concatenate([split.x_train, split.x_test])[:1000]).float()
    g = pn.lower_to_ir(x[:1], f"digits_{arch}_pq")
    assert [op.kind for op in g.ops].count("patch_quant") == 1
    q, _ = pn.int_forward(x)
    got = run(g, {"input": pn.inq.fmt().to_raw(x.double().numpy())}).outputs()[0]
    assert np.asarray(got).shape == (1000, 10)
    assert (np.asarray(got) == q.numpy()).all()
    q0, _ = net.int_forward(x)
    if min(bits) < 8:
        assert (q0 != q).any()  # the op changes something on the way


@pytest.mark.parametrize("seed", range(6))
def test_torch_function_equals_ir_evaluator(seed):
    from hwq.formats import parse
    from hwq.ir import Graph
    from hwq.ir.ops.patch_quant import PatchQuant

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(2, 10)), int(rng.integers(2, 10)))
    grid = (int(rng.integers(1, min(shape[1], 4) + 1)), int(rng.integers(1, min(shape[2], 4) + 1)))
    bits = [int(b) for b in rng.integers(1, 9, grid[0] * grid[1])]
    shifts = [int(rng.integers(0, 9 - b)) for b in bits]
    base = int(rng.integers(-128, 0))
    g = Graph("pq", ["x"], ["y"])
    g.add_tensor("x", shape, parse("int<8>"))
    g.add_tensor("y", shape, parse("int<8>"))
    g.add_op(PatchQuant("pq", ["x"], "y", grid=grid, bits=tuple(bits), base=base, shifts=tuple(shifts)))
    x = rng.integers(-128, 128, (64, *shape))
    want = run(g, {"x": x}).outputs()[0]
    got = patch_quant_raw(torch.from_numpy(x), grid, bits, shifts, base, -128, 127).numpy()
    assert (got == want).all()


def test_training_mode_gives_the_same_values_with_a_gradient():
    net, split = digits_net("rescnn")
    pn = insert_patch_quant(net, "conv1", (2, 2), [2, 4, 6, 8])
    node = next(n for n in pn.nodes if isinstance(n, CPatchQuant))
    fin = pn.nodes[0].act
    f = fin.fmt()
    s, z = float(f.scale[0]), int(f.zero_point[0])
    q = torch.randint(-128, 128, (5, 8, 8, 8))
    xf = ((q - z).double() * s).float().requires_grad_(True)
    y = node.float_forward(xf, fin)
    want = (node.int_forward(q, f)[0] - z).double() * s
    assert torch.allclose(y.double(), want, rtol=0, atol=s * 1e-3)
    y.sum().backward()
    assert torch.equal(xf.grad, torch.ones_like(xf))  # straight through


def test_search_keeps_its_budget_and_sizes_the_packed_map():
    net, split = digits_net("rescnn")
    x = torch.as_tensor(split.x_train[:200]).float()
    y = torch.as_tensor(split.y_train[:200]).long()
    old = dict(criterion="lost", confidence=None)  # the session-5 criterion: images lost, no bound
    ch = select_patch_bits(net, "conv1", x, y, (4, 4), max_drop=0.01, max_loss=0.05, **old)
    assert ch.calib_accuracy >= ch.calib_accuracy_8bit - 0.01
    assert ch.calib_loss <= ch.calib_loss_8bit + 0.05
    assert ch.int8_bytes == 8 * 8 * 8
    assert ch.packed_bytes == packed_bytes((8, 8, 8), (4, 4), ch.bits) < ch.int8_bytes
    assert all(0 <= k <= 8 - b for b, k in zip(ch.bits, ch.shifts))
    # the choice, applied, gives exactly the accuracy the search reported
    pn = insert_patch_quant(net, "conv1", ch.grid, ch.bits, ch.shifts).eval()
    q, f = pn.int_forward(x)
    assert float((q.argmax(1) == y).double().mean()) == pytest.approx(ch.calib_accuracy, abs=1e-12)
    again = select_patch_bits(net, "conv1", x, y, (4, 4), max_drop=0.01, max_loss=0.05, **old)
    assert (again.bits, again.shifts) == (ch.bits, ch.shifts)


def test_search_gives_up_below_min_saving_and_refuses_unknown_nodes():
    net, split = digits_net("cnn")
    x = torch.as_tensor(split.x_train[:200]).float()
    y = torch.as_tensor(split.y_train[:200]).long()
    ch = select_patch_bits(net, "pool1", x, y, (2, 2), min_saving=10**6)
    assert ch.bits == (8, 8, 8, 8) and ch.packed_bytes == ch.int8_bytes
    assert ch.calib_accuracy == ch.calib_accuracy_8bit
    with pytest.raises(ValueError, match=r"insert_patch_quant: no node 'conv9'"):
        insert_patch_quant(net, "conv9", (1, 1), [4])


def test_step_choice_is_value_driven():
    """A patch whose values stay small gets an exact fine step at few bits; a patch with one outlier per
    sample needs a coarse step (or more bits), and its error at 2 bits is larger."""
    from hwq.nn.patch_precision import patch_steps

    rng = np.random.default_rng(0)
    q = torch.from_numpy(rng.integers(-128, -124, (32, 2, 4, 8)))  # every value within base + 3
    q[:, 0, 1, 5] = 120  # an outlier in the right patch of a 1x2 grid, every sample
    k, err = patch_steps(q, (1, 2), (8, 4, 2), -128, -128, 127)
    assert k[0, 2] == 0 and err[0, 2] == 0.0  # left patch: 2 bits, step 1, exact
    assert k[1, 2] > k[0, 2] and err[1, 2] > 0.0
    assert k[0, 8] == k[1, 8] == 0 and err[0, 8] == err[1, 8] == 0.0


def test_search_is_error_based_under_a_stated_tolerance():
    """The loss tolerance is what the search keeps (images lost, not net accuracy); a looser tolerance never
    costs memory; output error grows as widths fall; a memory measure that sees no saving drops the op."""
    net, split = digits_net("rescnn")
    x = torch.as_tensor(split.x_train[:200]).float()
    y = torch.as_tensor(split.y_train[:200]).long()
    old = dict(criterion="lost", confidence=None)  # the session-5 criterion: images lost, no bound
    strict = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.0, **old)
    loose = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.05, **old)
    assert strict.calib_lost == 0.0 and strict.tolerance == 0.0
    assert loose.calib_lost <= 0.05 and loose.packed_bytes <= strict.packed_bytes < strict.int8_bytes
    assert loose.calib_kl >= strict.calib_kl >= 0.0
    assert strict.memory_saved == strict.int8_bytes - strict.packed_bytes and strict.added_instructions > 0
    # lost fraction recomputed from the applied choice
    pn = insert_patch_quant(net, "conv1", loose.grid, loose.bits, loose.shifts).eval()
    q8, _ = net.int_forward(x)
    q, _ = pn.int_forward(x)
    lost = float(((q8.argmax(1) == y) & (q.argmax(1) != y)).double().mean())
    assert lost == pytest.approx(loose.calib_lost, abs=1e-12)
    flat = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.05, memory=lambda bits, shifts: 1000, **old)
    assert flat.bits == (8,) * 16 and flat.memory_saved == 0 and "no op" in flat.log[-2]
    # weighing instructions: a high enough price per instruction makes the op not worth it
    pricey = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.05, bytes_per_instruction=1.0, **old)
    assert pricey.bits == (8,) * 16


def test_clopper_pearson_upper_bound():
    """No event in n trials: the exact bound 1 - (1 - c)**(1/n) (about 3 / n at 95 %); it grows with k; k = n: 1."""
    from hwq.nn.patch_precision import clopper_pearson_upper

    for n in (300, 1437):
        assert clopper_pearson_upper(0, n, 0.95) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)
    b = [clopper_pearson_upper(k, 1437, 0.95) for k in range(5)]
    assert all(u < v for u, v in zip(b, b[1:])) and b[2] < 0.005 < b[3]  # 2 flips in 1,437 certify 0.5 %, 3 do not
    assert clopper_pearson_upper(0, 300, 0.95) > 0.005  # 300 images cannot certify 0.5 % even with no flip
    assert clopper_pearson_upper(7, 7) == 1.0 and clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_upper(3, 100, 0.5) < clopper_pearson_upper(3, 100, 0.99)


def test_search_bounds_the_flips_against_the_8bit_model():
    """Default criterion: the predicted-class flips against the 8-bit model, judged by their 95 % upper bound;
    200 images cannot certify 0.5 %, so every patch stays at 8 bits; at 5 % the choice's flips, recomputed from
    the applied map, have a bound within it, and that bound is above the observed flip and loss rates."""
    net, split = digits_net("rescnn")
    x = torch.as_tensor(split.x_train[:200]).float()
    y = torch.as_tensor(split.y_train[:200]).long()
    few = select_patch_bits(net, "conv1", x, y, (2, 2), tolerance=0.005)
    assert few.bits == (8,) * 4 and few.criterion == "flips" and few.confidence == 0.95
    ch = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.05)
    assert min(ch.bits) < 8 and ch.calib_images == 200
    pn = insert_patch_quant(net, "conv1", ch.grid, ch.bits, ch.shifts).eval()
    p8, p = net.int_forward(x)[0].argmax(1), pn.int_forward(x)[0].argmax(1)
    k = int((p8 != p).sum())
    assert ch.calib_flips == pytest.approx(k / 200, abs=1e-12)
    assert ch.calib_flips <= ch.calib_bound <= 0.05 and ch.calib_lost <= ch.calib_flips
    # without the bound the same tolerance admits at least as small a map
    raw = select_patch_bits(net, "conv1", x, y, (4, 4), tolerance=0.05, confidence=None)
    assert raw.packed_bytes <= ch.packed_bytes and raw.calib_flips <= 0.05
    with pytest.raises(ValueError, match="select_patch_bits: criterion 'acc'"):
        select_patch_bits(net, "conv1", x, y, (2, 2), criterion="acc")
