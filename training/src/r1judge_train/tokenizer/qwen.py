"""Qwen2-style byte-level BPE: training on a corpus, the chat template, and loading any Qwen tokenizer.json.

The trained tokenizer has Qwen2's normalizer, pre-tokenizer (digits split one by one), byte-level
decoder and chat special tokens, so the server handles it and a real Qwen tokenizer.json through the
same code path; only the vocabulary differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer

from ..models.config import SpecialTokenIds

# Qwen2's pre-tokenizer pattern (tokenizer.json of Qwen2/Qwen2.5): \p{N} alone means one token per digit.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The Qwen2-VL chat template (tokenizer_config.json of Qwen2-VL / Qwen2.5-VL Instruct).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The markers that stand for pixels: a policy must never write them (the vision tower has no image).
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
# Order matters only for our own trained tokenizer: these take the ids right after the BPE vocabulary.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *VISION_TOKENS)
_FIELD_OF_TOKEN = {
    "<|endoftext|>": "endoftext",
    "<|im_start|>": "im_start",
    "<|im_end|>": "im_end",
    "<|vision_start|>": "vision_start",
    "<|vision_end|>": "vision_end",
    "<|image_pad|>": "image_pad",
    "<|video_pad|>": "video_pad",
}


class TokenizerLoadError(ValueError):
    """A tokenizer file that cannot be used; names the file and field."""

    def __init__(self, path: Path, field: str, message: str) -> None:
        super().__init__(f"{path}: field '{field}': {message}")
        self.path = path
        self.field = field


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024) -> Tokenizer:
    """Train a Qwen2-shaped byte-level BPE whose vocabulary ends with the chat special tokens."""
    tokenizer = Tokenizer(models.BPE(byte_fallback=False, ignore_merges=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tokenizer


def special_token_ids(tokenizer: Tokenizer, source: Path = Path("tokenizer.json")) -> SpecialTokenIds:
    """Ids of the Qwen special tokens; a missing one is a load error naming it."""
    ids: dict[str, int] = {}
    for token, field in _FIELD_OF_TOKEN.items():
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise TokenizerLoadError(source, "added_tokens", f"special token {token} is missing")
        ids[field] = token_id
    return SpecialTokenIds(**ids)


def tokenizer_config(max_length: int) -> dict[str, Any]:
    """tokenizer_config.json contents: chat template and the roles of the special tokens."""
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "chat_template": QWEN2_VL_CHAT_TEMPLATE,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
    }


def save_tokenizer(tokenizer: Tokenizer, out_dir: Path, max_length: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(max_length), indent=2) + "\n")


@dataclass(frozen=True)
class LoadedTokenizer:
    tokenizer: Tokenizer
    chat_template: str
    ids: SpecialTokenIds


def load_tokenizer(directory: Path) -> LoadedTokenizer:
    """Load tokenizer.json + tokenizer_config.json (ours or a real Qwen2/2.5/3 checkpoint's)."""
    tok_path, cfg_path = directory / "tokenizer.json", directory / "tokenizer_config.json"
    if not tok_path.is_file():
        raise TokenizerLoadError(tok_path, "(file)", "missing")
    try:
        tokenizer = Tokenizer.from_file(str(tok_path))
    except Exception as err:  # the Rust error text is the useful part
        raise TokenizerLoadError(tok_path, "(file)", f"not a valid tokenizer: {err}") from err
    template = QWEN2_VL_CHAT_TEMPLATE
    if cfg_path.is_file():
        try:
            config = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as err:
            raise TokenizerLoadError(cfg_path, "(file)", f"invalid JSON: {err}") from err
        template = config.get("chat_template") or template
        if not isinstance(template, str):
            raise TokenizerLoadError(cfg_path, "chat_template", "must be a string")
    return LoadedTokenizer(tokenizer, template, special_token_ids(tokenizer, tok_path))
