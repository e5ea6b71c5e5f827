"""Minimal, dependency-free reader for TFLite flatbuffer files.

Only what is needed to rebuild a float32 TFLite graph in PyTorch: operator codes,
tensors (shape, type, name, constant data), operators (inputs, outputs and their
builtin options). Field numbers follow TensorFlow Lite's ``schema.fbs``; a
flatbuffer table is read through its vtable, so no generated code (and no
TensorFlow, ``tflite`` or interpreter package) is needed at run time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# BuiltinOperator codes (schema.fbs) for the operators this package knows by name.
BUILTIN_OPERATORS: dict[int, str] = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    9: "FULLY_CONNECTED",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    22: "RESHAPE",
    28: "TANH",
    34: "PAD",
    39: "TRANSPOSE",
    40: "MEAN",
    41: "SUB",
    42: "DIV",
    43: "SQUEEZE",
    45: "STRIDED_SLICE",
    53: "CAST",
    55: "MAXIMUM",
    36: "GATHER",
    70: "EXPAND_DIMS",
    77: "SHAPE",
    78: "POW",
    81: "REDUCE_PROD",
    82: "REDUCE_MAX",
    83: "PACK",
    89: "REDUCE_MIN",
    90: "FLOOR_DIV",
    96: "RANGE",
    102: "SPLIT_V",
    105: "REVERSE_V2",
    131: "RFFT2D",
}

# TensorType -> numpy dtype (COMPLEX64 only ever appears as an activation here).
TENSOR_TYPES: dict[int, Any] = {
    0: np.float32,
    1: np.float16,
    2: np.int32,
    3: np.uint8,
    4: np.int64,
    6: np.bool_,
    7: np.int16,
    8: np.complex64,
    9: np.int8,
    10: np.float64,
}

# Builtin options tables: union type -> list of (name, struct format, default) by field id.
_OPTION_FIELDS: dict[int, list[tuple[str, str, Any]]] = {
    1: [  # Conv2DOptions
        ("padding", "b", 0),
        ("stride_w", "i", 0),
        ("stride_h", "i", 0),
        ("fused_activation_function", "b", 0),
        ("dilation_w_factor", "i", 1),
        ("dilation_h_factor", "i", 1),
    ],
    2: [  # DepthwiseConv2DOptions
        ("padding", "b", 0),
        ("stride_w", "i", 0),
        ("stride_h", "i", 0),
        ("depth_multiplier", "i", 0),
        ("fused_activation_function", "b", 0),
        ("dilation_w_factor", "i", 1),
        ("dilation_h_factor", "i", 1),
    ],
    5: [  # Pool2DOptions
        ("padding", "b", 0),
        ("stride_w", "i", 0),
        ("stride_h", "i", 0),
        ("filter_width", "i", 0),
        ("filter_height", "i", 0),
        ("fused_activation_function", "b", 0),
    ],
    8: [  # FullyConnectedOptions
        ("fused_activation_function", "b", 0),
        ("weights_format", "b", 0),
        ("keep_num_dims", "?", False),
    ],
    10: [("axis", "i", 0), ("fused_activation_function", "b", 0)],  # Concatenation
    11: [("fused_activation_function", "b", 0)],  # AddOptions
    21: [("fused_activation_function", "b", 0)],  # MulOptions
    27: [("keep_dims", "?", False)],  # ReducerOptions
    32: [  # StridedSliceOptions
        ("begin_mask", "i", 0),
        ("end_mask", "i", 0),
        ("ellipsis_mask", "i", 0),
        ("new_axis_mask", "i", 0),
        ("shrink_axis_mask", "i", 0),
        ("offset", "?", False),
    ],
    59: [("values_count", "i", 0), ("axis", "i", 0)],  # PackOptions
    # SubOptions / DivOptions
    28: [("fused_activation_function", "b", 0)],
    29: [("fused_activation_function", "b", 0)],
    # SqueezeOptions: squeeze_dims is a vector (read separately).
}


class _Table:
    """A flatbuffer table at byte position ``pos`` of ``buf``."""

    __slots__ = ("buf", "pos", "_vt", "_vt_len")

    def __init__(self, buf: memoryview, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self._vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vt_len = struct.unpack_from("<H", buf, self._vt)[0]

    def _field(self, index: int) -> int:
        vo = 4 + 2 * index
        if vo >= self._vt_len:
            return 0
        return struct.unpack_from("<H", self.buf, self._vt + vo)[0]

    def scalar(self, index: int, fmt: str, default: Any = 0) -> Any:
        off = self._field(index)
        if off == 0:
            return default
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0]

    def _ref(self, index: int) -> int | None:
        off = self._field(index)
        if off == 0:
            return None
        p = self.pos + off
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, index: int) -> _Table | None:
        p = self._ref(index)
        return None if p is None else _Table(self.buf, p)

    def string(self, index: int) -> str:
        p = self._ref(index)
        if p is None:
            return ""
        n = struct.unpack_from("<I", self.buf, p)[0]
        return bytes(self.buf[p + 4 : p + 4 + n]).decode("utf-8", "replace")

    def vector_bytes(self, index: int) -> memoryview:
        p = self._ref(index)
        if p is None:
            return self.buf[0:0]
        n = struct.unpack_from("<I", self.buf, p)[0]
        return self.buf[p + 4 : p + 4 + n]

    def vector_scalars(self, index: int, fmt: str) -> list[Any]:
        p = self._ref(index)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, p + 4))

    def vector_tables(self, index: int) -> list[_Table]:
        p = self._ref(index)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        out = []
        for k in range(n):
            q = p + 4 + 4 * k
            out.append(_Table(self.buf, q + struct.unpack_from("<I", self.buf, q)[0]))
        return out


@dataclass
class TFLiteTensor:
    """One tensor of the graph: shape as stored, numpy dtype, name, constant data."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: Any
    data: np.ndarray | None = None

    @property
    def is_constant(self) -> bool:
        """True when the tensor holds constant data (weights, shapes, axes)."""
        return self.data is not None


