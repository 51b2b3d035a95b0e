"""Write a complete r1-judge checkpoint from a trained Qwen2.5-VL model (docs/checkpoint-format.md)."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path
from typing import Any

import onnx
import onnxruntime
import torch
import transformers
from transformers import Qwen2_5_VLForConditionalGeneration

from .. import __version__
from ..checkpoint.manifest import DTYPES, MANIFEST_NAME, build_manifest, check_provenance, graph_file
from ..checkpoint.validate import Checkpoint, load_checkpoint
from ..models.inputs import check_preprocessor, preprocessor_config
from ..tokenizer.qwen import load_tokenizer
from .decoder import export_decoder, export_embed_tokens
from .fp16 import convert_to_fp16
from .quantize import QUANTIZED_BITS, add_quantized_variants
from .vision import export_vision_encoder


def generation_config(eos_ids: list[int], pad_id: int) -> dict[str, Any]:
    """R1-Reward's sampling defaults: greedy for one verdict, temperature 1.0 for votes."""
    return {
        "eos_token_id": eos_ids,
        "pad_token_id": pad_id,
        "do_sample": False,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "max_new_tokens": 1024,
    }


def tool_versions() -> dict[str, str]:
    return {
        "r1judge_train": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def export_checkpoint(
    model: Qwen2_5_VLForConditionalGeneration,
    tokenizer_dir: Path,
    out_dir: Path,
    model_id: str,
    provenance: dict[str, Any],
    variants: tuple[str, ...] = ("fp32", "fp16"),
    with_vision: bool = True,
    preprocessor: dict[str, Any] | None = None,
) -> Checkpoint:
    """Export graphs (fp32, then converted variants), copy tokenizer files, write configs and the manifest.

    `preprocessor`: the image preprocessing the model was trained with (default: R1-Reward's bounds)."""
    # Refused before anything is deleted or exported (minutes for a real model), not at the manifest.
    check_provenance(provenance)
    preprocessor = check_preprocessor(preprocessor) if preprocessor is not None else preprocessor_config()
    quantized = tuple(v for v in variants if v in QUANTIZED_BITS)
    if quantized and "fp32" not in variants:
        raise ValueError(f"variants {quantized} are quantized from fp32: list fp32 too")
    variants = tuple(v for v in variants if v not in QUANTIZED_BITS)
    model = model.eval().float()
    tok = load_tokenizer(tokenizer_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "onnx").mkdir(parents=True)

    model.config.save_pretrained(out_dir)
    eos = [tok.ids.im_end, tok.ids.endoftext]
    _write_json(out_dir / "generation_config.json", generation_config(eos, tok.ids.endoftext))
    _write_json(out_dir / "preprocessor_config.json", preprocessor)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_dir / name, out_dir / name)

    exporters = {"embed_tokens": export_embed_tokens, "decoder_model_merged": export_decoder}
    if with_vision:
        exporters["vision_encoder"] = export_vision_encoder
    for graph, export in exporters.items():
        export(model, out_dir / graph_file(graph, "fp32"))
    table: dict[str, dict[str, str]] = {}
    for variant in variants:
        if variant not in DTYPES:
            raise ValueError(f"unknown variant {variant!r}; known: {sorted(DTYPES)}")
        for graph in exporters:
            if variant != "fp32":
                convert_to_fp16(out_dir / graph_file(graph, "fp32"), out_dir / graph_file(graph, variant))
            table.setdefault(variant, {})[graph] = graph_file(graph, variant)
    if "fp32" not in variants:  # fp32 was only the source of the conversions
        for graph in exporters:
            (out_dir / graph_file(graph, "fp32")).unlink()

    provenance = {**provenance, "tools": tool_versions()}
    manifest = build_manifest(out_dir, model_id, tok.ids, model.config.text_config, table, provenance)
    _write_json(out_dir / MANIFEST_NAME, manifest)
    if quantized:
        return add_quantized_variants(out_dir, quantized)
    return load_checkpoint(out_dir)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")
