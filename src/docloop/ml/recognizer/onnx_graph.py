"""A trainable PyTorch twin of an ONNX graph, and its weights written back into the graph.

The shipped recognizer (PP-OCR, exported from Paddle) is a plain ONNX graph. Running its nodes in
order with torch ops, its float initializers turned into parameters, gives a module that trains
with autograd and computes what ONNX Runtime computes, without a converter package (the ones that
exist pull in torchvision, which does not import beside this machine's torch, or fail on this
graph's ``SAME_UPPER`` padding). Only the op types the recognizer uses are implemented, with
the semantics of the graph's opset (11); any other op is refused when the graph is loaded.

Tuned weights go back into a copy of the original graph (``with_weights``), so serving runs the
very graph ONNX Runtime already ran, with new tensors, and needs no exporter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

Tensor = torch.Tensor
Op = Callable[..., Tensor]


class UnsupportedOp(ValueError):
    """The graph holds an op type this interpreter does not implement."""


def _same_upper(x: Tensor, kernel: Sequence[int], strides: Sequence[int], fill: float) -> Tensor:
    """Pad H and W as ONNX's ``SAME_UPPER``: output size ceil(in / stride), the odd pixel at the
    end."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(strides), strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=fill)


def _explicit(pads: Sequence[int]) -> list[int]:
    """ONNX pads (begin per axis, then end per axis) as ``F.pad``'s list (last axis first)."""
    n = len(pads) // 2
    out: list[int] = []
    for axis in reversed(range(n)):
        out += [pads[axis], pads[axis + n]]
    return out


def _conv(x: Tensor, w: Tensor, b: Tensor | None = None, **a: Any) -> Tensor:
    kernel, strides = a.get("kernel_shape", w.shape[2:]), a.get("strides", [1, 1])
    if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER"):
        x = _same_upper(x, kernel, strides, 0.0)
    elif any(a.get("pads", [])):
        x = F.pad(x, _explicit(a["pads"]))
    return F.conv2d(
        x, w, b, stride=strides, dilation=a.get("dilations", 1), groups=a.get("group", 1)
    )


def _max_pool(x: Tensor, **a: Any) -> Tensor:
    kernel, strides = a["kernel_shape"], a.get("strides", [1, 1])
    if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER"):
        x = _same_upper(x, kernel, strides, -math.inf)
    elif any(a.get("pads", [])):
        x = F.pad(x, _explicit(a["pads"]), value=-math.inf)
    return F.max_pool2d(x, kernel, strides, ceil_mode=bool(a.get("ceil_mode", 0)))


def _average_pool(x: Tensor, **a: Any) -> Tensor:
    if any(a.get("pads", [])) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedOp("AveragePool with padding")
    return F.avg_pool2d(
        x, a["kernel_shape"], a.get("strides", [1, 1]), ceil_mode=bool(a.get("ceil_mode", 0))
    )


def _batch_norm(
    x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor, **a: Any
) -> Tensor:
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))


def _reduce_mean(x: Tensor, **a: Any) -> Tensor:
    axes = a.get("axes", list(range(x.dim())))
    return x.mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))


def _softmax(x: Tensor, **a: Any) -> Tensor:
    """Opset < 13: the input is seen as 2-D, [dims before axis] x [axis and after]."""
    axis = a.get("axis", 1) % x.dim()
    flat = x.reshape(*x.shape[:axis], -1)
    return torch.softmax(flat, dim=-1).reshape(x.shape)


def _slice(
    x: Tensor, starts: Tensor, ends: Tensor, axes: Tensor | None = None, steps: Tensor | None = None
) -> Tensor:
    index = [slice(None)] * x.dim()
    axes_ = axes.tolist() if axes is not None else list(range(len(starts)))
    steps_ = steps.tolist() if steps is not None else [1] * len(axes_)
    for axis, start, end, step in zip(axes_, starts.tolist(), ends.tolist(), steps_, strict=True):
        if step != 1:
            raise UnsupportedOp("Slice with a step other than 1")
        size = x.shape[axis]
        index[axis] = slice(max(-size, min(start, size)), max(-size - 1, min(end, size)))
    return x[tuple(index)]


def _reshape(x: Tensor, shape: Tensor) -> Tensor:
    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(shape.tolist())]
    return x.reshape(dims)


def _squeeze(x: Tensor, **a: Any) -> Tensor:
    for axis in sorted((d % x.dim() for d in a["axes"]), reverse=True):
        x = x.squeeze(axis)
    return x


def _unsqueeze(x: Tensor, **a: Any) -> Tensor:
    for axis in sorted(a["axes"]):
        x = x.unsqueeze(axis)
    return x


