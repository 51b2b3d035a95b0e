"""A Qwen2.5-VL processor for images and text only.

TRL's GRPOTrainer takes a multimodal model's processor; transformers' Qwen2_5_VLProcessor insists
on a video processor, which needs torchvision (not installed, and not needed: the judge sees still
images). This is the same processor without the video half: image pads are expanded exactly as the
stock one does, and the ids equal `models.inputs.encode_prompt`'s (tested).
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from ..tokenizer.qwen import LoadedTokenizer


class JudgeProcessor(Qwen2_5_VLProcessor):
    # The parameters of __init__ are the processor's parts (ProcessorMixin reads them): no video_processor.
    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **_: Any):
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
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
    return JudgeProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=tok.chat_template)
