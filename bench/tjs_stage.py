"""Stage an r1-judge checkpoint for transformers.js (used by bench/tjs.ts).

transformers.js creates the first step's empty KV cache from the decoder's input metadata, resolving
symbolic dimensions by name: only `batch_size` is known, every other symbol becomes 0. Our exporter
names the batch dimension `batch`, so transformers.js would feed past tensors of batch 0 and the graph
fails (Reshape to {0, S, -1, D}). This rewrites that one dimension name in the decoder's graph inputs
and outputs (weights untouched: the external-data file is linked, not copied).

usage: python tjs_stage.py SRC_DECODER.onnx DST_DECODER.onnx
"""

import sys

import onnx


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src, load_external_data=False)
    renamed = 0
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == "batch":
                dim.dim_param = "batch_size"
                renamed += 1
    onnx.save(model, dst)
    print(f"renamed {renamed} 'batch' dims -> 'batch_size'")


if __name__ == "__main__":
    main()