OPS: dict[str, Op] = {
    "Identity": lambda x: x,
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a / b,
    "Pow": lambda a, b: torch.pow(a, b),
    "Sqrt": lambda x: torch.sqrt(x),
    "Erf": lambda x: torch.erf(x),
    "Relu": lambda x: torch.relu(x),
    "Sigmoid": lambda x: torch.sigmoid(x),
    "HardSigmoid": lambda x, alpha=0.2, beta=0.5: torch.clamp(alpha * x + beta, 0.0, 1.0),
    "HardSwish": lambda x: F.hardswish(x),
    "MatMul": lambda a, b: torch.matmul(a, b),
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "ReduceMean": _reduce_mean,
    "Softmax": _softmax,
    "Transpose": lambda x, perm: x.permute(*perm),
    "Reshape": _reshape,
    "Shape": lambda x: torch.tensor(x.shape, dtype=torch.int64, device=x.device),
    "Slice": _slice,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda *xs, axis: torch.cat(xs, dim=axis),
}


class OnnxGraph(nn.Module):
    """The nodes of ``model``'s graph, run in topological order. Float initializers are
    parameters (batch-norm statistics among them, kept frozen); scalars (an epsilon, the
    exponent of a square, GELU's constants) and integer tensors are constants: a scalar trained
    as a weight (the exponent of ``Pow`` on a negative base) has no gradient but NaN."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        unknown = sorted({n.op_type for n in graph.node} - set(OPS))
        if unknown:
            raise UnsupportedOp(f"ONNX op types without a torch twin here: {', '.join(unknown)}")
        statistics = {
            n.input[i] for n in graph.node if n.op_type == "BatchNormalization" for i in (3, 4)
        }
        self.weights = nn.ParameterList()
        self.slots: dict[str, int] = {}  # initializer name -> index in ``weights``
        self.constants: dict[str, str] = {}  # initializer name -> buffer attribute
        for t in graph.initializer:
            array = numpy_helper.to_array(t)
            if array.dtype.kind == "f" and array.size > 1:
                self.slots[t.name] = len(self.weights)
                param = nn.Parameter(torch.from_numpy(array.astype(np.float32)))
                param.requires_grad_(t.name not in statistics)
                self.weights.append(param)
            else:
                self.constants[t.name] = f"constant{len(self.constants)}"
                self.register_buffer(
                    self.constants[t.name], torch.from_numpy(array.copy()), persistent=False
                )
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.nodes = [
            (n.op_type, list(n.input), list(n.output), _attributes(n))
            for n in _topological(graph.node, {self.input_name, *self.slots, *self.constants})
        ]
        self.metadata = {p.key: p.value for p in model.metadata_props}
        # Index of the last node reading each value: ``run`` lets a value go after it.
        self.last_use = {name: i for i, n in enumerate(self.nodes) for name in n[1] if name}

    def parameter(self, name: str) -> nn.Parameter:
        return self.weights[self.slots[name]]

    def named_weights(self) -> Iterable[tuple[str, nn.Parameter]]:
        return ((name, self.weights[i]) for name, i in self.slots.items())

    def run(
        self, feeds: dict[str, Tensor], output: str, start: int = 0, stop: int | None = None
    ) -> Tensor:
        """Nodes ``start:stop`` on ``feeds`` (tensors by name); the value named ``output``.

        Each value is dropped after the last node that reads it: kept to the end, a batch of
        64 wide line crops held every layer's activations at once (gigabytes) when no gradient
        needed them."""
        env = dict(feeds)
        first = start if start >= 0 else len(self.nodes) + start
        for i, (op, inputs, outputs, attrs) in enumerate(self.nodes[start:stop], start=first):
            args = [self._value(name, env) if name else None for name in inputs]
            while args and args[-1] is None:  # trailing optional inputs left out
                args.pop()
            env[outputs[0]] = OPS[op](*args, **attrs)
            del args
            for name in inputs:
                if name != output and self.last_use.get(name) == i:
                    env.pop(name, None)
        return env[output]

    def forward(self, x: Tensor) -> Tensor:
        return self.run({self.input_name: x}, self.output_name)

    def _value(self, name: str, env: dict[str, Tensor]) -> Tensor:
        if name in env:
            return env[name]
        if name in self.slots:
            return self.weights[self.slots[name]]
        constant: Tensor = getattr(self, self.constants[name])
        return constant


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _topological(nodes: Iterable[onnx.NodeProto], known: set[str]) -> list[onnx.NodeProto]:
    """Nodes so that each comes after the nodes making its inputs (Kahn's order, stable)."""
    pending, done, ready = list(nodes), set(known) | {""}, []
    while pending:
        left = []
        for n in pending:
            if set(n.input) <= done:
                ready.append(n)
                done.update(n.output)
            else:
                left.append(n)
        if len(left) == len(pending):
            raise ValueError(f"the ONNX graph has inputs no node makes: {left[0].input}")
        pending = left
    return ready


def with_weights(model: onnx.ModelProto, graph: OnnxGraph) -> bytes:
    """``model`` serialised with ``graph``'s current float initializers in place of its own."""
    tuned = onnx.ModelProto()
    tuned.CopyFrom(model)
    for tensor in tuned.graph.initializer:
        if tensor.name in graph.slots:
            array = graph.parameter(tensor.name).detach().cpu().numpy()
            dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
            tensor.CopyFrom(numpy_helper.from_array(array.astype(dtype), tensor.name))
    return tuned.SerializeToString()
