"""Demo-task datasets on disk: R1-Reward-shaped JSONL records plus PNGs, written and read back.

`write_dataset` is deterministic for a seed (byte-identical files), balances the right response's
position exactly 1:1 within each split and each kind, mixes tasks evenly, and keeps splits
disjoint: comparison problems are partitioned between splits (`demo_task.problem_split`), and no
(question, responses, image bytes) repeats anywhere. `read_dataset` validates every line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from r1judge_train.data.demo_images import make_image_item
from r1judge_train.data.demo_task import KINDS, SPLITS, TASKS, JudgeItem, make_text_item
from r1judge_train.data.prompt import R1_REWARD_TEMPLATE, judge_messages
from r1judge_train.data.teacher import format_ok, parse_verdict

DEFAULT_SIZES = {"train": 4000, "val": 400, "test": 400}
_ID = re.compile(r"^(train|val|test)-\d{6}$")
_MAX_TRIES = 1000


def _slots(kind: str, n: int) -> list[tuple[str, str, int]]:
    """(kind, task, label) for n items: tasks in turn by pairs, each pair one label 1 and one 2."""
    tasks = TASKS[kind]
    return [(kind, tasks[(i // 2) % len(tasks)], 1 + i % 2) for i in range(n)]


def _kind_sizes(split: str, n: int, image_share: float) -> dict[str, int]:
    if n % 2:
        raise ValueError(f"split {split!r}: size {n} is odd; labels must balance exactly 1:1")
    images = 2 * round(n * image_share / 2)
    return {"text": n - images, "image": images}


def _dedupe_key(item: JudgeItem, png: bytes | None) -> tuple[str, tuple[str, str], str]:
    return item.question, item.responses, hashlib.sha256(png).hexdigest() if png else ""


def _make(item_id: str, split: str, slot: tuple[str, str, int], rng: random.Random) -> tuple[JudgeItem, bytes | None]:
    kind, task, label = slot
    if kind == "text":
        return make_text_item(item_id, split, task, label, rng), None
    return make_image_item(item_id, split, task, label, rng)


def build_split(
    split: str, n: int, seed: int, image_share: float, seen: set[tuple[str, tuple[str, str], str]]
) -> list[tuple[JudgeItem, bytes | None]]:
    """The items of one split (with PNG bytes for image items), skipping anything in `seen`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    # Seeded by string: stable across runs and Python versions, independent of PYTHONHASHSEED.
    rng = random.Random(f"r1judge-demo:{seed}:{split}")
    slots = [slot for kind, k in _kind_sizes(split, n, image_share).items() for slot in _slots(kind, k)]
    rng.shuffle(slots)
    items = []
    for index, slot in enumerate(slots):
        item_id = f"{split}-{index:06d}"
        for _ in range(_MAX_TRIES):
            item, png = _make(item_id, split, slot, rng)
            key = _dedupe_key(item, png)
            if key not in seen:
                seen.add(key)
                items.append((item, png))
                break
        else:
            raise RuntimeError(f"{item_id}: no new {slot[1]} item in {_MAX_TRIES} tries; split too large")
    return items


def to_record(item: JudgeItem) -> dict[str, Any]:
    """The R1-Reward training record (message, question, answer) plus our own fields."""
    messages = judge_messages(item.question, item.responses[0], item.responses[1], item.images)
    return {
        "message": json.dumps(messages, ensure_ascii=False),
        "question": item.question,
        "answer": [f"<answer>{item.label}</answer>"],
        "id": item.id,
        "split": item.split,
        "kind": item.kind,
        "task": item.task,
        "responses": list(item.responses),
        "label": item.label,
        "images": list(item.images),
        "trace": item.trace,
        # "answer" is taken by the R1-Reward shape, so the ground-truth value goes here.
        "truth": item.answer,
    }


def write_dataset(
    out_dir: Path, sizes: dict[str, int] | None = None, seed: int = 0, image_share: float = 0.5
) -> dict[str, Path]:
    """Write `<out_dir>/<split>.jsonl` and `<out_dir>/images/*.png`; returns split -> jsonl path."""
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    if not 0.0 <= image_share <= 1.0:
        raise ValueError(f"image_share must be in [0, 1], got {image_share}")
    out_dir = Path(out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, tuple[str, str], str]] = set()
    paths = {}
    for split, n in sizes.items():
        items = build_split(split, n, seed, image_share, seen)
        for stale in image_dir.glob(f"{split}-*.png"):  # left over from a larger earlier run
            stale.unlink()
        for item, png in items:
            if png is not None:
                (out_dir / item.images[0]).write_bytes(png)
        path = out_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for item, _ in items:
                f.write(json.dumps(to_record(item), ensure_ascii=False) + "\n")
        paths[split] = path
    return paths


