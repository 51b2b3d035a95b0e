"""Accuracy reports: by kind and by task; invalid votes are never votes, ties are not correct."""

from r1judge_train.data.demo_task import JudgeItem
from r1judge_train.eval.accuracy import Report, majority


def item(task: str, kind: str, label: int) -> JudgeItem:
    return JudgeItem(
        id=f"{task}-{label}",
        split="test",
        kind=kind,
        task=task,
        question="q",
        responses=("a", "b"),
        label=label,
        images=(),
        trace="",
        answer="a",
    )


def test_majority_ignores_invalid_votes_and_ties_have_no_winner() -> None:
    assert majority([1, None, None, 2, 1]) == 1
    assert majority([1, 2]) is None
    assert majority([None, None]) is None


def test_report_splits_by_kind_and_by_task() -> None:
    report = Report(k=3, temperature=1.0)
    report.add(item("add", "text", 1), 1, [1, 1, 2])  # right, right
    report.add(item("add", "text", 2), 1, [2, None, 2])  # wrong, right
    report.add(item("shape", "image", 1), None, [2, 2, None])  # invalid, wrong
    summary = report.summary()
    assert summary["text"] == {
        "items": 2,
        "greedy_accuracy": 0.5,
        "greedy_invalid_rate": 0.0,
        "vote_accuracy": 1.0,
        "vote_invalid_rate": round(1 / 6, 4),
    }
    assert summary["image"]["greedy_invalid_rate"] == 1.0 and summary["image"]["vote_accuracy"] == 0.0
    assert summary["overall"]["items"] == 3 and summary["overall"]["greedy_accuracy"] == round(1 / 3, 4)
    assert set(summary["tasks"]) == {"add", "shape"}
    assert summary["tasks"]["add"] == summary["text"]
