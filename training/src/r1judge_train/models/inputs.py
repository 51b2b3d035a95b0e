"""Model inputs for a judging prompt: image preprocessing, token ids (chat_encoding.py), M-RoPE ids.

This is the reference the server's TypeScript port is checked against (golden fixtures): the same
prompt text, token ids, pixel_values, grids and 3-axis position ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from ..tokenizer.qwen import LoadedTokenizer
from .chat_encoding import encode_chat, render_chat
from .to_rgb import to_rgb

__all__ = ["render_chat", "to_rgb"]  # re-exported: callers take every prompt input from here

# R1-Reward's training and evaluation bounds (r1-reward.md): 4·28·28 to 640·28·28 pixels.
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 640 * 28 * 28
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def preprocessor_config(min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS) -> dict[str, Any]:
    """preprocessor_config.json contents (the HF Qwen2-VL image processor's keys)."""
    return check_preprocessor(
        {
            "image_processor_type": "Qwen2VLImageProcessor",
            "do_resize": True,
            "resample": 3,  # PIL bicubic
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(CLIP_MEAN),
            "image_std": list(CLIP_STD),
            "do_convert_rgb": True,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
            "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
            "patch_size": 14,
            "temporal_patch_size": 2,
            "merge_size": 2,
        }
    )


def check_preprocessor(config: dict[str, Any], source: str = "preprocessor_config.json") -> dict[str, Any]:
    """`config` if its pixel bounds (min_pixels/max_pixels, else size.shortest_edge/longest_edge, as HF
    and the server read them) are positive integers in order; else a ValueError naming the field."""
    size = config.get("size") if isinstance(config.get("size"), dict) else {}
    bounds = {}
    for key, fallback in (("min_pixels", "shortest_edge"), ("max_pixels", "longest_edge")):
        field = key if key in config else f"size.{fallback}"
        value = config.get(key, size.get(fallback))
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{source}: field '{field}': expected a positive integer, got {value!r}")
        bounds[key] = (field, value)
    (min_field, low), (max_field, high) = bounds["min_pixels"], bounds["max_pixels"]
    if low > high:
        raise ValueError(f"{source}: field '{min_field}': {low} is larger than {max_field} {high}")
    return config


def image_processor(config: dict[str, Any] | None = None) -> Qwen2VLImageProcessorPil:
    """HF's PIL-based Qwen2-VL processor (the stock Qwen2_5_VLProcessor would want torchvision)."""
    c = config or preprocessor_config()
    # An explicit size dict: given min_pixels/max_pixels, HF 5.17 writes them into the class-level default.
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": c["min_pixels"], "longest_edge": c["max_pixels"]},
        patch_size=c["patch_size"],
        temporal_patch_size=c["temporal_patch_size"],
        merge_size=c["merge_size"],
        image_mean=c["image_mean"],
        image_std=c["image_std"],
    )


def checkpoint_image_processor(checkpoint_dir: Path) -> Qwen2VLImageProcessorPil | None:
    """The processor a checkpoint's preprocessor_config.json describes (its pixel bounds may differ);
    None for a text-only checkpoint that leaves the file out."""
    path = checkpoint_dir / "preprocessor_config.json"
    if not path.is_file():
        return None
    return image_processor(check_preprocessor(json.loads(path.read_text()), str(path)))


@dataclass(frozen=True)
class PixelInputs:
    pixel_values: np.ndarray  # (N_patches, 1176) float32
    image_grid_thw: np.ndarray  # (n_images, 3) int64


def preprocess_images(images: Sequence[Image.Image], processor: Qwen2VLImageProcessorPil) -> PixelInputs | None:
    if not images:
        return None
    out = processor(images=[to_rgb(image) for image in images], return_tensors="np")
    return PixelInputs(
        np.asarray(out["pixel_values"], dtype=np.float32), np.asarray(out["image_grid_thw"], dtype=np.int64)
    )


def mrope_positions(
    input_ids: Sequence[int], image_grid_thw: np.ndarray | None, image_pad_id: int, merge_size: int = 2
) -> tuple[np.ndarray, int]:
    """3-axis position ids (3, S) of one unpadded sequence and its rope delta.

    Text tokens advance all three axes together; the pads of one image get (t, h, w) grid positions
    offset by the position where the image starts, and the text after it resumes at that start plus
    max(h, w) / merge. Decoding then uses position past_len + rope_delta on every axis.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    positions = np.zeros((3, len(ids)), dtype=np.int64)
    grids = iter(image_grid_thw if image_grid_thw is not None else [])
    i, current = 0, 0
    while i < len(ids):
        if ids[i] != image_pad_id:
            positions[:, i] = current
            current += 1
            i += 1
            continue
        t, h, w = (int(x) for x in next(grids))
        h, w = h // merge_size, w // merge_size
        n = t * h * w
        tt, hh, ww = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
        positions[:, i : i + n] = np.stack([tt.ravel(), hh.ravel(), ww.ravel()]) + current
        current += max(h, w)
        i += n
    rope_delta = int(positions.max()) + 1 - len(ids) if len(ids) else 0
    return positions, rope_delta


@dataclass(frozen=True)
class PromptInputs:
    text: str  # the rendered prompt with expanded image pads
    input_ids: list[int]
    pixels: PixelInputs | None
    position_ids: np.ndarray  # (3, S)
    rope_delta: int


def encode_prompt(
    tok: LoadedTokenizer,
    messages: list[dict[str, Any]],
    images: Sequence[Image.Image] = (),
    processor: Qwen2VLImageProcessorPil | None = None,
    add_generation_prompt: bool = True,
) -> PromptInputs:
    """Everything the model needs for one prompt, from chat messages and decoded images: the message
    text tokenized as plain text, control tokens only from the template (chat_encoding.py)."""
    proc = processor or image_processor()
    pixels = preprocess_images(images, proc)
    grids = pixels.image_grid_thw if pixels is not None else None
    merge = proc.merge_size
    pads = [int(np.prod(grid)) // merge**2 for grid in grids] if grids is not None else []
    encoded = encode_chat(tok.tokenizer, tok.chat_template, messages, pads, add_generation_prompt)
    positions, delta = mrope_positions(encoded.input_ids, grids, tok.ids.image_pad, merge)
    return PromptInputs(encoded.text, encoded.input_ids, pixels, positions, delta)
