"""A copy of a checkpoint whose quantized decoder is rebuilt with other MatMulNBits settings (block size,
accuracy_level), for bench/levers.ts: every other file is a symlink to the original's, and the manifest
lists the new decoder under the same variant name, so the engine loads it exactly as it loads ours.

    python bench/levers/variant_checkpoint.py SRC DST --variant int4 --block-size 128 --accuracy-level 4
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from r1judge_train.checkpoint.manifest import MANIFEST_NAME, graph_file, sha256_file
from r1judge_train.export.quantize import QUANTIZED_BITS, quantize_graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--variant", choices=sorted(QUANTIZED_BITS), required=True)
    parser.add_argument("--block-size", type=int, required=True)
    parser.add_argument("--accuracy-level", type=int, required=True)
    args = parser.parse_args()
    manifest = json.loads((args.src / MANIFEST_NAME).read_text())
    rel = graph_file("decoder_model_merged", args.variant)
    if (args.dst / MANIFEST_NAME).exists():
        return
    args.dst.mkdir(parents=True, exist_ok=True)
    for entry in args.src.rglob("*"):
        target = args.dst / entry.relative_to(args.src)
        if entry.is_dir():
            target.mkdir(exist_ok=True)
        elif entry.name != MANIFEST_NAME and entry.relative_to(args.src).as_posix() != rel:
            os.symlink(entry.resolve(), target)
    fp32 = args.src / manifest["variants"]["fp32"]["decoder_model_merged"]
    bits = QUANTIZED_BITS[args.variant]
    quantize_graph(fp32, args.dst / rel, bits, args.block_size, args.accuracy_level)
    manifest["files"][rel] = {
        "sha256": sha256_file(args.dst / rel),
        "bytes": (args.dst / rel).stat().st_size,
    }
    manifest.setdefault("quantization", {})[args.variant] = {
        **manifest.get("quantization", {}).get(args.variant, {}),
        "block_size": args.block_size,
        "accuracy_level": args.accuracy_level,
    }
    # Written last: its presence says the copy is complete.
    (args.dst / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
