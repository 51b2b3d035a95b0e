"""The manifest `r1judge.json`: what the server needs to know about a checkpoint, and file hashes.

Kept in step with docs/checkpoint-format.md, the contract between training/ and the server.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..data.prompt import PROMPT_TEMPLATE_ID
from ..data.verdict import R1_REWARD_VERDICT
from ..models.config import SpecialTokenIds
from ..paths import absolute_paths

MANIFEST_NAME = "r1judge.json"
FORMAT_NAME = "r1judge-checkpoint"
FORMAT_VERSION = 1

GRAPH_NAMES = ("vision_encoder", "embed_tokens", "decoder_model_merged")
# Variant -> the float type of its graphs' inputs and outputs (int4/int8 quantize weights only).
DTYPES = {"fp32": "float32", "fp16": "float16", "int4": "float32", "int8": "float32"}


def graph_file(graph: str, variant: str) -> str:
    """transformers.js naming: onnx/<graph>.onnx for fp32, onnx/<graph>_fp16.onnx for fp16."""
    return f"onnx/{graph}.onnx" if variant == "fp32" else f"onnx/{graph}_{variant}.onnx"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_table(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under `root` except the manifest itself."""
    table: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        table[path.relative_to(root).as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return table


def check_provenance(provenance: dict[str, Any]) -> None:
    """The manifest is shipped and served (GET /models): a build machine's paths have no place in it."""
    for where, path in absolute_paths(provenance, "provenance"):
        raise ValueError(f"{where}: {path!r} is an absolute path; record it relative to a named directory")


def build_manifest(
    root: Path,
    model_id: str,
    ids: SpecialTokenIds,
    text_config: Any,
    variants: dict[str, dict[str, str]],
    provenance: dict[str, Any],
) -> dict[str, Any]:
    check_provenance(provenance)
    head_dim = text_config.hidden_size // text_config.num_attention_heads
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "architecture": "qwen2_5_vl",
        "prompt_template": PROMPT_TEMPLATE_ID,
        # The rule the teacher writes and training parses by; the server reads votes by it.
        "verdict": R1_REWARD_VERDICT.manifest(),
        "tokens": {
            "eos_token_ids": [ids.im_end, ids.endoftext],
            "pad_token_id": ids.endoftext,
            "image_pad_token_id": ids.image_pad,
            "vision_start_token_id": ids.vision_start,
            "vision_end_token_id": ids.vision_end,
        },
        "decoder": {
            "num_layers": text_config.num_hidden_layers,
            "num_key_value_heads": text_config.num_key_value_heads,
            "head_dim": head_dim,
            "hidden_size": text_config.hidden_size,
            "vocab_size": text_config.vocab_size,
            "logits": "last",
        },
        "variants": variants,
        "files": file_table(root),
        "provenance": provenance,
    }
