"""Saving exported ONNX graphs: strip exporter metadata, weights inline or in `<name>.onnx.data`."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx.external_data_helper import uses_external_data

# protobuf refuses messages over 2 GiB; stay well below and keep small graphs single-file.
INLINE_LIMIT_BYTES = 100 * 1024 * 1024


def kv_names(prefix: str, n_layers: int) -> list[str]:
    """`{prefix}.{layer}.key` / `.value` for every layer: the decoder's past, present and new KV names."""
    return [f"{prefix}.{i}.{kind}" for i in range(n_layers) for kind in ("key", "value")]


def strip_metadata(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the dynamo exporter's per-node stack traces (a third of a tiny graph's bytes)."""

    def clean(graph: onnx.GraphProto) -> None:
        graph.doc_string = ""
        for node in graph.node:
            node.doc_string = ""
            del node.metadata_props[:]
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    clean(attr.g)
                for sub in attr.graphs:
                    clean(sub)
        for value in (*graph.input, *graph.output, *graph.value_info):
            value.doc_string = ""
            del value.metadata_props[:]
        for init in graph.initializer:
            init.doc_string = ""
            del init.metadata_props[:]

    clean(model.graph)
    for function in model.functions:
        for node in function.node:
            node.doc_string = ""
            del node.metadata_props[:]
    model.doc_string = ""
    del model.metadata_props[:]
    return model


def save_onnx(model: onnx.ModelProto, path: Path, external_data: bool | None = None) -> Path:
    """Write `model` to `path`; big weights go to `path.name + '.data'` beside it.

    `model` must hold its weights: one loaded with `load_external_data=False` still points into a
    `.onnx.data` file, which this replaces, so it is refused rather than saved without them."""
    unloaded = [t.name for t in model.graph.initializer if uses_external_data(t) and not t.HasField("raw_data")]
    if unloaded:
        raise ValueError(
            f"{path}: {len(unloaded)} initializers (first: {unloaded[0]!r}) are still in their external data "
            "file; load the model with its external data before saving it"
        )
    model = strip_metadata(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    data_path = path.with_name(path.name + ".data")
    if data_path.exists():
        data_path.unlink()
    if external_data is None:
        external_data = model.ByteSize() > INLINE_LIMIT_BYTES
    if external_data:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data_path.name,
        )
    else:
        onnx.save_model(model, str(path))
    return path