class _Bad(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field = field
        self.problem = problem


def _get(record: dict[str, Any], field: str, kind: type | tuple[type, ...]) -> Any:
    if field not in record:
        raise _Bad(field, "missing")
    value = record[field]
    # bool is an int subclass; a label of true must not pass as 1.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Bad(field, f"expected {kind}, got {type(value).__name__}")
    return value


def _str_list(record: dict[str, Any], field: str) -> tuple[str, ...]:
    values = _get(record, field, list)
    if not all(isinstance(v, str) for v in values):
        raise _Bad(field, "expected a list of strings")
    return tuple(values)


def _parse_record(record: Any, base: Path) -> JudgeItem:
    if not isinstance(record, dict):
        raise _Bad("<line>", "not a JSON object")
    item_id = _get(record, "id", str)
    split = _get(record, "split", str)
    if not _ID.match(item_id) or not item_id.startswith(f"{split}-"):
        raise _Bad("id", f"{item_id!r} is not '<split>-NNNNNN' for split {split!r}")
    kind = _get(record, "kind", str)
    if kind not in KINDS:
        raise _Bad("kind", f"{kind!r} not in {KINDS}")
    task = _get(record, "task", str)
    if task not in TASKS[kind]:
        raise _Bad("task", f"{task!r} is not a {kind} task")
    question = _get(record, "question", str)
    responses = _str_list(record, "responses")
    if len(responses) != 2 or responses[0] == responses[1]:
        raise _Bad("responses", "need two different responses")
    label = _get(record, "label", int)
    if label not in (1, 2):
        raise _Bad("label", f"{label} is not 1 or 2")
    images = _str_list(record, "images")
    if len(images) != (1 if kind == "image" else 0):
        raise _Bad("images", f"a {kind} item has {len(images)} images")
    for image in images:
        if not (base / image).is_file():
            raise _Bad("images", f"{image} not found under {base}")
    trace = _get(record, "trace", str)
    if not format_ok(trace) or parse_verdict(trace) != label:
        raise _Bad("trace", "not <think>…</think><answer>label</answer>")
    truth = _get(record, "truth", str)
    if not re.search(rf"\b{re.escape(truth)}\b", responses[label - 1]):
        raise _Bad("truth", f"{truth!r} is not what response {label} says")
    if _get(record, "answer", list) != [f"<answer>{label}</answer>"]:
        raise _Bad("answer", f"expected ['<answer>{label}</answer>']")
    message = _get(record, "message", str)
    try:
        decoded = json.loads(message)
    except json.JSONDecodeError as e:
        raise _Bad("message", f"not JSON: {e}") from e
    if decoded != judge_messages(question, responses[0], responses[1], images):
        raise _Bad("message", "does not match question, responses and images")
    return JudgeItem(item_id, split, kind, task, question, (responses[0], responses[1]), label, images, trace, truth)


def read_dataset(path: Path) -> list[JudgeItem]:
    """Items of one JSONL file; ValueError naming file, line and field on the first bad line."""
    path = Path(path)
    items = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                items.append(_parse_record(json.loads(line), path.parent))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not JSON: {e}") from e
            except _Bad as e:
                raise ValueError(f"{path}:{number}: field '{e.field}': {e.problem}") from e
    return items


def iter_corpus(out_dir: Path, with_prompt: bool = True) -> Iterator[str]:
    """Every text of the dataset (questions, responses, traces) for tokenizer training.

    `with_prompt` also yields the R1-Reward prompt template once, so its fixed wording is covered.
    """
    if with_prompt:
        yield R1_REWARD_TEMPLATE
    for path in sorted(Path(out_dir).glob("*.jsonl")):
        for item in read_dataset(path):
            yield item.question
            yield from item.responses
            yield item.trace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the demo judging dataset.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-share", type=float, default=0.5)
    for split, n in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=n, help=f"items in {split} (even)")
    args = parser.parse_args(argv)
    sizes = {split: getattr(args, split) for split in DEFAULT_SIZES}
    for split, path in write_dataset(args.out_dir, sizes, args.seed, args.image_share).items():
        print(f"{split}: {sizes[split]} items -> {path}")


if __name__ == "__main__":
    main()
