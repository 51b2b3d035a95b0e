"""Weight-only quantized variants of an exported checkpoint's decoder (int4, int8).

A decode step reads every decoder weight once, so bytes per token set its speed. The decoder's MatMul
weights become onnxruntime's MatMulNBits (block-wise, symmetric, one fp32 scale per block of
`block_size` input rows), which the CPU and WebGPU providers both run; the KV cache and the graph's
inputs and outputs stay fp32, so the server feeds a quantized variant exactly as fp32. On the CPU,
`accuracy_level` 4 lets onnxruntime quantize the activations to int8 per block and use integer dot
products: on the Qwen2.5-0.5B-shaped decoder (2 cores, past 300) a step took 31 ms (int4) and ~50 ms
(int8) against 137 ms (fp32); without it 93 ms (int4) and 2,337 ms (int8: no fast kernel). GPUs
ignore it.
The embedding table (a Gather) and the vision encoder are small next to the decoder's matmuls and
stay fp32: a quantized variant lists their fp32 files.

Blocks of 128 input rows by default (one fp32 scale per 128 weights: 4.25 bits per int4 weight, 8.25
per int8): on the CPU, onnxruntime's int8-activation kernels spend much of their time on the per-block
scaling, and on the Qwen2.5-0.5B-shaped decoder (2 cores, `npm run bench:levers`) block 128 made a
one-sample judgement 25 % (int4) and 20 % (int8) faster than block 32, prefill and decode alike
(block 64: 6-7 %). On the demo judge it cost no accuracy (docs/evaluation.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import onnx
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

from ..checkpoint.manifest import MANIFEST_NAME, graph_file, sha256_file
from ..checkpoint.validate import Checkpoint, load_checkpoint

QUANTIZED_BITS = {"int4": 4, "int8": 8}
DEFAULT_BLOCK_SIZE = 128
DEFAULT_ACCURACY_LEVEL = 4


def quantize_graph(
    src: Path,
    dst: Path,
    bits: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    accuracy_level: int = DEFAULT_ACCURACY_LEVEL,
) -> int:
    """Write `src` with its constant-weight MatMuls as MatMulNBits to `dst`; returns how many it converted."""
    model = onnx.load(str(src))
    # It logs every node it looks at (thousands of lines) at INFO.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    quantizer = MatMulNBitsQuantizer(
        model, bits=bits, block_size=block_size, is_symmetric=True, accuracy_level=accuracy_level
    )
    quantizer.process()
    quantized = quantizer.model.model
    converted = sum(1 for node in quantized.graph.node if node.op_type == "MatMulNBits")
    if converted == 0:
        raise ValueError(f"{src}: no MatMul with a constant weight to quantize")
    onnx.save(quantized, str(dst))
    return converted


def add_quantized_variants(root: Path, variants: tuple[str, ...], block_size: int = DEFAULT_BLOCK_SIZE) -> Checkpoint:
    """Quantize the fp32 decoder of the checkpoint at `root` into each of `variants` and list them in its manifest."""
    manifest_path = root / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    fp32 = manifest["variants"].get("fp32")
    if fp32 is None:
        raise ValueError(f"{manifest_path}: field 'variants.fp32': quantizing needs the fp32 graphs")
    for variant in variants:
        if variant not in QUANTIZED_BITS:
            raise ValueError(f"unknown quantized variant {variant!r}; known: {sorted(QUANTIZED_BITS)}")
        rel = graph_file("decoder_model_merged", variant)
        quantize_graph(root / fp32["decoder_model_merged"], root / rel, QUANTIZED_BITS[variant], block_size)
        manifest["files"][rel] = {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        manifest["variants"][variant] = {**fp32, "decoder_model_merged": rel}
        manifest.setdefault("quantization", {})[variant] = {
            "method": "MatMulNBits, weight-only, symmetric",
            "bits": QUANTIZED_BITS[variant],
            "block_size": block_size,
            "accuracy_level": DEFAULT_ACCURACY_LEVEL,
            "graphs": ["decoder_model_merged"],
        }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return load_checkpoint(root)
