"""torch -> ONNX for serving, with a parity check that fails loudly on mismatch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from docloop.ml.data import Example, collate
from docloop.ml.infer import MEMBER_PROBS

INPUTS = ["chars", "geo", "pairs", "mask"]


def to_onnx(model: torch.nn.Module, sample: Example, *, atol: float = 1e-3) -> bytes:
    """Export ``model`` with a dynamic token axis and check ONNX Runtime agrees with torch on
    every output. The first output is the per-word logits; a model that also returns its
    members' probabilities (``train.Ensemble``) exports them as ``member_probs``."""
    import onnxruntime as ort

    model.eval()
    batch = collate([sample])
    args = tuple(torch.from_numpy(batch[k]) for k in INPUTS)
    with torch.no_grad():
        found = model(*args)
    expected = [t.numpy() for t in found] if isinstance(found, tuple) else [found.numpy()]
    outputs = ["logits", MEMBER_PROBS][: len(expected)]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            buf,
            dynamo=False,
            input_names=INPUTS,
            output_names=outputs,
            dynamic_axes={
                "chars": {1: "tokens"},
                "geo": {1: "tokens"},
                "pairs": {1: "tokens", 2: "tokens"},
                "mask": {1: "tokens"},
                "logits": {1: "tokens"},
                MEMBER_PROBS: {2: "tokens"},
            },
            opset_version=17,
        )
    data = buf.getvalue()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {k: batch[k] for k in INPUTS})
    for name, want, have in zip(outputs, expected, got, strict=True):
        if not np.allclose(want, have, atol=atol):
            diff = np.abs(want - have).max()
            raise RuntimeError(f"ONNX export's {name} differs from torch by {diff:.2e}")
    return data
