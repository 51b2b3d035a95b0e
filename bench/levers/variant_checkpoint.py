"""A copy of a checkpoint with one variant's decoder rebuilt another way, for bench/levers.ts: a quantized
decoder with other MatMulNBits settings (block size, accuracy_level), or any decoder with its RMSNorms
fused into onnxruntime's SimplifiedLayerNormalization (onnxruntime.transformers' own fusion: the
exporter writes rsqrt as Sqrt + Reciprocal, a pattern onnxruntime's session-time fusion does not match).
Every other file is a symlink to the original's, and the manifest lists the new decoder under the same
variant name, so the engine loads it exactly as it loads ours.

    python bench/levers/variant_checkpoint.py SRC DST --variant int4 --block-size 128 --accuracy-level 4
    python bench/levers/variant_checkpoint.py SRC DST --variant fp32 --fuse-rms-norm
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import onnx
from onnxruntime.transformers.fusion_simplified_layernorm import FusionSimplifiedLayerNormalization
from onnxruntime.transformers.onnx_model import OnnxModel

from r1judge_train.checkpoint.manifest import MANIFEST_NAME, graph_file, sha256_file
from r1judge_train.export.quantize import QUANTIZED_BITS, quantize_graph


def fuse_rms_norm(src: Path, dst: Path) -> int:
    """Writes `src` with its RMSNorms as SimplifiedLayerNormalization to `dst`; returns how many it fused."""
    model = OnnxModel(onnx.load(str(src)))
    FusionSimplifiedLayerNormalization(model).apply()
    model.prune_graph()
    fused = sum(1 for node in model.model.graph.node if node.op_type == "SimplifiedLayerNormalization")
    # Over 2 GB (the fp32 0.5B decoder) a graph must keep its weights in a file beside it.
    big = sum(t.ByteSize() for t in model.model.graph.initializer) > 1 << 30
    onnx.save(model.model, str(dst), save_as_external_data=big, location=f"{dst.name}.data")
    return fused


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--block-size", type=int)
    parser.add_argument("--accuracy-level", type=int)
    parser.add_argument("--fuse-rms-norm", action="store_true")
    args = parser.parse_args()
    if (args.dst / MANIFEST_NAME).exists():
        return
    manifest = json.loads((args.src / MANIFEST_NAME).read_text())
    rel = graph_file("decoder_model_merged", args.variant)
    args.dst.mkdir(parents=True, exist_ok=True)
    for entry in args.src.rglob("*"):
        target = args.dst / entry.relative_to(args.src)
        if entry.is_dir():
            target.mkdir(exist_ok=True)
        elif entry.name != MANIFEST_NAME and not entry.relative_to(args.src).as_posix().startswith(rel):
            os.symlink(entry.resolve(), target)
    decoder = args.dst / rel
    if args.block_size is not None:
        fp32 = args.src / manifest["variants"]["fp32"]["decoder_model_merged"]
        quantize_graph(fp32, decoder, QUANTIZED_BITS[args.variant], args.block_size, args.accuracy_level or 4)
        manifest.setdefault("quantization", {})[args.variant] = {
            **manifest.get("quantization", {}).get(args.variant, {}),
            "block_size": args.block_size,
            "accuracy_level": args.accuracy_level or 4,
        }
    if args.fuse_rms_norm:
        print(f"{fuse_rms_norm(decoder if decoder.exists() else args.src / rel, decoder)} RMSNorms fused")
    for path in (decoder, decoder.with_name(f"{decoder.name}.data")):
        if path.exists():
            key = path.relative_to(args.dst).as_posix()
            manifest["files"][key] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    # Written last: its presence says the copy is complete.
    (args.dst / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
