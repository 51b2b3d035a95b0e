"""One small ONNX graph per decoder matmul shape and precision, for the roofline bench (bench/roofline.ts).

Each graph is `y = x @ W` with `x` float32 [M, K] (M dynamic) and `W` a random float32 [K, N] constant:
the fp32 graph is that MatMul; the int8 and int4 graphs are the same graph through our own
`quantize_graph` (MatMulNBits, block 32, symmetric, accuracy_level 4), so they are exactly the
quantization the checkpoint's decoder gets. Files are `<name>_<K>x<N>_<precision>.onnx`; existing files
are kept (delete one to regenerate it).

    python gemm_graphs.py OUT_DIR --shape q_o:896:896 --shape down:4864:896 [--precision fp32 int4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from r1judge_train.export.quantize import QUANTIZED_BITS, quantize_graph

PRECISIONS = ("fp32", "int8", "int4")
OPSET = 21


def graph_name(name: str, k: int, n: int, precision: str) -> str:
    return f"{name}_{k}x{n}_{precision}.onnx"


def matmul_model(k: int, n: int, seed: int) -> onnx.ModelProto:
    """`y = x @ W`, W random (scaled as a trained layer's, so quantization sees ordinary values)."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(
        np.float32
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])],
        [numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def parse_shape(text: str) -> tuple[str, int, int]:
    name, k, n = text.split(":")
    if not name.replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(
            f"shape name {name!r}: letters, digits and _ only"
        )
    return name, int(k), int(n)


def write_graphs(
    out: Path, shapes: list[tuple[str, int, int]], precisions: list[str]
) -> list[Path]:
    """Writes the missing graphs; returns every graph's path (shapes × precisions, in that order)."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index, (name, k, n) in enumerate(shapes):
        fp32_path = out / graph_name(name, k, n, "fp32")
        for precision in precisions:
            path = out / graph_name(name, k, n, precision)
            paths.append(path)
            if path.exists():
                continue
            print(f"writing {path.name}", file=sys.stderr)
            model = matmul_model(k, n, seed=index)
            # Written under a temporary name and renamed: a killed run leaves no partial graph behind.
            with tempfile.TemporaryDirectory(dir=out) as tmp:
                partial = Path(tmp) / path.name
                if precision == "fp32":
                    onnx.save(model, str(partial))
                else:
                    src = fp32_path if fp32_path.exists() else Path(tmp) / "fp32.onnx"
                    if not src.exists():
                        onnx.save(model, str(src))
                    quantize_graph(src, partial, QUANTIZED_BITS[precision])
                partial.replace(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="directory for the graphs")
    parser.add_argument(
        "--shape",
        type=parse_shape,
        action="append",
        required=True,
        help="NAME:K:N (repeatable)",
    )
    parser.add_argument(
        "--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS)
    )
    args = parser.parse_args(argv)
    for path in write_graphs(args.out, args.shape, args.precision):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
