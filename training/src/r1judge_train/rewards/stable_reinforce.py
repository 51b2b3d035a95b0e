"""The StableReinforce reward as ONE TRL reward function (TRL's reward_weights can only sum):

    reward = 0.5·format + accuracy·(1 + 0.5·consistency)

format ∈ {0, 1}: the whole output is `<think>…</think><answer>…</answer>` with one of each tag;
accuracy ∈ {0, 1}: the answer is the label (1 or 2); consistency ∈ {+1, −1, 0}: the referee's view
of whether the reasoning concludes what the answer says, 0 when the referee failed. So correct and
consistent 1.5, correct but inconsistent 0.5, wrong 0, plus 0.5 for the format; at most 2.0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..data.teacher import format_ok, parse_verdict
from .referee import Referee, RefereeError

log = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """TRL passes completions as text, or (conversational datasets) as a list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(str(message.get("content", "")) for message in completion)


def reasoning_of(text: str) -> str:
    start, end = text.find("<think>"), text.find("</think>")
    return text[start + len("<think>") : end] if 0 <= start < end else text


@dataclass(frozen=True)
class RewardParts:
    format: float
    accuracy: float
    consistency: float
    referee_failed: bool

    @property
    def total(self) -> float:
        return 0.5 * self.format + self.accuracy * (1.0 + 0.5 * self.consistency)


@dataclass
class StableReinforceReward:
    """A TRL reward function over the dataset's `label` column (1 or 2)."""

    referee: Referee
    referee_failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.__name__ = "stable_reinforce"  # TRL names a reward function's metrics after it

    def score(self, text: str, label: int) -> RewardParts:
        fmt = 1.0 if format_ok(text) else 0.0
        verdict = parse_verdict(text)
        accuracy = 1.0 if verdict is not None and verdict == int(label) else 0.0
        consistency, failed = 0.0, False
        if accuracy:  # consistency only changes the reward of a correct answer
            try:
                consistency = float(self.referee(reasoning_of(text), verdict))
            except RefereeError as err:
                failed = True
                self.referee_failures += 1
                log.warning("referee failed (counted as 0): %s", err)
        return RewardParts(fmt, accuracy, consistency, failed)

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        completion_ids: list[list[int]] | None = None,
        label: list[int] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        if label is None:
            raise ValueError("the dataset needs a `label` column (1 or 2) for the StableReinforce reward")
        parts = [self.score(completion_text(c), int(y)) for c, y in zip(completions, label, strict=True)]
        if log_metric is not None and parts:
            n = len(parts)
            log_metric("reward/format", sum(p.format for p in parts) / n)
            log_metric("reward/accuracy", sum(p.accuracy for p in parts) / n)
            log_metric("reward/consistency", sum(p.consistency for p in parts) / n)
            log_metric("reward/referee_failures", float(sum(p.referee_failed for p in parts)))
        return [p.total for p in parts]
