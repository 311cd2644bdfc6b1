"""A recognizer that only scores the characters a deployment can meet.

PP-OCR's recognizer scores 18,708 characters (Chinese, Japanese, symbols) at every time step; for
Latin-script documents almost all of that work, and the softmax and CTC decoding over it, is
wasted. Slicing the output layer to a character subset gives the same reading for those
characters (the remaining logits are untouched, only the normalisation changes) at a lower cost.
The sliced model is derived from the wheel's model here, deterministically, never downloaded.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

CHARSETS = ("latin", "all")

# Beyond printable ASCII: Latin-1 and Latin Extended-A letters, and the symbols receipts print.
_LATIN_EXTRA = set("€£¥¢°±×÷§©®™·–—‘’‚“”„•…¹²³µ¼½¾") | {chr(c) for c in range(0xC0, 0x180)}


def _keep(character: str, charset: str) -> bool:
    if charset == "all":
        return True
    return (character.isascii() and character.isprintable()) or character in _LATIN_EXTRA


def sliced_recognizer(source: Path, charset: str, cache_dir: Path) -> Path:
    """Path of ``source`` with its output layer cut to ``charset``; built once, then reused."""
    if charset not in CHARSETS:
        raise ValueError(f"unknown OCR charset {charset!r}: choose one of {', '.join(CHARSETS)}")
    if charset == "all":
        return source
    raw = source.read_bytes()
    target = cache_dir / f"{source.stem}-{charset}-{hashlib.sha256(raw).hexdigest()[:12]}.onnx"
    if target.exists():
        return target
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(raw)
    meta = {p.key: p for p in model.metadata_props}
    characters = meta["character"].value.split("\n")
    kept = [i for i, c in enumerate(characters) if _keep(c, charset)]
    # Output classes: 0 is the CTC blank, 1..n the characters, n+1 the space the decoder appends.
    columns = np.array([0, *(i + 1 for i in kept), len(characters) + 1])
    head = _output_layer(model)
    for tensor in model.graph.initializer:
        if tensor.name in head:
            sliced = numpy_helper.to_array(tensor)[..., columns]
            tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(sliced), tensor.name))
    meta["character"].value = "\n".join(characters[i] for i in kept)
    model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value = len(columns)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{uuid.uuid4().hex}.part")
    onnx.save(model, str(partial))
    partial.replace(target)  # atomic; a concurrent builder writes the same bytes
    return target


def _output_layer(model: object) -> set[str]:
    """Names of the last MatMul's weight and the bias added to it: the per-character layer."""
    nodes = list(model.graph.node)  # type: ignore[attr-defined]
    inits = {t.name for t in model.graph.initializer}  # type: ignore[attr-defined]
    for i in range(len(nodes) - 1, 0, -1):
        node = nodes[i]
        if node.op_type == "MatMul" and node.input[1] in inits:
            bias = next(
                (n.input[1] for n in nodes[i + 1 :] if n.op_type == "Add" and n.input[1] in inits),
                None,
            )
            if bias is None:
                break
            return {node.input[1], bias}
    raise ValueError("the recognizer has no output layer docloop knows how to slice")
