"""The demo judging task: the item model and its text items (addition, subtraction, comparison).

Small enough for a ~1M-parameter model trained from scratch on CPU: short questions, a few phrasings,
one computed fact per item. Still a real judging task: exactly one response is right, and the
wrong one is a plausible slip (off by 1, 2 or 10, swapped digits, the other number, the other
operation). Image items live in `demo_images`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from r1judge_train.data.teacher import teacher_trace

KINDS = ("text", "image")
TEXT_TASKS = ("add", "sub", "compare")
IMAGE_TASKS = ("colour", "shape", "count")
TASKS: dict[str, tuple[str, ...]] = {"text": TEXT_TASKS, "image": IMAGE_TASKS}
SPLITS = ("train", "val", "test")

# Share of the comparison problems each split owns; fixed, so a split's problems do not depend on
# the seed or on the sizes asked for, and test comparisons are never seen in training. Comparison is
# an algorithm, so held-out problems measure it. Addition and subtraction facts are knowledge a judge
# must have (a ~1M-parameter model cannot infer an unseen sum): every split draws from all of them,
# and only whole items (question wording, responses, wrong value) are kept disjoint.
SPLIT_SHARES = {"train": 0.75, "val": 0.10, "test": 0.15}
PARTITIONED_TASKS = ("compare",)

# Single digits: 100 addition and 55 subtraction facts, each seen dozens of times in training, which
# a ~1M-parameter model learns; with operands to 20 (441 facts) it copied a response's number instead.
MAX_OPERAND = 9


@dataclass(frozen=True)
class JudgeItem:
    """One judging item: a question, two responses of which exactly one is right, the teacher trace."""

    id: str
    split: str
    kind: str
    task: str
    question: str
    responses: tuple[str, str]
    label: int
    images: tuple[str, ...]
    trace: str
    answer: str


QUESTIONS: dict[str, tuple[str, ...]] = {
    "add": ("What is {a} + {b}?", "Compute {a} + {b}.", "How much is {a} plus {b}?", "{a} + {b} = ?"),
    "sub": ("What is {a} - {b}?", "Compute {a} - {b}.", "How much is {a} minus {b}?", "{a} - {b} = ?"),
    "compare": (
        "Which is larger, {a} or {b}?",
        "Which number is bigger: {a} or {b}?",
        "Of {a} and {b}, which is greater?",
        "Which is more, {a} or {b}?",
    ),
}

# One family per item: both responses share it, so only the claimed value differs.
RESPONSES: dict[str, tuple[str, ...]] = {
    "add": ("{v}", "The answer is {v}.", "It equals {v}.", "{v} is the answer."),
    "sub": ("{v}", "The answer is {v}.", "It equals {v}.", "{v} is the answer."),
    "compare": ("{v}", "The larger number is {v}.", "{v} is larger.", "It is {v}."),
}


def problem_split(task: str, operands: tuple[int, int]) -> str:
    """The split that owns a problem; order-free for add and compare (7 + 5 is 5 + 7)."""
    key = tuple(sorted(operands)) if task in ("add", "compare") else operands
    digest = hashlib.sha256(f"{task}:{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for split in SPLITS:
        edge += SPLIT_SHARES[split]
        if point < edge:
            return split
    return SPLITS[-1]


def _draw_operands(task: str, rng: random.Random) -> tuple[int, int]:
    if task == "add":
        return rng.randint(0, MAX_OPERAND), rng.randint(0, MAX_OPERAND)
    if task == "sub":
        a = rng.randint(0, MAX_OPERAND)
        return a, rng.randint(0, a)
    if task == "compare":
        return _draw_pair(rng)
    raise ValueError(f"not a text task: {task!r}")


def _draw_pair(rng: random.Random) -> tuple[int, int]:
    """Two distinct 2-digit numbers; a third share the tens digit, a third are digit swaps."""
    style = rng.randrange(3)
    a = rng.randint(10, 99)
    if style == 1 and a % 10 != 0 and a % 11 != 0:
        b = (a % 10) * 10 + a // 10
    elif style == 2:
        b = rng.choice([x for x in range(a // 10 * 10, a // 10 * 10 + 10) if x != a])
    else:
        b = rng.choice([x for x in range(10, 100) if x != a])
    return a, b


def solve(task: str, operands: tuple[int, int]) -> int:
    """The ground truth of a text problem."""
    a, b = operands
    if task == "add":
        return a + b
    if task == "sub":
        return a - b
    if task == "compare":
        return max(a, b)
    raise ValueError(f"not a text task: {task!r}")


def wrong_values(task: str, operands: tuple[int, int]) -> list[int]:
    """Plausible wrong answers: slips a careless solver makes, never the truth, never negative."""
    a, b = operands
    truth = solve(task, operands)
    if task == "compare":
        return [min(a, b)]
    near = {truth + d for d in (-10, -2, -1, 1, 2, 10)}
    if truth >= 10 and truth % 10 != 0:
        near.add(int(str(truth)[::-1]))
    near.add(abs(a - b) if task == "add" else a + b)  # the other operation
    return sorted(v for v in near if v >= 0 and v != truth)


def make_text_item(item_id: str, split: str, task: str, label: int, rng: random.Random) -> JudgeItem:
    """A text item of `task` from `split`'s share of the problem space, right response at `label`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    while True:
        operands = _draw_operands(task, rng)
        if task not in PARTITIONED_TASKS or problem_split(task, operands) == split:
            break
    truth = solve(task, operands)
    wrong = rng.choice(wrong_values(task, operands))
    claims = (str(truth), str(wrong)) if label == 1 else (str(wrong), str(truth))
    family = rng.choice(RESPONSES[task])
    a, b = operands
    return JudgeItem(
        id=item_id,
        split=split,
        kind="text",
        task=task,
        question=rng.choice(QUESTIONS[task]).format(a=a, b=b),
        responses=(family.format(v=claims[0]), family.format(v=claims[1])),
        label=label,
        images=(),
        trace=teacher_trace(task, str(truth), claims, operands),
        answer=str(truth),
    )
