"""Execute the float32 operators of a TFLite graph with PyTorch.

:class:`TFLiteGraphModule` turns the constant float tensors of a TFLite subgraph into
``nn.Parameter`` objects and runs its operators in order (TFLite stores them in
topological order). TFLite is NHWC; 4-D activations are kept here as NCHW torch
tensors and every operator translates axes, paddings and broadcasts accordingly.
Integer tensors (shapes, axes, slices) are computed with numpy, so shape arithmetic
in the graph (``SHAPE`` → ``STRIDED_SLICE`` → ``PACK`` → ``RESHAPE``) works for any
batch size.

TFLite ``SAME`` padding puts the extra row/column (odd total padding) after the
data (bottom/right), which ``torch.nn.Conv2d(padding="same")`` does not for strided
convolutions; the padding is computed per call from the input size, as TFLite does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._tflite import TFLiteGraph, TFLiteOperator

# NHWC axis -> NCHW axis.
_NHWC_TO_NCHW = (0, 2, 3, 1)

SUPPORTED_OPS = frozenset(
    {
        "ADD",
        "SUB",
        "MUL",
        "DIV",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "CONCATENATION",
        "LOGISTIC",
        "RELU",
        "TANH",
        "PAD",
        "MEAN",
        "SHAPE",
        "STRIDED_SLICE",
        "PACK",
        "RESHAPE",
        "FULLY_CONNECTED",
    }
)


@dataclass(frozen=True)
class AxisGeometry:
    """Where the cells of a feature map lie along one axis of the graph's input.

    Attributes
    ----------
    jump : float
        Distance, in input cells, between the centres of two neighbouring cells.
    rf : float
        Receptive-field size in input cells (conv/pool path; squeeze-excitation
        gates, which pool the whole map, are not counted).
    start : float
        Centre of cell 0, in input cells (can be negative or fractional: padding).
    """

    jump: float
    rf: float
    start: float

    def conv(self, kernel: int, stride: int, dilation: int, pad_before: int) -> AxisGeometry:
        """Geometry after a convolution or pooling with the given parameters."""
        keff = (kernel - 1) * dilation + 1
        return AxisGeometry(
            jump=self.jump * stride,
            rf=self.rf + (keff - 1) * self.jump,
            start=self.start + ((keff - 1) / 2 - pad_before) * self.jump,
        )

    @staticmethod
    def union(geoms: list[AxisGeometry]) -> AxisGeometry:
        """Geometry covering the receptive fields of several aligned inputs."""
        if len(geoms) == 1:
            return geoms[0]
        lo = min(g.start - (g.rf - 1) / 2 for g in geoms)
        hi = max(g.start + (g.rf - 1) / 2 for g in geoms)
        return AxisGeometry(jump=geoms[0].jump, rf=hi - lo + 1, start=(lo + hi) / 2)


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite/TensorFlow 'SAME' padding (before, after) for one spatial axis."""
    keff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + keff - size, 0)
    return total // 2, total - total // 2


def _activation(x: torch.Tensor, code: int) -> torch.Tensor:
    if code == 0:
        return x
    if code == 1:
        return F.relu(x)
    if code == 2:
        return x.clamp(-1.0, 1.0)
    if code == 3:
        return F.relu6(x)
    if code == 4:
        return torch.tanh(x)
    raise NotImplementedError(f"fused activation function {code}")


def _param_name(tensor_name: str, used: set[str]) -> str:
    """A readable, unique parameter name from a TFLite tensor name."""
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    base = parts[1] if len(parts) > 1 and parts[0] == "model" else first
    base = re.sub(r"[^0-9a-zA-Z]+", "_", base).strip("_").lower() or "const"
    name = base
    k = 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


