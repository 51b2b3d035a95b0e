"""One verdict rule: the teacher's parser, the manifest writer and the shipped checkpoint agree on it,
and a manifest whose verdict block the server could not honour is refused, naming the field."""

from __future__ import annotations

import json
import pathlib
from types import SimpleNamespace
from typing import Any

import pytest

from r1judge_train.checkpoint.manifest import MANIFEST_NAME, build_manifest
from r1judge_train.checkpoint.validate import CheckpointError, load_checkpoint
from r1judge_train.data.teacher import parse_verdict, swapped_trace, teacher_trace
from r1judge_train.data.verdict import R1_REWARD_VERDICT, VerdictSpec, VerdictSpecError

DEMO = pathlib.Path(__file__).resolve().parents[2] / "models" / "demo"
BOXED = VerdictSpec(r"\\boxed\{(.*?)\}", ("A", "B"), ("}",))


def test_the_manifest_writer_and_the_shipped_checkpoint_carry_the_parsers_rule(tmp_path: pathlib.Path) -> None:
    ids = SimpleNamespace(im_end=1, endoftext=2, image_pad=3, vision_start=4, vision_end=5)
    text = SimpleNamespace(
        hidden_size=8, num_attention_heads=2, num_hidden_layers=1, num_key_value_heads=1, vocab_size=16
    )
    written = build_manifest(tmp_path, "m", ids, text, {}, {})  # type: ignore[arg-type]
    assert VerdictSpec.from_manifest(written["verdict"]) == R1_REWARD_VERDICT
    shipped = json.loads((DEMO / MANIFEST_NAME).read_text())["verdict"]
    assert shipped == R1_REWARD_VERDICT.manifest()
    assert VerdictSpec.from_manifest(shipped) == R1_REWARD_VERDICT


@pytest.mark.parametrize("task", ["add", "compare"])
def test_teacher_traces_parse_by_the_rule_in_both_orders(task: str) -> None:
    right, wrong = ("12", "13") if task == "add" else ("52", "37")
    trace = teacher_trace(task, right, [wrong, right], (5, 7) if task == "add" else ())
    assert R1_REWARD_VERDICT.parse(trace) == parse_verdict(trace) == 2
    assert R1_REWARD_VERDICT.parse(swapped_trace(trace)) == 1


def test_another_rule_parses_its_own_shape_only() -> None:
    assert BOXED.parse("<think>x</think>\\boxed{A}") == 1
    assert BOXED.parse("so \\boxed{ B }") == 2
    assert BOXED.parse("<answer>1</answer>") is None
    assert BOXED.parse("\\boxed{1}") is None
    assert parse_verdict("\\boxed{B}", spec=BOXED) == 2
    assert parse_verdict("I pick B", lenient=True, spec=BOXED) == 2
    assert R1_REWARD_VERDICT.parse("\\boxed{A}") is None


GOOD = R1_REWARD_VERDICT.manifest()


@pytest.mark.parametrize(
    ("verdict", "field", "message"),
    [
        ("<answer>(.*?)</answer>", "verdict", "object"),
        ({**GOOD, "answer_pattern": 7}, "verdict.answer_pattern", "string"),
        ({**GOOD, "answer_pattern": "<answer>(.*?</answer>"}, "verdict.answer_pattern", "regular expression"),
        ({**GOOD, "answer_pattern": "<answer>.*?</answer>"}, "verdict.answer_pattern", "has 0"),
        ({**GOOD, "answer_pattern": "<(answer)>(.*?)</answer>"}, "verdict.answer_pattern", "has 2"),
        ({**GOOD, "answer_pattern": "(.*?)"}, "verdict.answer_pattern", "empty text"),
        ({**GOOD, "choices": ["1"]}, "verdict.choices", "exactly two"),
        ({**GOOD, "choices": [1, 2]}, "verdict.choices", "strings"),
        ({**GOOD, "choices": ["1", "1"]}, "verdict.choices", "both choices"),
        ({**GOOD, "choices": [" 1", "2"]}, "verdict.choices", "whitespace"),
        ({**GOOD, "stop_strings": "</answer>"}, "verdict.stop_strings", "list"),
        ({**GOOD, "stop_strings": ["</answer>", ""]}, "verdict.stop_strings", "non-empty"),
        ({k: v for k, v in GOOD.items() if k != "choices"}, "verdict.choices", "missing"),
    ],
)
def test_a_verdict_block_the_server_cannot_honour_is_refused_at_load(
    tmp_path: pathlib.Path, verdict: Any, field: str, message: str
) -> None:
    with pytest.raises(VerdictSpecError) as direct:
        VerdictSpec.from_manifest(verdict)
    assert direct.value.field == field and message in str(direct.value)
    # Loading: the verdict block is checked with the manifest, before any file is looked at.
    manifest = json.loads((DEMO / MANIFEST_NAME).read_text())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**manifest, "verdict": verdict}))
    with pytest.raises(CheckpointError) as loaded:
        load_checkpoint(tmp_path)
    assert (loaded.value.file, loaded.value.field) == (MANIFEST_NAME, field)
    assert message in str(loaded.value)


def test_a_manifest_without_a_verdict_block_is_refused(tmp_path: pathlib.Path) -> None:
    manifest = json.loads((DEMO / MANIFEST_NAME).read_text())
    del manifest["verdict"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="verdict"):
        load_checkpoint(tmp_path)


def test_the_servers_parser_and_this_one_agree_on_the_shared_cases() -> None:
    # test/judge/verdict.test.ts reads the same file with the server's parser and validator.
    shared = json.loads((DEMO.parents[1] / "test" / "fixtures" / "verdict-cases.json").read_text())
    rules = {name: VerdictSpec.from_manifest(block) for name, block in shared["rules"].items()}
    rules["demo"] = VerdictSpec.from_manifest(json.loads((DEMO / MANIFEST_NAME).read_text())["verdict"])
    for case in shared["parse"]:
        assert rules[case["rule"]].parse(case["text"]) == case["verdict"], case
    for case in shared["refused"]:
        with pytest.raises(VerdictSpecError) as err:
            VerdictSpec.from_manifest(case["verdict"])
        assert err.value.field == case["field"], case
