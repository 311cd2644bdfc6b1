"""torch -> ONNX for serving, with a parity check that fails loudly on mismatch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from docloop.ml.data import Example, collate

INPUTS = ["chars", "geo", "pairs", "mask"]


def to_onnx(model: torch.nn.Module, sample: Example, *, atol: float = 1e-3) -> bytes:
    """Export ``model`` with a dynamic token axis and check ONNX Runtime agrees with torch."""
    import onnxruntime as ort

    model.eval()
    batch = collate([sample])
    args = tuple(torch.from_numpy(batch[k]) for k in INPUTS)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            buf,
            dynamo=False,
            input_names=INPUTS,
            output_names=["logits"],
            dynamic_axes={
                "chars": {1: "tokens"},
                "geo": {1: "tokens"},
                "pairs": {1: "tokens", 2: "tokens"},
                "mask": {1: "tokens"},
                "logits": {1: "tokens"},
            },
            opset_version=17,
        )
    data = buf.getvalue()
    with torch.no_grad():
        expected = model(*args).numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {k: batch[k] for k in INPUTS})[0]
    if not np.allclose(expected, got, atol=atol):
        raise RuntimeError(f"ONNX export differs from torch by {np.abs(expected - got).max():.2e}")
    return data
