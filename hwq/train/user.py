"""Bring your own model and data: ``model.factory`` and ``data.loader`` of a run config.

Both are "callable specs": ``"package.module:function"`` (an importable module) or
``"path/to/file.py:function"`` (a Python file, imported under a private name). The factory takes no
arguments and returns a float ``torch.nn.Module`` built from layers ``hwq.nn.quantize_model`` converts
(Linear, Conv1d/2d, BatchNorm, ReLU/ReLU6, pooling, Flatten, Dropout). The loader takes no arguments and
returns ``(x_train, y_train, x_test, y_test)`` as numpy arrays or torch tensors (x float, y integer class
labels), or ``(train_loader, test_loader)`` DataLoaders yielding ``(x, y)`` batches, which are gathered
once into arrays.

``hwq flow --model SPEC --data SPEC`` and ``hwq train`` with ``[model] factory = "..."`` / ``[data]
loader = "..."`` use them; every failure is a ``UserModelError`` naming the spec.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from hwq.data.digits import Split


class UserModelError(ValueError):
    """A bring-your-own-model spec that cannot be loaded or returns the wrong thing; names the spec."""


def load_callable(spec: str, key: str):
    """The function that ``spec`` (``module:function`` or ``file.py:function``) names; ``key`` is the config
    key or option it came from, for messages."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UserModelError(f"{key}: expected 'package.module:function' or 'path/file.py:function', got {spec!r}")
    mod_part, _, fn_name = spec.rpartition(":")
    if mod_part.endswith(".py") or "/" in mod_part or "\\" in mod_part:
        path = Path(mod_part)
        if not path.is_file():
            raise UserModelError(f"{key}: {path}: no such Python file")
        name = "hwq_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        if name in sys.modules:
            module = sys.modules[name]
        else:
            spec_obj = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec_obj)
            sys.modules[name] = module
            try:
                spec_obj.loader.exec_module(module)
            except Exception as e:  # noqa: BLE001 - user code: report, do not trace back
                del sys.modules[name]
                raise UserModelError(f"{key}: importing {path} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(mod_part)
        except Exception as e:  # noqa: BLE001 - user code
            raise UserModelError(f"{key}: cannot import module {mod_part!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise UserModelError(f"{key}: {mod_part!r} has no function {fn_name!r}")
    return fn


def build_user_model(spec: str, key: str = "model.factory"):
    """Call the model factory; the float ``nn.Module`` it returns."""
    from torch import nn

    fn = load_callable(spec, key)
    try:
        model = fn()
    except Exception as e:  # noqa: BLE001 - user code
        raise UserModelError(f"{key}: {spec} raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise UserModelError(f"{key}: {spec} returned {type(model).__name__}, expected a torch.nn.Module")
    return model


def _array(v, what: str, key: str, integer: bool) -> np.ndarray:
    try:
        import torch

        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    a = np.asarray(v)
    if a.dtype == object or a.ndim == 0:
        raise UserModelError(f"{key}: {what} is not a numeric array")
    if integer:
        if a.dtype.kind not in "iu":
            if a.dtype.kind != "f" or not np.all(a == np.round(a)):
                raise UserModelError(f"{key}: {what} must hold integer class labels, got dtype {a.dtype}")
        return a.astype(np.int64)
    if a.dtype.kind not in "fiu":
        raise UserModelError(f"{key}: {what} must be numeric, got dtype {a.dtype}")
    return np.ascontiguousarray(a.astype(np.float32))


def _gather(loader, what: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    try:
        for batch in loader:
            x, y = batch[0], batch[1]
            xs.append(_array(x, f"{what} x", key, False))
            ys.append(_array(y, f"{what} y", key, True))
    except UserModelError:
        raise
    except Exception as e:  # noqa: BLE001 - user code
        raise UserModelError(f"{key}: iterating the {what} loader failed: {type(e).__name__}: {e}") from None
    if not xs:
        raise UserModelError(f"{key}: the {what} loader yielded no batches")
    return np.concatenate(xs), np.concatenate(ys)


def load_user_data(spec: str, key: str = "data.loader") -> Split:
    """Call the data loader and return a ``Split`` (x float32 batch-first, y int64 labels)."""
    fn = load_callable(spec, key)
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - user code
        raise UserModelError(f"{key}: {spec} raised {type(e).__name__}: {e}") from None
    if not isinstance(out, (tuple, list)) or len(out) not in (2, 4):
        raise UserModelError(
            f"{key}: {spec} must return (x_train, y_train, x_test, y_test) or (train_loader, test_loader)"
        )
    if len(out) == 2:
        xtr, ytr = _gather(out[0], "train", key)
        xte, yte = _gather(out[1], "test", key)
    else:
        xtr, xte = (_array(out[i], n, key, False) for i, n in ((0, "x_train"), (2, "x_test")))
        ytr, yte = (_array(out[i], n, key, True) for i, n in ((1, "y_train"), (3, "y_test")))
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise UserModelError(f"{key}: x and y lengths differ ({len(xtr)}/{len(ytr)} train, {len(xte)}/{len(yte)} test)")
    if xtr.shape[1:] != xte.shape[1:]:
        raise UserModelError(f"{key}: train samples {xtr.shape[1:]} and test samples {xte.shape[1:]} differ in shape")
    if len(xtr) == 0 or len(xte) == 0:
        raise UserModelError(f"{key}: empty train or test set")
    if min(ytr.min(), yte.min()) < 0:
        raise UserModelError(f"{key}: class labels must be >= 0")
    classes = int(max(ytr.max(), yte.max())) + 1
    return Split(xtr, ytr, xte, yte, num_classes=classes)
