"""Judging items as TRL's GRPOTrainer takes them: a conversational `prompt` (the R1-Reward text in one
user turn), an `images` column (TRL puts the images first in that turn, as R1-Reward's evaluation
does), the `label` (1 or 2) the reward checks, the teacher's `reference` completion (what
`sft_coef` trains on; "" where there is none), plus `id`, `kind` and `task` for the logs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Image, Value
from datasets import Sequence as SequenceFeature

from .collate import load_item_images
from .demo_task import JudgeItem
from .prompt import judge_text

FEATURES = Features(
    {
        "prompt": [{"role": Value("string"), "content": Value("string")}],
        "images": SequenceFeature(Image()),
        "label": Value("int64"),
        "reference": Value("string"),
        "id": Value("string"),
        "kind": Value("string"),
        "task": Value("string"),
    }
)


def rl_row(item: JudgeItem, root: Path) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": judge_text(item.question, item.responses[0], item.responses[1])}],
        "images": load_item_images(item, root),
        "label": item.label,
        "reference": item.trace,
        "id": item.id,
        "kind": item.kind,
        "task": item.task,
    }


def rl_dataset(items: Sequence[JudgeItem], root: Path) -> Dataset:
    return Dataset.from_list([rl_row(item, root) for item in items], features=FEATURES)
