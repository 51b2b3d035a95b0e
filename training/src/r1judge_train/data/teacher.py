"""The rule-based teacher for the demo task, the R1-Reward output format, and verdict parsing.

The teacher writes one short trace per item, `<think>premise. Response 1 says X, which is wrong.
Response 2 says Y, which is correct.</think><answer>2</answer>`: a fixed shape a tiny model can learn
by copying the claims out of the prompt and comparing them with one computed fact. Verdicts are
written and read by the one rule in `verdict.py` (R1_REWARD_VERDICT), the rule the checkpoint
manifest hands to the server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .verdict import R1_REWARD_VERDICT, VerdictSpec

# The R1-Reward format rule; `format_ok` adds the "exactly one of each tag" half of it.
FORMAT_PATTERN = re.compile(r"^<think>.*?</think><answer>.*?</answer>$", re.DOTALL)

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def format_ok(text: str) -> bool:
    """True when the whole text is `<think>…</think><answer>…</answer>` with one of each tag."""
    # fullmatch, not match: `$` alone would accept a trailing newline.
    return FORMAT_PATTERN.fullmatch(text) is not None and all(text.count(tag) == 1 for tag in _TAGS)


def parse_verdict(text: str, lenient: bool = False, spec: VerdictSpec = R1_REWARD_VERDICT) -> int | None:
    """The judge's choice, 1 or 2, or None when there is none; never raises.

    Strict (default): the first match of the rule's answer pattern (`<answer>…</answer>`), its
    content stripped, must be exactly one of its choices ("1" or "2"); anything else is an invalid
    vote, not a vote for either side.
    `lenient=True` mirrors the R1-Reward authors' evaluation fallback for outputs with NO answer
    tag at all: the last choice ("1" or "2" character) anywhere in the text. A tag with bad content
    stays None even then, as in their code (they would have read it as the tag's content).
    """
    verdict = spec.parse(text)
    if verdict is not None or spec.answer_regex.search(text) is not None:
        return verdict
    return spec.last_choice(text) if lenient else None


def premise(task: str, answer: str, operands: Sequence[int] = ()) -> str:
    """The one computed fact the verdict rests on."""
    if task == "add":
        a, b = operands
        return f"{a} + {b} = {answer}."
    if task == "sub":
        a, b = operands
        return f"{a} - {b} = {answer}."
    if task == "compare":
        # One number to write, not two: the tiny demo model garbled digits across "X is larger than Y".
        return f"The larger number is {answer}."
    if task == "colour":
        return f"The shape is {answer}."
    if task == "shape":
        return f"The shape is a {answer}."
    if task == "count":
        return "There is 1 shape." if answer == "1" else f"There are {answer} shapes."
    raise ValueError(f"unknown task {task!r}")


def teacher_trace(task: str, answer: str, claims: Sequence[str], operands: Sequence[int] = ()) -> str:
    """The teacher's output for one item: the fact, each response's claim judged, the verdict.

    `claims` are the bare values the two responses state (e.g. "12", "red"); exactly one must equal
    the ground-truth `answer`. The verdict is derived from them, so a wrong label cannot slip in.
    """
    if len(claims) != 2:
        raise ValueError(f"need 2 claims, got {len(claims)}")
    right = [claim == answer for claim in claims]
    if sum(right) != 1:
        raise ValueError(f"exactly one claim must equal the answer {answer!r}: {list(claims)!r}")
    judged = " ".join(
        f"Response {i} says {claim}, which is {'correct' if ok else 'wrong'}."
        for i, (claim, ok) in enumerate(zip(claims, right, strict=True), start=1)
    )
    verdict = R1_REWARD_VERDICT.choices[0 if right[0] else 1]
    return f"<think>{premise(task, answer, operands)} {judged}</think><answer>{verdict}</answer>"


_TRACE = re.compile(
    r"^<think>(?P<premise>.*?) (?P<first>Response 1 says .*?, which is (?:correct|wrong)\.) "
    r"(?P<second>Response 2 says .*?, which is (?:correct|wrong)\.)</think><answer>(?P<verdict>[12])</answer>$"
)


def swapped_trace(trace: str) -> str:
    """The teacher's trace for the same item with its responses in the other order; "" for a trace not
    in the teacher's shape (there is then nothing to swap)."""
    m = _TRACE.match(trace)
    if m is None:
        return ""
    first = m["second"].replace("Response 2", "Response 1", 1)
    second = m["first"].replace("Response 1", "Response 2", 1)
    return f"<think>{m['premise']} {first} {second}</think><answer>{3 - int(m['verdict'])}</answer>"
