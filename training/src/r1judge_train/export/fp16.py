"""fp32 -> fp16 conversion of exported ONNX graphs (vision encoder, embeddings, decoder).

`onnxruntime.transformers.float16.convert_float_to_float16` converts initializers, float value infos,
graph inputs/outputs, tensor attributes and Cast(to=FLOAT) nodes, but leaves a few fp32 producers that
make the graph fail to load with type mismatches; `convert_to_fp16` repairs those afterwards:

- Constant nodes carrying `value_float` / `value_floats` (only `value` tensors are converted);
- ConstantOfShape / Constant `value` tensors inside onnxscript local functions (functions are not walked);
- Cast(to=FLOAT) nodes inside local functions.

Two islands stay fp32, as HF computes them in fp32 even in an fp16 model (the converter inserts the
Casts around them):

- rotary tables: everything upstream of Cos/Sin back to the integer position ids. Angles reach the
  position value (thousands for text), where fp16's 11-bit mantissa is off by whole radians;
- RMSNorm statistics: Pow -> ReduceMean -> Add(eps) -> Sqrt. x² overflows fp16 once |x| > 256, which
  real Qwen2.5 residual streams exceed.

Integer inputs (input_ids, attention_mask, position_ids, image_grid_thw) keep their types; float inputs
and outputs become float16 (never bfloat16).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

from r1judge_train.export.graph import save_onnx


def _fp16_tensor(tensor: TensorProto) -> TensorProto:
    if tensor.data_type != TensorProto.FLOAT:
        return tensor
    # Clip like the converter does so large finite constants (mask fills) stay finite in fp16.
    array = np.clip(numpy_helper.to_array(tensor), -65504.0, 65504.0).astype(np.float16)
    return numpy_helper.from_array(array, tensor.name)


def _fix_nodes(nodes: Iterable[onnx.NodeProto], skip: set[str], walked: bool) -> int:
    """Rewrite fp32-producing attributes of `nodes` not named in `skip`; returns how many changed.

    `walked`: the converter already handled tensor attributes and Casts of these nodes (main graph),
    so only the `value_float(s)` constants remain; otherwise (local functions) everything is fixed.
    """
    changed = 0
    for node in nodes:
        if node.name in skip:
            continue
        for attr in list(node.attribute):
            if node.op_type == "Constant" and attr.name in ("value_float", "value_floats"):
                values = [attr.f] if attr.name == "value_float" else list(attr.floats)
                array = np.clip(np.asarray(values, dtype=np.float32), -65504.0, 65504.0).astype(np.float16)
                if attr.name == "value_float":
                    array = array.reshape(())
                node.attribute.remove(attr)
                node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(array)))
                changed += 1
            elif walked:
                if attr.type == onnx.AttributeProto.GRAPH:
                    changed += _fix_nodes(attr.g.node, skip, walked)
                for graph in attr.graphs:
                    changed += _fix_nodes(graph.node, skip, walked)
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(_fp16_tensor(attr.t))
                changed += 1
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
                changed += 1
            elif attr.type == onnx.AttributeProto.GRAPH:
                changed += _fix_nodes(attr.g.node, skip, walked)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for graph in attr.graphs:
                    changed += _fix_nodes(graph.node, skip, walked)
    return changed


def _fp32_islands(graph: onnx.GraphProto) -> set[str]:
    """Names of the nodes that compute rotary tables or RMSNorm statistics (see the module docstring)."""
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    float_inputs = {v.name for v in graph.input if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    # Only float edges carry angles; shapes and int positions (Shape of inputs_embeds, ...) end the walk.
    float_values = {
        v.name for v in (*graph.value_info, *graph.input) if v.type.tensor_type.elem_type == TensorProto.FLOAT
    } | {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    keep: set[str] = set()

    for trig in (n for n in graph.node if n.op_type in ("Cos", "Sin")):
        # Walk up to integer casts, initializers and constants; a float graph input upstream means the
        # angles come from activations, so that Cos/Sin is left to the converter.
        island, stack, data_derived = set(), [trig], False
        while stack and not data_derived:
            node = stack.pop()
            if node.name in island:
                continue
            island.add(node.name)
            if node.op_type == "Cast":
                continue
            for name in node.input:
                if name in float_inputs:
                    data_derived = True
                elif name in producer and name in float_values:
                    stack.append(producer[name])
        if not data_derived:
            keep |= island

    chain = ("ReduceMean", "Add", "Sqrt")
    for pow_node in (n for n in graph.node if n.op_type == "Pow"):
        node, found = pow_node, [pow_node.name]
        for op in chain:
            nxt = consumers.get(node.output[0], [])
            if len(nxt) != 1 or nxt[0].op_type != op:
                break
            node = nxt[0]
            found.append(node.name)
        else:
            keep |= set(found)
    return keep


def _drop_cast_round_trips(graph: onnx.GraphProto) -> int:
    """Let fp32 islands pass fp32 values straight through; returns how many Casts were bypassed.

    The converter casts every output of a blocked node to fp16 and every fp16 input of a blocked node
    back to fp32, so inside an island each edge would round-trip through fp16 and lose the precision
    the island exists for. Its Casts are recognisable by name: `X_cast_to_fp16` (fp32) -> Cast ->
    `X` (fp16) -> Cast -> `X_cast_to_fp32`; consumers of the last get the first instead. Duplicate
    Casts (same input, same target) and fp32->fp32 Casts of kept-fp32 initializers go as well.
    """
    producer = {out: node for node in graph.node for out in node.output}
    fp32_inits = {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    rename: dict[str, str] = {}
    first_cast: dict[tuple[str, int], str] = {}
    for node in graph.node:
        if node.op_type != "Cast":
            continue
        to = next(a.i for a in node.attribute if a.name == "to")
        source = producer.get(node.input[0])
        if node.name.endswith("_cast_to_fp32_node") and (
            node.input[0] in fp32_inits  # an initializer only blocked nodes use stays fp32
            or (source is not None and source.op_type == "Cast" and source.name.endswith("_cast_to_fp16_node"))
        ):
            rename[node.output[0]] = source.input[0] if node.input[0] not in fp32_inits else node.input[0]
        elif (node.input[0], to) in first_cast:
            # The converter adds one Cast per blocked consumer of a shared value, all with one name.
            rename[node.output[0]] = first_cast[(node.input[0], to)]
        else:
            first_cast[(node.input[0], to)] = node.output[0]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    # Value infos naming initializers were flipped to fp16 even where the data stayed fp32.
    initializers = {t.name for t in graph.initializer}
    for info in [v for v in graph.value_info if v.name in initializers]:
        graph.value_info.remove(info)
    # Remove Casts left without consumers (repeat: removing one can orphan its producer Cast).
    outputs = {v.name for v in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    return len(rename)


def _name_nodes(graph: onnx.GraphProto) -> None:
    """Give unnamed and duplicate-named nodes unique names: the block list matches by name."""
    used: set[str] = set()
    for index, node in enumerate(graph.node):
        if not node.name or node.name in used:
            name = f"{node.name or 'fp16_node'}_{index}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def _float_io(proto: onnx.ModelProto) -> list[str]:
    return [
        f"{value.name}:{TensorProto.DataType.Name(value.type.tensor_type.elem_type)}"
        for value in (*proto.graph.input, *proto.graph.output)
        if value.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.BFLOAT16, TensorProto.DOUBLE)
    ]


def convert_to_fp16(
    src: pathlib.Path,
    dst: pathlib.Path,
    external_data: bool | None = None,
    op_block_list: list[str] | None = None,
) -> pathlib.Path:
    """Write an fp16 copy of the fp32 ONNX model `src` to `dst`; float inputs/outputs become float16.

    `op_block_list` keeps the named op types in fp32 (Casts are inserted around them); None keeps the
    converter's default list. External data next to `src` is loaded; `dst` gets its own `.onnx.data`
    when `external_data` is True or, with None, when it is over 100 MB.
    """
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    proto = onnx.load(str(src), load_external_data=True)
    # Blocked nodes get their Casts only where value_info records a float type, so make it complete.
    # Shape inference cannot serialize a >2 GB proto; the dynamo exporter records value_info anyway.
    if proto.ByteSize() < 2**31 - 1:
        proto = onnx.shape_inference.infer_shapes(proto)
    _name_nodes(proto.graph)
    islands = _fp32_islands(proto.graph)
    proto = convert_float_to_float16(
        proto,
        keep_io_types=False,
        disable_shape_infer=True,
        op_block_list=op_block_list,
        node_block_list=sorted(islands),
    )
    _drop_cast_round_trips(proto.graph)
    blocked_ops = set(DEFAULT_OP_BLOCK_LIST if op_block_list is None else op_block_list)
    blocked = islands | {node.name for node in proto.graph.node if node.op_type in blocked_ops}
    _fix_nodes(proto.graph.node, blocked, walked=True)
    _name_nodes(proto.graph)
    for function in proto.functions:
        _fix_nodes(function.node, set(), walked=False)
    leftover = _float_io(proto)
    if leftover:
        raise ValueError(f"{src}: inputs/outputs not converted to float16: {leftover}")
    return save_onnx(proto, dst, external_data)
