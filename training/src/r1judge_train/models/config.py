"""Tiny and real-shaped Qwen2.5-VL configs, built from scratch.

Constraints Qwen2.5-VL puts on a config (checked by `validate_config`):
- the vision merger's `out_hidden_size` equals the text `hidden_size` (image features become token embeddings);
- `sum(mrope_section)` equals half the text head dim (M-RoPE splits the rotary half into t/h/w sections);
- the vision head dim is even (2-D rotary);
- image/video/vision-start/vision-end ids are the tokenizer's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import Qwen2_5_VLConfig


@dataclass(frozen=True)
class SpecialTokenIds:
    """Ids of the Qwen chat/vision special tokens in a given tokenizer."""

    endoftext: int
    im_start: int
    im_end: int
    vision_start: int
    vision_end: int
    image_pad: int
    video_pad: int


@dataclass(frozen=True)
class TextShape:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    mrope_section: tuple[int, int, int]
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True


@dataclass(frozen=True)
class VisionShape:
    depth: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    fullatt_block_indexes: tuple[int, ...]
    window_size: int = 112
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2


# The demo judge: big enough to learn the demo task in minutes on 2 CPU cores, small enough to commit.
DEMO_TEXT = TextShape(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    mrope_section=(4, 6, 6),
    rope_theta=10_000.0,
    max_position_embeddings=4096,
)
DEMO_VISION = VisionShape(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, fullatt_block_indexes=(1,))

# Qwen2.5-0.5B's language-model shape (for benchmarks; random weights). The vision tower is kept
# small because the benchmark measures the decoder.
QWEN25_05B_TEXT = TextShape(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    mrope_section=(8, 12, 12),  # head_dim 896/14 = 64: sections sum to 32 (Qwen2.5-VL's 16/24/24, halved)
    max_position_embeddings=32768,
)

# Qwen2.5-VL-7B's shapes, the base of the released R1-Reward-7B (reference; not built here).
QWEN25_VL_7B_TEXT = TextShape(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    mrope_section=(16, 24, 24),
    max_position_embeddings=128000,
    tie_word_embeddings=False,
)
QWEN25_VL_7B_VISION = VisionShape(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    fullatt_block_indexes=(7, 15, 23, 31),
)


def build_config(
    vocab_size: int, ids: SpecialTokenIds, text: TextShape = DEMO_TEXT, vision: VisionShape = DEMO_VISION
) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config for a tokenizer of `vocab_size` whose special tokens are `ids`."""
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": text.hidden_size,
            "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.num_hidden_layers,
            "num_attention_heads": text.num_attention_heads,
            "num_key_value_heads": text.num_key_value_heads,
            "max_position_embeddings": text.max_position_embeddings,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": text.rope_theta,
                "mrope_section": list(text.mrope_section),
            },
            "tie_word_embeddings": text.tie_word_embeddings,
            "bos_token_id": ids.endoftext,
            "eos_token_id": ids.im_end,
            "pad_token_id": ids.endoftext,
        },
        vision_config={
            "depth": vision.depth,
            "hidden_size": vision.hidden_size,
            "intermediate_size": vision.intermediate_size,
            "num_heads": vision.num_heads,
            "out_hidden_size": text.hidden_size,
            "patch_size": vision.patch_size,
            "spatial_merge_size": vision.spatial_merge_size,
            "temporal_patch_size": vision.temporal_patch_size,
            "window_size": vision.window_size,
            "fullatt_block_indexes": list(vision.fullatt_block_indexes),
        },
        image_token_id=ids.image_pad,
        video_token_id=ids.video_pad,
        vision_start_token_id=ids.vision_start,
        vision_end_token_id=ids.vision_end,
        tie_word_embeddings=text.tie_word_embeddings,
        bos_token_id=ids.endoftext,
        eos_token_id=ids.im_end,
        pad_token_id=ids.endoftext,
    )
    validate_config(config)
    return config


class UnsupportedConfigError(ValueError):
    """A config this project cannot build, train or export; names the field."""

    def __init__(self, field: str, message: str, source: str = "config.json") -> None:
        super().__init__(f"{source}: field '{field}': {message}")
        self.field = field
        self.source = source


def validate_config(config: Qwen2_5_VLConfig, source: str = "config.json") -> None:
    """Raise UnsupportedConfigError naming the first field that breaks a Qwen2.5-VL constraint."""
    if getattr(config, "model_type", None) != "qwen2_5_vl":
        raise UnsupportedConfigError(
            "model_type", f"expected 'qwen2_5_vl', got {getattr(config, 'model_type', None)!r}", source
        )
    text, vision = config.text_config, config.vision_config
    head_dim = text.hidden_size // text.num_attention_heads
    if text.hidden_size % text.num_attention_heads:
        raise UnsupportedConfigError(
            "text_config.hidden_size",
            f"{text.hidden_size} is not divisible by num_attention_heads={text.num_attention_heads}",
            source,
        )
    if text.num_attention_heads % text.num_key_value_heads:
        raise UnsupportedConfigError(
            "text_config.num_key_value_heads",
            f"num_attention_heads={text.num_attention_heads} is not a multiple of {text.num_key_value_heads}",
            source,
        )
    rope = text.rope_parameters or {}
    section = rope.get("mrope_section")
    if not section or len(section) != 3 or sum(section) != head_dim // 2:
        raise UnsupportedConfigError(
            "text_config.rope_parameters.mrope_section",
            f"{section!r} must have 3 entries summing to head_dim/2 = {head_dim // 2}",
            source,
        )
    if vision.out_hidden_size != text.hidden_size:
        raise UnsupportedConfigError(
            "vision_config.out_hidden_size",
            f"{vision.out_hidden_size} must equal text_config.hidden_size={text.hidden_size}",
            source,
        )
    if (vision.hidden_size // vision.num_heads) % 2:
        raise UnsupportedConfigError(
            "vision_config.num_heads", "the vision head dim must be even for 2-D rotary embeddings", source
        )
    for field in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
        value = getattr(config, field, None)
        if not isinstance(value, int) or not 0 <= value < text.vocab_size:
            raise UnsupportedConfigError(
                field, f"{value!r} is not a token id below vocab_size={text.vocab_size}", source
            )
