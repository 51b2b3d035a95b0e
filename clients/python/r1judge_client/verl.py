"""A verl `compute_score` backed by r1-judge: the policy's answer against the ground truth.

    # verl config: custom_reward_function.path=<site-packages>/r1judge_client/verl.py
    #              custom_reward_function.name=compute_score
    # the server: R1JUDGE_URL (default http://127.0.0.1:8080), R1JUDGE_API_KEY, R1JUDGE_SAMPLES (4)

Both of verl's signatures: one item (`compute_score(data_source, solution_str, ground_truth,
extra_info)`, NaiveRewardManager) and a batch (`compute_score(data_sources, solution_strs,
ground_truths, extra_infos)`, BatchRewardManager; judged in one /judge/batch per 256 items).
The question travels in `extra_info["question"]` (or `extra_info["prompt"]`, plain or chat), images
in `extra_info["images"]`. The score is the share of the judge's votes for the solution, in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .client import Client
from .prompts import question_and_images
from .trl import _share

_client: Client | None = None


def _default_client() -> Client:
    global _client
    if _client is None:
        _client = Client(os.environ.get("R1JUDGE_URL", "http://127.0.0.1:8080"), os.environ.get("R1JUDGE_API_KEY"))
    return _client


def _item(solution: str, truth: Any, extra: dict[str, Any] | None, samples: int) -> dict[str, Any]:
    extra = extra or {}
    prompt = extra.get("question", extra.get("prompt"))
    if prompt is None:
        raise KeyError("extra_info needs 'question' (or 'prompt'): the judge compares answers to a question")
    question, images = question_and_images(prompt, extra.get("images"))
    item: dict[str, Any] = {"question": question, "responses": [solution, str(truth)], "samples": samples, "seed": 0}
    if images:
        item["images"] = images
    return item


def compute_score(
    data_source: Any = None,
    solution_str: Any = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    client: Client | None = None,
    **_: Any,
) -> float | list[float]:
    samples = int(os.environ.get("R1JUDGE_SAMPLES", "4"))
    judge = client or _default_client()
    if solution_strs is not None or isinstance(solution_str, (list, tuple)):
        solutions = list(solution_strs if solution_strs is not None else solution_str)
        truths = list(ground_truths if ground_truths is not None else ground_truth)
        extras = list(extra_infos if extra_infos is not None else (extra_info or [None] * len(solutions)))
        items = [_item(s, t, e, samples) for s, t, e in zip(solutions, truths, extras, strict=True)]
        return [_share(r) for r in judge.judge_batch(items)]
    return _share(judge.request("POST", "/judge", _item(str(solution_str), ground_truth, extra_info, samples)))
