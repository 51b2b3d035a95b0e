"""A Qwen2.5-VL processor for images and text only.

TRL's GRPOTrainer takes a multimodal model's processor; transformers' Qwen2_5_VLProcessor insists
on a video processor, which needs torchvision (not installed, and not needed: the judge sees still
images). This is the same processor without the video half: image pads are expanded exactly as the
stock one does, and the ids equal `models.inputs.encode_prompt`'s (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from transformers import BatchFeature, PreTrainedTokenizerFast, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from ..models.inputs import encode_prompt
from ..tokenizer.qwen import LoadedTokenizer


class JudgeProcessor(Qwen2_5_VLProcessor):
    # The parameters of __init__ are the processor's parts (ProcessorMixin reads them): no video_processor.
    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **_: Any):
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.loaded: LoadedTokenizer | None = None  # set by judge_processor
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def __call__(
        self, images: Any = None, text: Any = None, videos: Any = None, audio: Any = None, **kwargs: Any
    ) -> Any:
        # TRL passes one entry per prompt, None for a prompt without images: a batch mixing text and
        # image items is normal for a judge, so None means "no images here", and none at all means None.
        if isinstance(images, list):
            images = [[] if entry is None else entry for entry in images]
            if all(entry == [] for entry in images):
                images = None
        return super().__call__(images=images, text=text, videos=videos, audio=audio, **kwargs)

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
        prompts = [
            encode_prompt(loaded, messages, _images(messages), self.image_processor, add_generation_prompt)
            for messages in (conversation if batched else [conversation])
        ]
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
