"""Image items of the demo task: flat shapes drawn with PIL on white, and detectors that read them back.

Three tasks: the colour of one big shape, the kind of one big shape (circle, square, triangle), the
number (1-4) of well-separated shapes. (Left/right position was tried and dropped: Qwen2.5-VL's
vision tower has no absolute position embedding, and the 1M-parameter demo stayed at chance on it.)
Images are RGB, 56-112 px per side, not always square and not always a
multiple of 28 (the server resizes). Shapes are drawn without anti-aliasing, so every pixel is
either pure white or one palette colour; the detectors below rely on that and every rendered
image is checked by them before it is used.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from r1judge_train.data.demo_task import IMAGE_TASKS, JudgeItem
from r1judge_train.data.teacher import teacher_trace

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 50, 180),
    "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
# Multiples of 28 and awkward ones (63, 70, 91, 98) so the server's resizing is exercised.
SIDES = (56, 63, 70, 84, 91, 98, 112)
WHITE = (255, 255, 255)
MARGIN = 2  # keeps shapes off the border
GAP = 4  # min pixels between shapes
MIN_SHAPE = 10  # smaller triangles lose their tip
MAX_COUNT = 4

QUESTIONS: dict[str, tuple[str, ...]] = {
    "colour": (
        "What colour is the shape?",
        "What is the colour of the shape?",
        "Which colour is the shape?",
        "Name the colour of the shape.",
    ),
    "shape": (
        "What shape is it?",
        "Which shape is shown?",
        "What is the shape?",
        "Name the shape.",
    ),
    "count": (
        "How many shapes are there?",
        "How many shapes are in the image?",
        "Count the shapes.",
        "What is the number of shapes?",
    ),
}
RESPONSES: dict[str, tuple[str, ...]] = {
    "colour": ("{v}", "The shape is {v}.", "It is {v}.", "The colour is {v}."),
    "shape": ("{v}", "The shape is a {v}.", "It is a {v}.", "A {v}."),
    "count": ("{v}", "The count is {v}.", "I count {v}.", "The number is {v}."),
}


@dataclass(frozen=True)
class Shape:
    """One shape inside the square box at (x, y) with side `size`."""

    kind: str
    colour: str
    x: int
    y: int
    size: int


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    shapes: tuple[Shape, ...]


def render(scene: Scene) -> Image.Image:
    image = Image.new("RGB", (scene.width, scene.height), WHITE)
    draw = ImageDraw.Draw(image)
    for s in scene.shapes:
        box = (s.x, s.y, s.x + s.size - 1, s.y + s.size - 1)
        fill = PALETTE[s.colour]
        if s.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif s.kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            tip = (s.x + (s.size - 1) / 2, s.y)
            draw.polygon([tip, (box[0], box[3]), (box[2], box[3])], fill=fill)
    return image


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes; deterministic for a given Pillow, which the byte-identical datasets rely on."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _canvas(rng: random.Random) -> tuple[int, int]:
    return rng.choice(SIDES), rng.choice(SIDES)


def big_shape_scene(rng: random.Random, kind: str, colour: str) -> Scene:
    """One big shape (half to three quarters of the short side)."""
    width, height = _canvas(rng)
    short = min(width, height)
    size = rng.randint(short // 2, short * 3 // 4)
    x = rng.randint(MARGIN, width - MARGIN - size)
    y = rng.randint(MARGIN, height - MARGIN - size)
    return Scene(width, height, (Shape(kind, colour, x, y, size),))


def _apart(a: Shape, b: Shape) -> bool:
    return (
        a.x + a.size + GAP <= b.x or b.x + b.size + GAP <= a.x or a.y + a.size + GAP <= b.y or b.y + b.size + GAP <= a.y
    )


def count_scene(rng: random.Random, count: int) -> Scene:
    """`count` shapes of one colour, boxes at least GAP pixels apart; retried until they fit."""
    colour = rng.choice(list(PALETTE))
    while True:
        width, height = _canvas(rng)
        size = rng.randint(MIN_SHAPE, max(MIN_SHAPE, min(width, height) // 4))
        placed: list[Shape] = []
        for _ in range(200):
            if len(placed) == count:
                return Scene(width, height, tuple(placed))
            x = rng.randint(MARGIN, width - MARGIN - size)
            y = rng.randint(MARGIN, height - MARGIN - size)
            shape = Shape(rng.choice(SHAPES), colour, x, y, size)
            if all(_apart(shape, other) for other in placed):
                placed.append(shape)
        if len(placed) == count:
            return Scene(width, height, tuple(placed))


def ink(image: Image.Image) -> np.ndarray:
    """Boolean mask of the non-white pixels."""
    pixels = np.asarray(image.convert("RGB"))
    return (pixels != 255).any(axis=2)


def detect_colour(image: Image.Image) -> str:
    """The palette colour nearest the mean of the ink."""
    pixels = np.asarray(image.convert("RGB"))[ink(image)].astype(float)
    if len(pixels) == 0:
        raise ValueError("blank image")
    mean = pixels.mean(axis=0)
    return min(PALETTE, key=lambda name: float(((np.array(PALETTE[name]) - mean) ** 2).sum()))


def detect_shape(image: Image.Image) -> str:
    """The kind of a single shape from how much of its bounding box it fills: a square fills all of
    it, a circle π/4 ≈ 0.79, a triangle about half."""
    rows, columns = np.nonzero(ink(image))
    if len(rows) == 0:
        raise ValueError("blank image")
    box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    fill = len(rows) / box
    return "square" if fill > 0.92 else "circle" if fill > 0.65 else "triangle"


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


def count_shapes(image: Image.Image) -> int:
    """Number of 4-connected ink regions, by joining overlapping runs of consecutive rows."""
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    previous: list[tuple[int, int, int]] = []
    for row in ink(image):
        current = []
        for start, end in _runs(row):
            run = len(parent)
            parent.append(run)
            for p_start, p_end, p_run in previous:
                if p_start < end and start < p_end:
                    parent[find(p_run)] = find(run)
            current.append((start, end, run))
        previous = current
    return len({find(i) for i in range(len(parent))})


def describe(task: str, image: Image.Image) -> str:
    """The ground truth of an image task as read back from the pixels."""
    if task == "colour":
        return detect_colour(image)
    if task == "shape":
        return detect_shape(image)
    if task == "count":
        return str(count_shapes(image))
    raise ValueError(f"not an image task: {task!r}")


def _truth_and_wrong(task: str, rng: random.Random) -> tuple[str, str]:
    if task == "colour":
        truth = rng.choice(list(PALETTE))
        return truth, rng.choice([c for c in PALETTE if c != truth])
    if task == "shape":
        truth = rng.choice(SHAPES)
        return truth, rng.choice([k for k in SHAPES if k != truth])
    if task == "count":
        truth = rng.randint(1, MAX_COUNT)
        return str(truth), str(rng.choice([n for n in (truth - 1, truth + 1) if n >= 1]))
    raise ValueError(f"not an image task: {task!r}")


def _scene(task: str, truth: str, rng: random.Random) -> Scene:
    if task == "colour":
        return big_shape_scene(rng, rng.choice(SHAPES), truth)
    if task == "shape":
        return big_shape_scene(rng, truth, rng.choice(list(PALETTE)))
    return count_scene(rng, int(truth))


def make_image_item(item_id: str, split: str, task: str, label: int, rng: random.Random) -> tuple[JudgeItem, bytes]:
    """An image item and its PNG bytes; the image path is `images/<id>.png`."""
    if task not in IMAGE_TASKS:
        raise ValueError(f"not an image task: {task!r}")
    truth, wrong = _truth_and_wrong(task, rng)
    image = render(_scene(task, truth, rng))
    seen = describe(task, image)
    if seen != truth:  # a renderer bug, not bad luck: scenes are built to be unambiguous
        raise RuntimeError(f"{item_id}: drew {task}={truth!r} but the pixels say {seen!r}")
    claims = (truth, wrong) if label == 1 else (wrong, truth)
    family = rng.choice(RESPONSES[task])
    item = JudgeItem(
        id=item_id,
        split=split,
        kind="image",
        task=task,
        question=rng.choice(QUESTIONS[task]),
        responses=(family.format(v=claims[0]), family.format(v=claims[1])),
        label=label,
        images=(f"images/{item_id}.png",),
        trace=teacher_trace(task, truth, claims),
        answer=truth,
    )
    return item, encode_png(image)
