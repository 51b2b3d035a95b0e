"""A Qwen2.5-VL processor for images and text only, encoding prompts by the server's rule.

TRL's GRPOTrainer takes a multimodal model's processor; transformers' Qwen2_5_VLProcessor insists
on a video processor, which needs torchvision (not installed, and not needed: the judge sees still
images). This is the same processor without the video half, and with `models.inputs.encode_prompt`'s
rule for prompts: typed special-token strings in the request text stay plain text, images go
through `to_rgb` (tested).

TRL asks for a prompt twice. Generation takes `apply_chat_template(tokenize=True)`'s ids; the
log-prob forward pass renders the prompt as text (`apply_chat_template(tokenize=False)`) and calls
the processor on that text and the images. The stock processor would re-tokenize the text, making
typed `<|im_end|>`s control tokens and typed `<|image_pad|>`s image slots, and skip `to_rgb`: the
forward pass would score other ids and pixels than were generated from. So the tokenize=True path
remembers each prompt's rendered text (with its images' sizes, which fix the pad counts) and its
ids, and `__call__` answers a remembered text with those ids and the images' pixels by the same rule.
With images, a text it never encoded is refused; plain text without images (TRL's non-chat prompts)
is tokenized as the tokenizer does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from transformers import BatchFeature, PreTrainedTokenizerFast, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from ..models.inputs import encode_prompt, preprocess_images
from ..tokenizer.qwen import LoadedTokenizer


class JudgeProcessor(Qwen2_5_VLProcessor):
    remembered_prompts = 4096  # the rendered prompts whose ids `__call__` can answer (least recent go)

    # The parameters of __init__ are the processor's parts (ProcessorMixin reads them): no video_processor.
    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **_: Any):
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.loaded: LoadedTokenizer | None = None  # set by judge_processor
        # (rendered text, image sizes) -> generation ids; None where two encodings share the key.
        self._encoded: OrderedDict[tuple[str, tuple[tuple[int, int], ...]], np.ndarray | None] = OrderedDict()
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def __call__(
        self, images: Any = None, text: Any = None, videos: Any = None, audio: Any = None, **kwargs: Any
    ) -> Any:
        texts = [text] if isinstance(text, str) else list(text) if text is not None else None
        per_prompt = _per_prompt(images, len(texts) if texts is not None else 0)
        if texts is not None and videos is None and audio is None and len(per_prompt) == len(texts):
            found = [self._recall(t, imgs) for t, imgs in zip(texts, per_prompt, strict=True)]
            if all(ids is not None for ids in found):
                return self._remembered([ids for ids in found if ids is not None], per_prompt, **kwargs)
        if any(per_prompt) or videos is not None:
            raise ValueError(
                "JudgeProcessor: a prompt with images must be a text that apply_chat_template(tokenize=True) "
                "encoded (by the server's rule) with these images; the stock processor would read typed "
                "special-token strings as control tokens and skip to_rgb"
            )
        # Plain text (TRL's non-chat prompts and completions): tokenized as the tokenizer does.
        return super().__call__(images=None, text=text, videos=None, audio=audio, **kwargs)

    def _remember(self, text: str, images: Sequence[Image.Image], ids: list[int]) -> None:
        key = (text, tuple(image.size for image in images))
        row = np.asarray(ids, dtype=np.int32)
        known = self._encoded.get(key, row)
        # Two conversations rendering to one text yet encoding differently (a typed turn break versus a
        # real one): which one a later call means is unknowable, so the text is marked ambiguous.
        self._encoded[key] = row if known is not None and np.array_equal(known, row) else None
        self._encoded.move_to_end(key)
        while len(self._encoded) > self.remembered_prompts:
            self._encoded.popitem(last=False)

    def _recall(self, text: str, images: Sequence[Image.Image]) -> list[int] | None:
        key = (text, tuple(image.size for image in images))
        if key not in self._encoded:
            return None
        row = self._encoded[key]
        if row is None:
            raise ValueError(
                "JudgeProcessor: two conversations with this prompt text encode differently; "
                "which one is meant is unknown"
            )
        self._encoded.move_to_end(key)
        return row.tolist()

    def _remembered(
        self,
        ids: list[list[int]],
        images: list[list[Image.Image]],
        padding: bool | str = False,
        padding_side: str | None = None,
        pad_to_multiple_of: int | None = None,
        max_length: int | None = None,
        return_tensors: Any = None,
        return_attention_mask: bool = True,
        return_mm_token_type_ids: bool = True,
        **unsupported: Any,
    ) -> BatchFeature:
        """The stock processor's answer for remembered prompts: their generation ids, padded, and the
        pixels of their images by `preprocess_images` (to_rgb), concatenated in prompt order."""
        refused = sorted(k for k, v in unsupported.items() if v)
        if refused:
            raise ValueError(f"JudgeProcessor.__call__ on remembered prompts: unsupported {refused}")
        pixels = preprocess_images([image for row in images for image in row], self.image_processor)
        merge = self.image_processor.merge_size
        pads = int(sum(np.prod(g) // merge**2 for g in pixels.image_grid_thw)) if pixels is not None else 0
        if pads != sum(row.count(self.image_token_id) for row in ids):
            raise ValueError("JudgeProcessor: the images' sizes do not fit the remembered prompts' image pads")
        padded = self.tokenizer.pad(
            {"input_ids": ids},
            padding=padding,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side or self.tokenizer.padding_side,
            return_attention_mask=return_attention_mask,
        )
        out: dict[str, Any] = dict(padded)
        if return_mm_token_type_ids:
            out["mm_token_type_ids"] = self.create_mm_token_type_ids(out["input_ids"])
        if pixels is not None:
            out["pixel_values"] = pixels.pixel_values
            out["image_grid_thw"] = pixels.image_grid_thw
        return BatchFeature(out, tensor_type=return_tensors)

    # The base class's signature, so TRL's calls bind the same way.
    def apply_chat_template(
        self,
        conversation: Any,
        chat_template: str | None = None,
        tools: list[dict] | None = None,
        documents: list[dict[str, str]] | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool | str = False,
        return_assistant_tokens_mask: bool = False,
        tokenize: bool = False,
        return_tensors: Any = None,
        return_dict: bool = False,
        load_audio_from_video: bool = False,
        processor_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        if not tokenize:
            return super().apply_chat_template(
                conversation,
                chat_template,
                tools=tools,
                documents=documents,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final_message,
                return_assistant_tokens_mask=return_assistant_tokens_mask,
                return_tensors=return_tensors,
                return_dict=return_dict,
                load_audio_from_video=load_audio_from_video,
                processor_kwargs=processor_kwargs,
                **kwargs,
            )
        given = {
            "tools": tools,
            "documents": documents,
            "continue_final_message": continue_final_message,
            "return_assistant_tokens_mask": return_assistant_tokens_mask,
            "return_tensors": return_tensors,
            **{k: kwargs.get(k) for k in ("padding", "truncation", "max_length")},
        }
        unsupported = sorted(k for k, v in given.items() if v)
        # TRL asks for unpadded lists; padding here would have to match its left padding: refuse it.
        if unsupported:
            raise ValueError(f"JudgeProcessor.apply_chat_template(tokenize=True): unsupported {unsupported}")
        if self.loaded is None:
            raise ValueError(
                "JudgeProcessor: make it with judge_processor(), which gives it the tokenizer to encode with"
            )
        batched = isinstance(conversation[0], list)
        loaded = self.loaded
        if chat_template is not None:
            loaded = LoadedTokenizer(loaded.tokenizer, chat_template, loaded.ids)
        template_kwargs = {k: v for k, v in kwargs.items() if k not in ("padding", "truncation", "max_length")}
        prompts = []
        for messages in conversation if batched else [conversation]:
            images = _images(messages)
            prompt = encode_prompt(loaded, messages, images, self.image_processor, add_generation_prompt)
            # The text TRL renders for the forward pass (tokenize=False, the same template and kwargs).
            rendered = super().apply_chat_template(
                messages, chat_template, add_generation_prompt=add_generation_prompt, tokenize=False, **template_kwargs
            )
            self._remember(rendered, images, prompt.input_ids)
            prompts.append(prompt)
        ids = [p.input_ids for p in prompts]
        if not return_dict:
            return ids  # a batch of one for a single conversation, as the stock processor returns
        out: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": [[1] * len(row) for row in ids],
            "mm_token_type_ids": self.create_mm_token_type_ids(ids),
        }
        pixels = [p.pixels for p in prompts if p.pixels is not None]
        if pixels:
            out["pixel_values"] = np.concatenate([p.pixel_values for p in pixels])
            out["image_grid_thw"] = np.concatenate([p.image_grid_thw for p in pixels])
        return BatchFeature(out)


def _per_prompt(images: Any, n_texts: int) -> list[list[Image.Image]]:
    """`images` as one list per prompt: TRL passes one entry per prompt, None for a prompt without
    images (a batch mixing text and image items is normal for a judge); a flat list or a single image
    belongs to a single prompt."""
    if images is None:
        return [[] for _ in range(n_texts)]
    if isinstance(images, Image.Image):
        return [[images]]
    entries = list(images)
    if n_texts == 1 and entries and all(isinstance(e, Image.Image) for e in entries):
        return [entries]
    return [[] if e is None else [e] if isinstance(e, Image.Image) else list(e) for e in entries]


def _images(messages: list[dict[str, Any]]) -> list[Image.Image]:
    """The messages' images in order (TRL passes decoded PIL images; a path is opened)."""
    parts = [part for m in messages if isinstance(m["content"], list) for part in m["content"]]
    found = [part.get("image", part.get("url", part.get("path"))) for part in parts if part.get("type") == "image"]
    return [image if isinstance(image, Image.Image) else Image.open(image) for image in found]


def hf_tokenizer(tok: LoadedTokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok.tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=tok.chat_template,
    )


def judge_processor(tok: LoadedTokenizer, image_processor: Qwen2VLImageProcessorPil) -> JudgeProcessor:
    tokenizer = hf_tokenizer(tok)
    # TRL left-pads prompts, and lines the processor's per-token image types up with them: the
    # processor must pad on the same side, or image positions shift by the padding.
    tokenizer.padding_side = "left"
    processor = JudgeProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=tok.chat_template)
    processor.loaded = tok  # what `encode_prompt` needs: the tokenizer itself, template and special ids
    return processor
