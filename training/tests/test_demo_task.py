"""Tests of the demo judging task: generator, teacher, renderer, records and the verdict parser."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from r1judge_train.data.demo_images import PALETTE, SHAPES, count_shapes, describe, detect_colour, detect_shape
from r1judge_train.data.demo_task import PARTITIONED_TASKS, TASKS, JudgeItem, problem_split, solve
from r1judge_train.data.records import build_split, iter_corpus, read_dataset, to_record, write_dataset
from r1judge_train.data.teacher import FORMAT_PATTERN, format_ok, parse_verdict, swapped_trace, teacher_trace

SIZES = {"train": 600, "val": 120, "test": 120}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[JudgeItem]]]:
    out = tmp_path_factory.mktemp("demo")
    paths = write_dataset(out, SIZES, seed=0)
    return out, {split: read_dataset(path) for split, path in paths.items()}


def _all(dataset: tuple[Path, dict[str, list[JudgeItem]]]) -> list[JudgeItem]:
    return [item for items in dataset[1].values() for item in items]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    sizes = {"train": 60, "val": 12, "test": 12}
    write_dataset(tmp_path / "a", sizes, seed=3)
    write_dataset(tmp_path / "b", sizes, seed=3)
    write_dataset(tmp_path / "c", sizes, seed=4)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a["train.jsonl"] != c["train.jsonl"]
    assert a["test.jsonl"] != c["test.jsonl"]


def test_sizes_and_exact_label_balance_per_split_and_kind(dataset) -> None:
    for split, items in dataset[1].items():
        assert len(items) == SIZES[split]
        for kind in ("text", "image"):
            labels = Counter(item.label for item in items if item.kind == kind)
            assert labels[1] == labels[2] == SIZES[split] // 4, (split, kind, labels)


def test_tasks_are_mixed_evenly(dataset) -> None:
    for items in dataset[1].values():
        for kind, tasks in TASKS.items():
            counts = Counter(item.task for item in items if item.kind == kind)
            assert set(counts) == set(tasks)
            assert max(counts.values()) - min(counts.values()) <= 2


def test_odd_split_size_is_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        build_split("val", 7, seed=0, image_share=0.5, seen=set())


def _operands(question: str) -> tuple[int, int]:
    a, b = (int(x) for x in re.findall(r"\d+", question))
    return a, b


def test_splits_are_disjoint(dataset) -> None:
    out, splits = dataset
    owners: dict[object, str] = {}
    for split, items in splits.items():
        for item in items:
            png = (out / item.images[0]).read_bytes() if item.images else b""
            key = (item.question, item.responses, hashlib.sha256(png).hexdigest())
            assert owners.setdefault(key, split) == split, key
            if item.task in PARTITIONED_TASKS:
                # Stronger than no duplicate items: a comparison problem belongs to one split only.
                assert problem_split(item.task, _operands(item.question)) == split


def test_traces_follow_the_format_and_give_the_label(dataset) -> None:
    for item in _all(dataset):
        assert FORMAT_PATTERN.match(item.trace)
        assert format_ok(item.trace)
        assert parse_verdict(item.trace) == item.label
        assert len(item.trace) < 180 and len(item.trace.split()) < 30, item.trace


def _claims(trace: str) -> list[tuple[str, str]]:
    return re.findall(r"Response \d says (\w+), which is (correct|wrong)\.", trace)


def _claimed(response: str) -> str:
    """The value a response states: its number, or its colour / shape word."""
    words = re.findall(r"\d+|" + "|".join([*PALETTE, *SHAPES]), response)
    assert len(words) == 1, response
    return words[0]


def test_exactly_one_response_is_right_and_the_trace_says_so(dataset) -> None:
    for item in _all(dataset):
        claimed = [_claimed(r) for r in item.responses]
        assert claimed[item.label - 1] == item.answer
        assert claimed[2 - item.label] != item.answer
        verdicts = [(c, "correct" if c == item.answer else "wrong") for c in claimed]
        assert _claims(item.trace) == verdicts
        # Both responses share one phrasing: only the value differs.
        assert item.responses[0].replace(claimed[0], "#") == item.responses[1].replace(claimed[1], "#")


def test_text_truth_is_recomputed(dataset) -> None:
    for item in _all(dataset):
        if item.kind != "text":
            continue
        a, b = _operands(item.question)
        assert 0 <= a <= 9 and 0 <= b <= 9 if item.task != "compare" else 10 <= min(a, b) < max(a, b) <= 99
        expected = {"add": a + b, "sub": a - b, "compare": max(a, b)}[item.task]
        assert expected >= 0 and item.answer == str(expected) == str(solve(item.task, (a, b)))
        if item.task == "compare":
            assert item.trace.startswith(f"<think>The larger number is {expected}.")
        else:
            sign = "+" if item.task == "add" else "-"
            assert item.trace.startswith(f"<think>{a} {sign} {b} = {expected}.")


def test_image_truth_is_redetected_from_the_png(dataset) -> None:
    out, _ = dataset
    premise = {
        "colour": "The shape is {}.",
        "shape": "The shape is a {}.",
        "count": "There are {} shapes.",
    }
    sizes = set()
    for item in _all(dataset):
        if item.kind != "image":
            continue
        assert item.images == (f"images/{item.id}.png",)
        with Image.open(out / item.images[0]) as image:
            assert image.mode == "RGB" and image.format == "PNG"
            assert 56 <= image.width <= 112 and 56 <= image.height <= 112
            sizes.add(image.size)
            assert describe(item.task, image) == item.answer
        fact = premise[item.task].format(item.answer)
        if item.answer == "1" and item.task == "count":
            fact = "There is 1 shape."
        assert item.trace.startswith(f"<think>{fact} ")
    assert any(w != h for w, h in sizes)
    assert any(w % 28 == 0 for w, _ in sizes) and any(w % 28 != 0 for w, _ in sizes)


def test_detectors_on_hand_drawn_images() -> None:
    image = Image.new("RGB", (70, 56), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 5, 50, 15), fill=PALETTE["orange"])
    draw.ellipse((45, 30, 60, 45), fill=PALETTE["orange"])
    assert count_shapes(image) == 2
    assert detect_colour(image) == "orange"
    square = Image.new("RGB", (60, 60), "white")
    ImageDraw.Draw(square).rectangle((10, 10, 40, 40), fill=PALETTE["red"])
    assert detect_shape(square) == "square"
    disc = Image.new("RGB", (60, 60), "white")
    ImageDraw.Draw(disc).ellipse((10, 10, 40, 40), fill=PALETTE["red"])
    assert detect_shape(disc) == "circle"
    tri = Image.new("RGB", (60, 60), "white")
    ImageDraw.Draw(tri).polygon([(10, 40), (40, 40), (25, 10)], fill=PALETTE["red"])
    assert detect_shape(tri) == "triangle"
    draw.rectangle((50, 15, 52, 30), fill=PALETTE["orange"])  # a bridge joins them
    assert count_shapes(image) == 1


def test_read_dataset_round_trips(dataset) -> None:
    out, splits = dataset
    for split, items in splits.items():
        lines = (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.dumps(to_record(item), ensure_ascii=False) for item in items] == lines


def test_records_have_the_r1_reward_shape(dataset) -> None:
    out, splits = dataset
    record = json.loads((out / "val.jsonl").read_text(encoding="utf-8").splitlines()[0])
    item = splits["val"][0]
    assert record["answer"] == [f"<answer>{item.label}</answer>"]
    content = json.loads(record["message"])[0]["content"]
    assert [c["type"] for c in content] == ["image"] * len(item.images) + ["text"]
    assert record["question"] in content[-1]["text"]


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("label", lambda r: r.update(label=3)),
        ("label", lambda r: r.update(label=True)),
        ("trace", lambda r: r.update(trace=r["trace"].replace("</think>", ""))),
        ("responses", lambda r: r.pop("responses")),
        ("answer", lambda r: r.update(answer=["<answer>3</answer>"])),
        ("message", lambda r: r.update(message="[]")),
        ("task", lambda r: r.update(task="juggle")),
    ],
)
def test_read_dataset_names_the_bad_field(dataset, tmp_path: Path, field: str, edit) -> None:
    out, _ = dataset
    lines = (out / "val.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    record = json.loads(lines[1])
    edit(record)
    path = out / "broken.jsonl.tmp"  # beside images/, so image paths resolve; not *.jsonl for iter_corpus
    path.write_text("\n".join([lines[0], json.dumps(record), lines[2]]) + "\n", encoding="utf-8")
    try:
        with pytest.raises(ValueError, match=rf"broken\.jsonl\.tmp:2: field '{field}'"):
            read_dataset(path)
    finally:
        path.unlink()


def test_read_dataset_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.jsonl:1: not JSON"):
        read_dataset(path)


def test_iter_corpus_covers_questions_responses_traces(dataset) -> None:
    out, splits = dataset
    texts = list(iter_corpus(out))
    item = splits["test"][-1]
    assert {item.question, *item.responses, item.trace} <= set(texts)
    assert len(texts) == 1 + 4 * sum(SIZES.values())


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        ("no tags at all", None, None),
        ("I pick 2, not 1", None, 1),
        ("<answer> 2 </answer>", 2, 2),
        ("<answer>\n1\n</answer>", 1, 1),
        ("<answer>3</answer>", None, None),
        ("<answer>12</answer>", None, None),
        ("<answer></answer> 2", None, None),
        ("<answer>1</answer><answer>2</answer>", 1, 1),
        ("<think>2</think><answer>Response 2</answer>", None, None),
        ("<answer>2", None, 2),
    ],
)
def test_parse_verdict_edge_cases(text: str, strict: int | None, lenient: int | None) -> None:
    assert parse_verdict(text) == strict
    assert parse_verdict(text, lenient=True) == lenient


@given(st.text())
def test_parse_verdict_never_raises(text: str) -> None:
    assert parse_verdict(text) in (None, 1, 2)
    assert parse_verdict(text, lenient=True) in (None, 1, 2)


def test_format_ok_needs_one_of_each_tag_and_nothing_around() -> None:
    assert format_ok("<think>a\nb</think><answer>1</answer>")
    assert not format_ok("<think>a</think><answer>1</answer>\n")
    assert not format_ok(" <think>a</think><answer>1</answer>")
    assert not format_ok("<think>a</think><think>b</think><answer>1</answer>")
    assert not format_ok("<think>a</think><answer>1</answer><answer>2</answer>")


@pytest.mark.parametrize(
    ("task", "answer", "claims", "operands"),
    [
        ("add", "12", ("12", "13"), (7, 5)),
        ("count", "1", ("3", "1"), ()),
        ("shape", "circle", ("square", "circle"), ()),
    ],
)
def test_the_swapped_trace_is_the_teachers_trace_for_the_swapped_item(task, answer, claims, operands) -> None:
    trace = teacher_trace(task, answer, claims, operands)
    assert swapped_trace(trace) == teacher_trace(task, answer, claims[::-1], operands)
    assert parse_verdict(swapped_trace(trace)) == 3 - parse_verdict(trace)
    assert swapped_trace("<think>free text</think><answer>1</answer>") == ""


def test_teacher_refuses_ambiguous_claims() -> None:
    with pytest.raises(ValueError):
        teacher_trace("add", "12", ("12", "12"), (7, 5))
    with pytest.raises(ValueError):
        teacher_trace("add", "12", ("11", "13"), (7, 5))
    trace = teacher_trace("add", "12", ("13", "12"), (7, 5))
    assert trace == (
        "<think>7 + 5 = 12. Response 1 says 13, which is wrong. Response 2 says 12, which is correct."
        "</think><answer>2</answer>"
    )