class TFLiteGraphModule(nn.Module):
    """Run operators ``first_op:`` of a TFLite graph, constants as parameters.

    Parameters
    ----------
    graph : TFLiteGraph
        The parsed graph.
    input_tensor : int
        Index of the tensor fed to :meth:`forward` (the output of operator
        ``first_op - 1``); a 4-D tensor is given in NCHW layout.
    first_op : int
        Index of the first operator to run.
    last_op : int, optional
        Index of the last operator to run (default: the last one).
    untie : bool
        TFLite deduplicates identical constant buffers (e.g. equal biases of
        several layers). With ``untie=True`` (default) every use of a float
        constant gets its own parameter, so fine-tuning changes layers
        independently, as in the original network.

    Attributes
    ----------
    weights : nn.ParameterDict
        The float constants, named after their layer (``block_1_1_conv_1_weight``…).
    """

    def __init__(
        self,
        graph: TFLiteGraph,
        input_tensor: int,
        first_op: int,
        last_op: int | None = None,
        untie: bool = True,
    ) -> None:
        super().__init__()
        self.tensor_names = [t.name for t in graph.tensors]
        self.input_tensor = input_tensor
        self.ops: list[TFLiteOperator] = graph.operators[
            first_op : (len(graph.operators) if last_op is None else last_op + 1)
        ]
        unknown = sorted({op.opcode for op in self.ops} - SUPPORTED_OPS)
        if unknown:
            raise NotImplementedError(f"TFLite operators not supported: {unknown}")
        self.weights = nn.ParameterDict()
        # (op position, input slot) -> parameter name
        self._slot_param: dict[tuple[int, int], str] = {}
        self._int_consts: dict[int, np.ndarray] = {}
        shared: dict[int, str] = {}
        used: set[str] = set()
        for k, op in enumerate(self.ops):
            for slot, ti in enumerate(op.inputs):
                if ti < 0:
                    continue
                t = graph.tensors[ti]
                if not t.is_constant:
                    continue
                if t.dtype != np.float32:
                    self._int_consts[ti] = t.data
                    continue
                if not untie and ti in shared:
                    self._slot_param[(k, slot)] = shared[ti]
                    continue
                data = torch.from_numpy(t.data.copy())
                if op.opcode == "CONV_2D" and slot == 1:
                    data = data.permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
                elif op.opcode == "DEPTHWISE_CONV_2D" and slot == 1:
                    data = data.permute(3, 0, 1, 2).contiguous()  # 1HWC -> C1HW
                suffix = {1: "weight", 2: "bias"}.get(slot, "const")
                if op.opcode == "MUL":
                    suffix = "scale"
                elif op.opcode == "ADD":
                    suffix = "shift"
                elif op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                    suffix = "const"
                name = _param_name(f"{t.name}_{suffix}", used)
                self.weights[name] = nn.Parameter(data)
                self._slot_param[(k, slot)] = name
                shared[ti] = name
        self._last_output = self.ops[-1].outputs[0]
        self._producer = {o: k for k, op in enumerate(self.ops) for o in op.outputs}

    # ------------------------------------------------------------------ helpers
    def _get(self, env: dict[int, Any], k: int, slot: int) -> Any:
        ti = self.ops[k].inputs[slot]
        name = self._slot_param.get((k, slot))
        if name is not None:
            return self.weights[name]
        if ti in self._int_consts:
            return self._int_consts[ti]
        return env[ti]

    @staticmethod
    def _nhwc_shape(x: Any) -> tuple[int, ...]:
        if isinstance(x, np.ndarray):
            return tuple(x.shape)
        if x.dim() == 4:
            n, c, h, w = x.shape
            return (n, h, w, c)
        return tuple(x.shape)

    @staticmethod
    def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1) if x.dim() == 4 else x

    @staticmethod
    def _from_nhwc(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2) if x.dim() == 4 else x

    @staticmethod
    def _broadcast_pair(a: Any, b: Any) -> tuple[Any, Any]:
        """Align an operand of lower rank with a 4-D (NCHW-stored) operand."""

        def fix(x: Any, other: Any) -> Any:
            if not isinstance(x, torch.Tensor) or not isinstance(other, torch.Tensor):
                return x
            if other.dim() == 4 and 0 < x.dim() < 4:
                x = x.reshape((1,) * (4 - x.dim()) + tuple(x.shape)).permute(0, 3, 1, 2)
            return x

        return fix(a, b), fix(b, a)

    # ------------------------------------------------------------------ execution
    def run(
        self,
        x: torch.Tensor,
        stop_at: int | None = None,
        geometry: bool = False,
    ) -> tuple[dict[int, Any], dict[int, tuple[AxisGeometry, AxisGeometry]]]:
        """Run the operators on ``x``.

        Parameters
        ----------
        x : torch.Tensor
            The input tensor (NCHW when 4-D).
        stop_at : int, optional
            Stop once this tensor index has been computed.
        geometry : bool
            Also propagate the (height, width) :class:`AxisGeometry` of every 4-D
            tensor on the convolution/pooling path.

        Returns
        -------
        env : dict
            Tensor index -> value (torch tensors, NCHW when 4-D; numpy for integers).
        geo : dict
            Tensor index -> (height geometry, width geometry); empty unless
            ``geometry``.
        """
        env: dict[int, Any] = {self.input_tensor: x}
        geo: dict[int, tuple[AxisGeometry, AxisGeometry]] = {}
        if geometry:
            unit = AxisGeometry(1.0, 1.0, 0.0)
            geo[self.input_tensor] = (unit, unit)
        if stop_at is not None and stop_at in env:
            return env, geo
        for k, op in enumerate(self.ops):
            out = self._run_op(k, op, env, geo if geometry else None)
            env[op.outputs[0]] = out
            if stop_at is not None and op.outputs[0] == stop_at:
                break
        return env, geo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run all operators and return the last one's output."""
        env, _ = self.run(x, stop_at=self._last_output)
        return env[self._last_output]

    def _run_op(
        self,
        k: int,
        op: TFLiteOperator,
        env: dict[int, Any],
        geo: dict[int, tuple[AxisGeometry, AxisGeometry]] | None,
    ) -> Any:
        code = op.opcode
        o = op.options
        act = o.get("fused_activation_function", 0)
        x = self._get(env, k, 0)
        in_geo = geo.get(op.inputs[0]) if geo is not None else None

        if code in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
            sh, sw = o["stride_h"], o["stride_w"]
            dh, dw = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
            if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = self._get(env, k, 1)
                kh, kw = w.shape[2], w.shape[3]
            else:
                kh, kw = o["filter_height"], o["filter_width"]
            h_in, w_in = x.shape[2], x.shape[3]
            if o["padding"] == 0:  # SAME
                ph = _same_pads(h_in, kh, sh, dh)
                pw = _same_pads(w_in, kw, sw, dw)
            else:
                ph = pw = (0, 0)
            if geo is not None and in_geo is not None:
                geo[op.outputs[0]] = (
                    in_geo[0].conv(kh, sh, dh, ph[0]),
                    in_geo[1].conv(kw, sw, dw, pw[0]),
                )
            if code == "MAX_POOL_2D":
                if ph != (0, 0) or pw != (0, 0):
                    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
                y = F.max_pool2d(x, (kh, kw), (sh, sw))
                return _activation(y, act)
            if code == "AVERAGE_POOL_2D":
                if ph != (0, 0) or pw != (0, 0):  # TFLite divides by the valid count
                    pads = (pw[0], pw[1], ph[0], ph[1])
                    ones = F.pad(torch.ones_like(x[:1, :1]), pads)
                    y = F.avg_pool2d(F.pad(x, pads), (kh, kw), (sh, sw))
                    y = y / F.avg_pool2d(ones, (kh, kw), (sh, sw))
                else:
                    y = F.avg_pool2d(x, (kh, kw), (sh, sw))
                return _activation(y, act)
            b = self._get(env, k, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            groups = 1 if code == "CONV_2D" else x.shape[1]
            if ph[0] == ph[1] and pw[0] == pw[1]:
                padding: tuple[int, int] = (ph[0], pw[0])
            else:
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
                padding = (0, 0)
            y = F.conv2d(x, w, b, (sh, sw), padding, (dh, dw), groups)
            return _activation(y, act)

        if code in ("ADD", "SUB", "MUL", "DIV"):
            y_ = self._get(env, k, 1)
            if geo is not None:
                self._elementwise_geometry(op, env, geo)
            if isinstance(x, np.ndarray) and isinstance(y_, np.ndarray):
                r = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}.get(code)
                if r is None:
                    return (x / y_).astype(x.dtype)
                return r(x, y_).astype(x.dtype)
            a, b = self._broadcast_pair(x, y_)
            if code == "ADD":
                r = a + b
            elif code == "SUB":
                r = a - b
            elif code == "MUL":
                r = a * b
            else:
                r = a / b
            return _activation(r, act)

        if code in ("LOGISTIC", "RELU", "TANH"):
            if geo is not None and in_geo is not None:
                geo[op.outputs[0]] = in_geo
            return {"LOGISTIC": torch.sigmoid, "RELU": F.relu, "TANH": torch.tanh}[code](x)

        if code == "CONCATENATION":
            xs = [self._get(env, k, s) for s in range(len(op.inputs))]
            axis = o["axis"]
            if isinstance(xs[0], np.ndarray):
                return np.concatenate(xs, axis=axis)
            if axis < 0:
                axis += xs[0].dim()
            if xs[0].dim() == 4:
                axis = _NHWC_TO_NCHW[axis]
            if geo is not None:
                self._elementwise_geometry(op, env, geo)
            return _activation(torch.cat(xs, dim=axis), act)

        if code == "PAD":
            pads = np.asarray(self._get(env, k, 1)).reshape(-1, 2)
            if x.dim() == 4:
                (_, _), (pt, pb), (pl, pr), (pc0, pc1) = pads.tolist()
                if geo is not None and in_geo is not None:
                    gh, gw = in_geo
                    geo[op.outputs[0]] = (
                        AxisGeometry(gh.jump, gh.rf, gh.start - pt * gh.jump),
                        AxisGeometry(gw.jump, gw.rf, gw.start - pl * gw.jump),
                    )
                return F.pad(x, (pl, pr, pt, pb, pc0, pc1))
            flat: list[int] = []
            for before, after in pads[::-1].tolist():
                flat += [before, after]
            return F.pad(x, flat)

        if code == "MEAN":
            axes = [int(a) for a in np.atleast_1d(self._get(env, k, 1))]
            if o.get("keep_dims", False) and x.dim() == 4:
                dims = [_NHWC_TO_NCHW[a % 4] for a in axes]
                return x.mean(dim=dims, keepdim=True)
            xn = self._to_nhwc(x)
            axes = [a % xn.dim() for a in axes]
            return xn.mean(dim=axes, keepdim=bool(o.get("keep_dims", False)))

        if code == "SHAPE":
            return np.asarray(self._nhwc_shape(x), dtype=np.int32)

        if code == "STRIDED_SLICE":
            return self._strided_slice(
                x,
                np.asarray(self._get(env, k, 1)),
                np.asarray(self._get(env, k, 2)),
                np.asarray(self._get(env, k, 3)),
                o,
            )

        if code == "PACK":
            xs = [self._get(env, k, s) for s in range(len(op.inputs))]
            if all(isinstance(v, np.ndarray) for v in xs):
                return np.stack([np.asarray(v) for v in xs], axis=o["axis"])
            return torch.stack([torch.as_tensor(v) for v in xs], dim=o["axis"])

        if code == "RESHAPE":
            if len(op.inputs) > 1 and op.inputs[1] >= 0:
                shape = [int(s) for s in np.atleast_1d(self._get(env, k, 1))]
            else:
                shape = list(o.get("new_shape", []))
            if isinstance(x, np.ndarray):
                return x.reshape(shape)
            y = self._to_nhwc(x).reshape(shape)
            if geo is not None and in_geo is not None and y.dim() == 4 and x.dim() == 4:
                if tuple(y.shape[1:3]) == tuple(x.shape[2:4]):
                    geo[op.outputs[0]] = in_geo
            return self._from_nhwc(y)

        if code == "FULLY_CONNECTED":
            w = self._get(env, k, 1)
            b = self._get(env, k, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            xn = self._to_nhwc(x)
            lead = xn.shape[:-1]
            y = F.linear(xn.reshape(-1, w.shape[1]), w, b)
            if o.get("keep_num_dims", False):
                y = self._from_nhwc(y.reshape(*lead, w.shape[0]))
            return _activation(y, act)

        raise NotImplementedError(code)  # pragma: no cover (checked in __init__)

    def _elementwise_geometry(
        self,
        op: TFLiteOperator,
        env: dict[int, Any],
        geo: dict[int, tuple[AxisGeometry, AxisGeometry]],
    ) -> None:
        """Union of the inputs' receptive fields, ignoring broadcast (SE) inputs."""
        shapes = [
            tuple(env[i].shape[2:]) if i in env and isinstance(env[i], torch.Tensor) else None
            for i in op.inputs
        ]
        cands = [i for i, s in zip(op.inputs, shapes, strict=True) if i in geo and s is not None]
        if not cands:
            return
        biggest = max(shapes[op.inputs.index(i)] for i in cands)
        cands = [i for i in cands if shapes[op.inputs.index(i)] == biggest]
        geo[op.outputs[0]] = (
            AxisGeometry.union([geo[i][0] for i in cands]),
            AxisGeometry.union([geo[i][1] for i in cands]),
        )

    @staticmethod
    def _strided_slice(
        x: Any, begin: np.ndarray, end: np.ndarray, strides: np.ndarray, o: dict[str, Any]
    ) -> Any:
        if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
            raise NotImplementedError("STRIDED_SLICE with ellipsis/new-axis masks")
        if isinstance(x, torch.Tensor) and x.dim() == 4:
            raise NotImplementedError("STRIDED_SLICE on 4-D activations")
        index: list[Any] = []
        for d in range(len(begin)):
            if o.get("shrink_axis_mask", 0) >> d & 1:
                index.append(int(begin[d]))
                continue
            b = None if o.get("begin_mask", 0) >> d & 1 else int(begin[d])
            e = None if o.get("end_mask", 0) >> d & 1 else int(end[d])
            index.append(slice(b, e, int(strides[d])))
        y = x[tuple(index)]
        return np.asarray(y) if isinstance(x, np.ndarray) else y
