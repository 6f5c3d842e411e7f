"""Digits models in the CMSIS-NN profile (hwq.nn.cmsis), PTQ-calibrated on the digits training split, as IR
graphs for the MCU generator tests. Weights are the float models' seeded initial values (bit-exactness does not
depend on accuracy); the trained QAT/PTQ runs of ``examples/*_cmsis_*.toml`` are covered by slow tests."""

from __future__ import annotations

import functools

ARCHS = ("mlp", "cnn", "dscnn", "rescnn")


@functools.cache
def cmsis_graph(arch: str, weights: str = "int8", activations: str = "int8", single: bool = False, seed: int = 0):
    """IR graph of the digits ``arch`` in the CMSIS-NN profile (calibrated with minmax on 512 samples)."""
    import torch

    from hwq.data.digits import load_digits_split
    from hwq.nn.cmsis import calibrate, cmsis_from_float
    from hwq.train import models

    torch.manual_seed(seed)
    image = arch != "mlp"
    split = load_digits_split(image=image)
    build = {"mlp": models.digits_mlp, "cnn": models.digits_cnn, "dscnn": models.digits_dscnn,
             "rescnn": models.digits_rescnn}[arch]  # fmt: skip
    net = cmsis_from_float(build(), {"weights": weights, "activations": activations, "single_rounding": single})
    x = torch.as_tensor(split.x_train[:512]).float()
    calibrate(net, x, "minmax")
    name = f"digits_{arch}_{weights}_{activations}{'_sr' if single else ''}"
    return net.lower_to_ir(x[:1], name)
