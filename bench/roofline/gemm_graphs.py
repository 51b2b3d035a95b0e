"""One ONNX graph per decoder matmul shape and precision, for the roofline bench (bench/roofline.ts).

A shape NAME:K:N:COUNT becomes a graph of COUNT independent matmuls `y<i> = x @ W<i>`: `x` float32
[M, K] (M dynamic), each `W<i>` its own random float32 [K, N] constant. They are the decoder's COUNT
matmuls of that shape (e.g. q_proj and o_proj of every layer), so one run streams as many weight bytes
through the caches as a decode step does (one small weight timed over and over would sit in L2/L3).
The fp32 graph is those MatMuls; the int8 and int4 graphs are the same graph through our own
`quantize_graph` (MatMulNBits, symmetric, accuracy_level 4) with the block size the checkpoint's
decoder was quantized with (`--block-size`, its manifest's `quantization.<variant>.block_size`).
Files are `<name>_<K>x<N>x<COUNT>_<precision>[_b<block>].onnx`; existing files are kept (delete one
to regenerate it).

    python gemm_graphs.py OUT_DIR --shape q_o:896:896:48 --shape lm_head:896:151936:1 [--precision fp32 int4]
        [--block-size 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from r1judge_train.export.quantize import DEFAULT_BLOCK_SIZE, QUANTIZED_BITS, quantize_graph

PRECISIONS = ("fp32", "int8", "int4")
OPSET = 21

Shape = tuple[str, int, int, int]


def graph_name(shape: Shape, precision: str, block_size: int) -> str:
    name, k, n, count = shape
    block = "" if precision == "fp32" else f"_b{block_size}"
    return f"{name}_{k}x{n}x{count}_{precision}{block}.onnx"


def matmul_model(shape: Shape, seed: int) -> onnx.ModelProto:
    """`y<i> = x @ W<i>` for i < COUNT; W random, scaled as a trained layer's (ordinary values to quantize)."""
    _, k, n, count = shape
    rng = np.random.default_rng(seed)
    scale = np.float32(1 / np.sqrt(k))
    weights = [
        numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32) * scale, f"w{i}") for i in range(count)
    ]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", f"w{i}"], [f"y{i}"]) for i in range(count)],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, ["M", n]) for i in range(count)],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    return model


def parse_shape(text: str) -> Shape:
    name, k, n, *count = text.split(":")
    if not name.replace("_", "").isalnum() or len(count) > 1:
        raise argparse.ArgumentTypeError(f"shape {text!r}: expected NAME:K:N[:COUNT], NAME of letters, digits, _")
    return name, int(k), int(n), int(count[0]) if count else 1


def write_graphs(out: Path, shapes: list[Shape], precisions: list[str], block_size: int) -> list[Path]:
    """Writes the missing graphs; returns every graph's path (shapes × precisions, in that order)."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index, shape in enumerate(shapes):
        fp32_path = out / graph_name(shape, "fp32", block_size)
        for precision in precisions:
            path = out / graph_name(shape, precision, block_size)
            paths.append(path)
            if path.exists():
                continue
            print(f"writing {path.name}", file=sys.stderr)
            # Written under a temporary name and renamed: a killed run leaves no partial graph behind.
            with tempfile.TemporaryDirectory(dir=out) as tmp:
                partial = Path(tmp) / path.name
                if precision == "fp32":
                    onnx.save(matmul_model(shape, seed=index), str(partial))
                else:
                    src = fp32_path if fp32_path.exists() else Path(tmp) / "fp32.onnx"
                    if not src.exists():
                        onnx.save(matmul_model(shape, seed=index), str(src))
                    quantize_graph(src, partial, QUANTIZED_BITS[precision], block_size)
                partial.replace(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="directory for the graphs")
    parser.add_argument(
        "--shape",
        type=parse_shape,
        action="append",
        required=True,
        help="NAME:K:N[:COUNT]",
    )
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    args = parser.parse_args(argv)
    for path in write_graphs(args.out, args.shape, args.precision, args.block_size):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
