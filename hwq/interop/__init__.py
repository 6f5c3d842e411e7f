"""Importers of already-quantised models into the hwq IR: Brevitas modules and QONNX files.

Both refuse, naming the layer, whatever the IR cannot reproduce bit for bit (see ``builder``).
Imported lazily so that ``import hwq.interop`` needs neither Brevitas nor onnx.
"""

from .builder import InteropError

__all__ = ["InteropError", "brevitas_reference", "from_brevitas", "from_qonnx"]


def __getattr__(name):
    if name in ("from_brevitas", "brevitas_reference"):
        from . import brevitas

        return getattr(brevitas, name)
    if name == "from_qonnx":
        from .qonnx import from_qonnx

        return from_qonnx
    raise AttributeError(name)
