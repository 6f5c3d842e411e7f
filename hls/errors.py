"""The HLS emitter's error (imported by every hls module; imports nothing of hls)."""

from __future__ import annotations


class HLSEmitError(ValueError):
    """The graph cannot be emitted as HLS C++; the message names the op, tensor or format."""


__all__ = ["HLSEmitError"]
