"""Held-out judging accuracy of an ONNX checkpoint: one greedy verdict, and majority of K sampled votes.

Unparseable samples are invalid votes, never votes for either side; a tied or empty vote is not
correct. Results are split by item kind (text / image), since a model can be good at one only, and
by task (colour, count, …), since one weak task hides inside a kind's average.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..data.collate import load_item_images
from ..data.demo_task import JudgeItem
from ..data.prompt import judge_messages
from ..export.ort_model import OnnxJudgeModel, SamplingParams
from ..models.inputs import checkpoint_image_processor, encode_prompt
from ..tokenizer.qwen import load_tokenizer


@dataclass
class KindScore:
    items: int = 0
    greedy_correct: int = 0
    greedy_invalid: int = 0
    vote_correct: int = 0
    votes_invalid: int = 0
    votes_total: int = 0

    def summary(self) -> dict[str, float | int]:
        n = max(self.items, 1)
        return {
            "items": self.items,
            "greedy_accuracy": round(self.greedy_correct / n, 4),
            "greedy_invalid_rate": round(self.greedy_invalid / n, 4),
            "vote_accuracy": round(self.vote_correct / n, 4),
            "vote_invalid_rate": round(self.votes_invalid / max(self.votes_total, 1), 4),
        }


@dataclass
class Report:
    k: int
    temperature: float
    by_kind: dict[str, KindScore] = field(default_factory=lambda: defaultdict(KindScore))
    by_task: dict[str, KindScore] = field(default_factory=lambda: defaultdict(KindScore))

    def add(self, item: JudgeItem, greedy: int | None, votes: list[int | None]) -> None:
        for score in (self.by_kind[item.kind], self.by_task[item.task]):
            score.items += 1
            score.greedy_correct += greedy == item.label
            score.greedy_invalid += greedy is None
            score.vote_correct += majority(votes) == item.label
            score.votes_invalid += sum(v is None for v in votes)
            score.votes_total += len(votes)

    def summary(self) -> dict[str, object]:
        overall = KindScore()
        for score in self.by_kind.values():
            for name, value in asdict(score).items():
                setattr(overall, name, getattr(overall, name) + value)
        return {
            "votes": self.k,
            "vote_temperature": self.temperature,
            **{kind: score.summary() for kind, score in sorted(self.by_kind.items())},
            "overall": overall.summary(),
            "tasks": {task: score.summary() for task, score in sorted(self.by_task.items())},
        }


def majority(verdicts: list[int | None]) -> int | None:
    counts = Counter(v for v in verdicts if v is not None)
    if not counts or counts[1] == counts[2]:
        return None
    return 1 if counts[1] > counts[2] else 2


def sampled_verdicts(
    model: OnnxJudgeModel,
    items: list[JudgeItem],
    root: Path,
    k: int = 8,
    temperature: float = 1.0,
    max_new_tokens: int = 96,
    seed: int = 0,
    progress: bool = True,
    greedy: bool = True,
) -> Iterator[tuple[JudgeItem, int | None, list[int | None]]]:
    """Each item with its greedy verdict (None when `greedy` is off) and K sampled verdicts."""
    tok = load_tokenizer(model.checkpoint.root)
    processor = checkpoint_image_processor(model.checkpoint.root)
    # The checkpoint's own verdict rule, as the server applies it: its stop strings and its parser.
    rule = model.checkpoint.verdict
    stop = [tok.tokenizer.encode(s, add_special_tokens=False).ids for s in rule.stop_strings]
    decode = tok.tokenizer.decode
    for index, item in enumerate(tqdm(items, desc="evaluate", disable=not progress)):
        messages = judge_messages(item.question, item.responses[0], item.responses[1], item.images)
        prompt = encode_prompt(tok, messages, load_item_images(item, root), processor)
        first = (
            rule.parse(decode(model.generate(prompt, 1, SamplingParams(max_new_tokens, 0.0), stop)[0].tokens))
            if greedy
            else None
        )
        sampled = model.generate(prompt, k, SamplingParams(max_new_tokens, temperature, seed=seed + 1000 * index), stop)
        yield item, first, [rule.parse(decode(g.tokens)) for g in sampled]


def evaluate(
    model: OnnxJudgeModel,
    items: list[JudgeItem],
    root: Path,
    k: int = 8,
    temperature: float = 1.0,
    max_new_tokens: int = 96,
    seed: int = 0,
    progress: bool = True,
) -> Report:
    report = Report(k, temperature)
    for item, greedy, votes in sampled_verdicts(model, items, root, k, temperature, max_new_tokens, seed, progress):
        report.add(item, greedy, votes)
    return report


def hard_items(
    model: OnnxJudgeModel, items: list[JudgeItem], root: Path, k: int = 8, temperature: float = 1.0, seed: int = 0
) -> list[str]:
    """Ids of the items the model gets wrong in at least one of K samples (R1-Reward trained RL only on
    the items GPT-4o needed two or more tries for): the ones RL can still teach something."""
    return [
        item.id
        for item, _, votes in sampled_verdicts(model, items, root, k, temperature, seed=seed, greedy=False)
        if any(vote != item.label for vote in votes)
    ]