@dataclass
class TFLiteOperator:
    """One operator: builtin name, input/output tensor indices (-1: absent), options."""

    index: int
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    """The first subgraph of a TFLite model, read from its flatbuffer."""

    tensors: list[TFLiteTensor]
    operators: list[TFLiteOperator]
    inputs: list[int]
    outputs: list[int]

    def tensor_by_name(self, name: str) -> TFLiteTensor:
        """Return the tensor called ``name`` (KeyError when absent)."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)


def _read_options(op: _Table, opcode: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    opt_type = op.scalar(3, "B", 0)
    table = op.table(4)
    if table is None:
        return options
    for k, (name, fmt, default) in enumerate(_OPTION_FIELDS.get(opt_type, [])):
        options[name] = table.scalar(k, fmt, default)
    if opt_type == 17:  # ReshapeOptions.new_shape
        options["new_shape"] = table.vector_scalars(0, "i")
    elif opt_type == 30:  # SqueezeOptions.squeeze_dims
        options["squeeze_dims"] = table.vector_scalars(0, "i")
    return options


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Read the first subgraph of a ``.tflite`` file.

    Parameters
    ----------
    path : str or Path
        The ``.tflite`` flatbuffer.

    Returns
    -------
    TFLiteGraph
        Tensors (constants as numpy arrays, copied out of the file), operators in
        execution order with their options, and the graph's input/output indices.

    Raises
    ------
    ValueError
        If the file is not a TFLite flatbuffer or uses buffers stored outside the
        flatbuffer (models over 2 GB).
    """
    raw = Path(path).read_bytes()
    if raw[4:8] != b"TFL3":
        raise ValueError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    buf = memoryview(raw)
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    opcodes = []
    for oc in model.vector_tables(1):
        code = max(oc.scalar(0, "b", 0), oc.scalar(3, "i", 0))
        opcodes.append(BUILTIN_OPERATORS.get(code, f"BUILTIN_{code}"))
    buffers = model.vector_tables(4)
    subgraph = model.vector_tables(2)[0]

    tensors = []
    for i, t in enumerate(subgraph.vector_tables(0)):
        ttype = t.scalar(1, "b", 0)
        dtype = TENSOR_TYPES.get(ttype, None)
        shape = tuple(t.vector_scalars(0, "i"))
        data = None
        b = buffers[t.scalar(2, "I", 0)]
        if b.scalar(1, "Q", 0) > 1:
            raise ValueError(f"{path}: tensor {i} stores its data outside the flatbuffer")
        raw_data = b.vector_bytes(0)
        if len(raw_data) and dtype is not None:
            data = np.frombuffer(raw_data, dtype=dtype).reshape(shape).copy()
        tensors.append(TFLiteTensor(i, t.string(3), shape, dtype, data))

    operators = []
    for k, op in enumerate(subgraph.vector_tables(3)):
        opcode = opcodes[op.scalar(0, "I", 0)]
        operators.append(
            TFLiteOperator(
                index=k,
                opcode=opcode,
                inputs=op.vector_scalars(1, "i"),
                outputs=op.vector_scalars(2, "i"),
                options=_read_options(op, opcode),
            )
        )
    return TFLiteGraph(
        tensors=tensors,
        operators=operators,
        inputs=subgraph.vector_scalars(1, "i"),
        outputs=subgraph.vector_scalars(2, "i"),
    )
