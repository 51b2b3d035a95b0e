"""The verdict rule: where a judge's output states its verdict, the two choices, and the stop strings.

One definition for training/: the teacher's traces and evaluation's samples are parsed by it,
evaluation stops generation on its stop strings, and the checkpoint writer puts it in r1judge.json's
`verdict` block, which the server parses votes by (docs/checkpoint-format.md). The server refuses a
block that breaks the rules `VerdictSpec` checks here; its pattern must also compile in ECMAScript
(the server runs it with flags `su`: `.` spans lines, as DOTALL does here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class VerdictSpecError(ValueError):
    """A verdict block field the server cannot honour; `field` is its dotted manifest path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class VerdictSpec:
    """`answer_pattern`'s one group, stripped, equal to `choices[0]` is verdict 1, `choices[1]` verdict 2."""

    answer_pattern: str
    choices: tuple[str, str]
    stop_strings: tuple[str, ...]
    answer_regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "answer_regex", _check_pattern(self.answer_pattern))
        _check_choices(self.choices)
        _check_stop_strings(self.stop_strings)

    @classmethod
    def from_manifest(cls, block: Any) -> VerdictSpec:
        """The manifest's `verdict` value; raises VerdictSpecError naming the field at fault."""
        if not isinstance(block, dict):
            raise VerdictSpecError("verdict", "expected an object")
        for key in ("answer_pattern", "choices", "stop_strings"):
            if key not in block:
                raise VerdictSpecError(f"verdict.{key}", "missing")
        choices, stops = block["choices"], block["stop_strings"]
        if not isinstance(choices, list):
            raise VerdictSpecError("verdict.choices", "expected exactly two non-empty strings (verdict 1, verdict 2)")
        if not isinstance(stops, list):
            raise VerdictSpecError("verdict.stop_strings", "expected a list of non-empty strings")
        return cls(block["answer_pattern"], tuple(choices), tuple(stops))  # type: ignore[arg-type]

    def manifest(self) -> dict[str, Any]:
        """The `verdict` block of r1judge.json."""
        return {
            "answer_pattern": self.answer_pattern,
            "choices": list(self.choices),
            "stop_strings": list(self.stop_strings),
        }

    def parse(self, text: str) -> int | None:
        """1 or 2 by the first match's captured text (stripped); None for anything else. Never raises."""
        match = self.answer_regex.search(text)
        if match is None:
            return None
        content = (match.group(1) or "").strip()
        return self.choices.index(content) + 1 if content in self.choices else None

    def last_choice(self, text: str) -> int | None:
        """1 or 2 by the last choice string anywhere in the text (a lenient fallback); None if none."""
        found = re.findall("|".join(re.escape(c) for c in self.choices), text)
        return self.choices.index(found[-1]) + 1 if found else None


def _check_pattern(pattern: Any) -> re.Pattern[str]:
    name = "verdict.answer_pattern"
    if not isinstance(pattern, str) or not pattern:
        raise VerdictSpecError(name, "expected a non-empty string")
    try:
        regex = re.compile(pattern, re.DOTALL)
    except re.error as err:
        raise VerdictSpecError(name, f"not a valid regular expression: {err}") from err
    if regex.groups != 1:
        raise VerdictSpecError(name, f"must have exactly one capture group (the verdict), has {regex.groups}")
    if regex.search("") is not None:
        raise VerdictSpecError(name, "matches the empty text: it would find a verdict in every sample")
    return regex


def _check_choices(choices: Any) -> None:
    name = "verdict.choices"
    if (
        not isinstance(choices, tuple)
        or len(choices) != 2
        or not all(isinstance(c, str) and c.strip() for c in choices)
    ):
        raise VerdictSpecError(name, "expected exactly two non-empty strings (verdict 1, verdict 2)")
    if choices[0] == choices[1]:
        raise VerdictSpecError(name, f"both choices are {choices[0]!r}")
    for choice in choices:
        # The captured text is compared stripped: a choice with spaces around it could never match.
        if choice != choice.strip():
            raise VerdictSpecError(name, f"{choice!r} has surrounding whitespace")


def _check_stop_strings(stops: Any) -> None:
    # An empty string would end every sample before its first token.
    if not isinstance(stops, tuple) or not all(isinstance(s, str) and s for s in stops):
        raise VerdictSpecError("verdict.stop_strings", "expected a list of non-empty strings")


# R1-Reward's: `<answer>1</answer>` or `<answer>2</answer>`, generation ending at `</answer>`.
R1_REWARD_VERDICT = VerdictSpec(r"<answer>(.*?)</answer>", ("1", "2"), ("</answer>",))
