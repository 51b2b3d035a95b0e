"""Random-weight checkpoints of real model shapes (for benchmarks): e.g. Qwen2.5-0.5B's language model.

Nothing is trained; the point is the shape, so the server's speed can be measured on a model of real
size without downloading one. The tokenizer is any Qwen tokenizer.json (the real vocabulary).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from .export.checkpoint import export_checkpoint
from .models.config import DEMO_VISION, QWEN25_05B_TEXT, TextShape, build_config
from .tokenizer.qwen import load_tokenizer, tokenizer_config

SHAPES: dict[str, TextShape] = {"qwen2.5-0.5b": QWEN25_05B_TEXT}
# Qwen2.5's embedding rows (the tokenizer has fewer entries; the rest are padding rows, as released).
QWEN25_VOCAB = 151936
MADE_BY = "r1judge-train random"


def build_random_model(shape: str, tokenizer_dir: Path, seed: int = 0) -> Qwen2_5_VLForConditionalGeneration:
    """The random model of `shape`: the same weights for the same seed (benchmarks rebuild it in PyTorch)."""
    tok = load_tokenizer(tokenizer_dir)
    vocab = max(QWEN25_VOCAB, tok.tokenizer.get_vocab_size())
    torch.manual_seed(seed)
    config = build_config(vocab, tok.ids, SHAPES[shape], DEMO_VISION)
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def random_provenance(checkpoint: Path) -> tuple[str, int]:
    """The shape and seed a checkpoint made by `r1judge-train random` records (r1judge.json's provenance)."""
    manifest = checkpoint / "r1judge.json"
    provenance = json.loads(manifest.read_text()).get("provenance", {})
    if provenance.get("made_by") != MADE_BY or "shape" not in provenance or "seed" not in provenance:
        raise ValueError(
            f"{manifest}: field 'provenance': {provenance.get('made_by')!r} is not {MADE_BY!r} with a shape and "
            "seed; only random checkpoints can be rebuilt in PyTorch (their weights are a function of both)"
        )
    return str(provenance["shape"]), int(provenance["seed"])


def rebuild_random_model(checkpoint: Path) -> Qwen2_5_VLForConditionalGeneration:
    """The PyTorch model a random checkpoint was exported from (its tokenizer.json is in it)."""
    shape, seed = random_provenance(checkpoint)
    return build_random_model(shape, checkpoint, seed)


def build_random_checkpoint(
    shape: str, tokenizer_dir: Path, out_dir: Path, seed: int = 0, variants: tuple[str, ...] = ("fp32",)
) -> Path:
    model = build_random_model(shape, tokenizer_dir, seed)
    config = model.config
    provenance = {"made_by": MADE_BY, "shape": shape, "seed": seed, "trained": False}
    with tempfile.TemporaryDirectory() as staging:
        # The judge prompt is rendered with the Qwen2-VL chat template whatever the tokenizer came with.
        shutil.copyfile(tokenizer_dir / "tokenizer.json", Path(staging) / "tokenizer.json")
        (Path(staging) / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config(config.text_config.max_position_embeddings))
        )
        export_checkpoint(model, Path(staging), out_dir, f"random-{shape}", provenance, variants)
    return out_dir
