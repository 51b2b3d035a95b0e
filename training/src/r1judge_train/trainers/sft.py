"""SFT cold start on teacher traces, on TRL's SFTTrainer (accelerate underneath: 1 CPU to many GPUs).

The dataset is pre-tokenised by `data.collate` (prompt exactly as the server builds it, loss on the
completion only), so TRL's own chat formatting is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from trl.trainer.sft_config import SFTConfig
from trl.trainer.sft_trainer import SFTTrainer

from ..data.collate import EncodedExample, JudgeCollator, encode_example, encode_fact_example
from ..data.demo_task import JudgeItem
from ..tokenizer.qwen import LoadedTokenizer
from .processor import hf_tokenizer


@dataclass
class EncodingCollator:
    """Encodes items as batches are drawn: preprocessing a small image costs far less than a step.

    TRL wants a `datasets.Dataset`; ours holds only item indices, so no pixels go through Arrow.
    Indices past the judging items draw fact examples of `facts` (see `encode_fact_example`).
    """

    items: list[JudgeItem]
    tok: LoadedTokenizer
    root: Path
    facts: list[JudgeItem] = field(default_factory=list)
    processor: Qwen2VLImageProcessorPil | None = None

    def __post_init__(self) -> None:
        self.collate = JudgeCollator(pad_id=self.tok.ids.endoftext, image_pad_id=self.tok.ids.image_pad)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.collate([self.encode(r["index"]).as_dict() for r in rows])

    def encode(self, index: int) -> EncodedExample:
        if index < len(self.items):
            return encode_example(self.items[index], self.tok, self.root, self.processor)
        return encode_fact_example(self.facts[index - len(self.items)], self.tok, self.root, self.processor)


def index_dataset(n: int) -> Dataset:
    return Dataset.from_dict({"index": list(range(n))})


@dataclass(frozen=True)
class ColdStartSettings:
    """What a cold-start run varies; everything else is TRL's SFTConfig default."""

    output_dir: Path
    max_steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.03
    weight_decay: float = 0.01
    seed: int = 0
    logging_steps: int = 25
    use_cpu: bool = True


def sft_config(s: ColdStartSettings) -> SFTConfig:
    return SFTConfig(
        output_dir=str(s.output_dir),
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(s.warmup_ratio * s.max_steps)),
        weight_decay=s.weight_decay,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        seed=s.seed,
        data_seed=s.seed,
        logging_steps=s.logging_steps,
        save_strategy="no",
        report_to=[],
        use_cpu=s.use_cpu,
        bf16=False,
        fp16=False,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def build_cold_start_trainer(
    model: Qwen2_5_VLForConditionalGeneration,
    tok: LoadedTokenizer,
    items: list[JudgeItem],
    root: Path,
    settings: ColdStartSettings,
    facts: list[JudgeItem] | None = None,
    processor: Qwen2VLImageProcessorPil | None = None,
) -> SFTTrainer:
    """`facts`: image items whose fact alone (image + question → premise) is trained besides the judging.
    `processor`: the image preprocessing (default: R1-Reward's bounds); the export must write the same."""
    facts = list(facts or [])
    return SFTTrainer(
        model=model,
        args=sft_config(settings),
        train_dataset=index_dataset(len(items) + len(facts)),
        processing_class=hf_tokenizer(tok),
        data_collator=EncodingCollator(items, tok, root, facts, processor),
    )
