"""Turn judging items into model batches: prompt + teacher completion, images, labels, M-RoPE ids.

Shared by the SFT cold start and evaluation; the prompt is encoded exactly as at inference time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..models.inputs import encode_prompt, mrope_positions, to_rgb
from ..tokenizer.qwen import LoadedTokenizer
from .demo_task import JudgeItem
from .prompt import judge_messages, user_messages
from .teacher import premise

IGNORE_INDEX = -100


def load_item_images(item: JudgeItem, root: Path) -> list[Image.Image]:
    """The item's images in RGB by the one rule the server applies too (`to_rgb`: R1-Reward's)."""
    return [to_rgb(Image.open(root / rel)) for rel in item.images]


@dataclass(frozen=True)
class EncodedExample:
    prompt_ids: list[int]
    completion_ids: list[int]
    pixel_values: np.ndarray | None  # (N_patches, 1176)
    image_grid_thw: np.ndarray | None  # (n_images, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_ids": self.prompt_ids,
            "completion_ids": self.completion_ids,
            "pixel_values": self.pixel_values,
            "image_grid_thw": self.image_grid_thw,
        }


def _encode(
    item: JudgeItem, messages: list[dict[str, Any]], completion: str, tok: LoadedTokenizer, root: Path, processor: Any
) -> EncodedExample:
    """`messages` (with the item's images) as the server encodes a prompt; `completion` + <|im_end|>."""
    prompt = encode_prompt(tok, messages, load_item_images(item, root), processor)
    completion_ids = [*tok.tokenizer.encode(completion, add_special_tokens=False).ids, tok.ids.im_end]
    pixels = prompt.pixels
    return EncodedExample(
        prompt.input_ids,
        completion_ids,
        pixels.pixel_values if pixels else None,
        pixels.image_grid_thw if pixels else None,
    )


def encode_example(item: JudgeItem, tok: LoadedTokenizer, root: Path, processor: Any = None) -> EncodedExample:
    """Prompt ids as the server builds them; completion = teacher trace + <|im_end|>."""
    messages = judge_messages(item.question, item.responses[0], item.responses[1], item.images)
    return _encode(item, messages, item.trace, tok, root, processor)


def encode_fact_example(item: JudgeItem, tok: LoadedTokenizer, root: Path, processor: Any = None) -> EncodedExample:
    """An image item's fact alone: its images and question → the teacher's premise ("The shape is a
    circle."). No responses in the prompt, so the fact cannot be copied from one of them: the loss
    reaches the vision tower only through what the image shows."""
    if item.kind != "image":
        raise ValueError(f"{item.id}: fact examples are made from image items, not {item.kind!r}")
    messages = user_messages(item.question, item.images)
    return _encode(item, messages, premise(item.task, item.answer), tok, root, processor)


@dataclass
class JudgeCollator:
    """Right-pads a batch; loss only on completion tokens; explicit 3-axis position ids."""

    pad_id: int
    image_pad_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seqs = [list(e["prompt_ids"]) + list(e["completion_ids"]) for e in examples]
        width = max(len(s) for s in seqs)
        batch = len(seqs)
        input_ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        labels = torch.full((batch, width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((batch, width), dtype=torch.long)
        position_ids = torch.zeros((3, batch, width), dtype=torch.long)
        pixel_values, grids = [], []
        for row, (example, seq) in enumerate(zip(examples, seqs, strict=True)):
            n, n_prompt = len(seq), len(example["prompt_ids"])
            input_ids[row, :n] = torch.tensor(seq)
            labels[row, n_prompt:n] = torch.tensor(seq[n_prompt:])
            attention_mask[row, :n] = 1
            grid = example["image_grid_thw"]
            grid = None if grid is None else np.asarray(grid, dtype=np.int64)
            positions, _ = mrope_positions(seq, grid, self.image_pad_id)
            position_ids[:, row, :n] = torch.from_numpy(positions)
            if grid is not None:
                pixel_values.append(torch.as_tensor(np.asarray(example["pixel_values"], dtype=np.float32)))
                grids.append(torch.from_numpy(grid))
        out = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "labels": labels,
        }
        if pixel_values:
            out["pixel_values"] = torch.cat(pixel_values)
            out["image_grid_thw"] = torch.cat(grids)
        return out
