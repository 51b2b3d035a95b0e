"""The alpha rule R1-Reward was trained with (qwen-vl-utils' `to_rgb`): mode RGBA composited on white
with the alpha as paste mask, every other mode through convert("RGB"), transparency ignored. The
golden fixture images (LA, palette with tRNS, 16-bit RGBA, GIF with a transparent index) hold the
decoded bytes the server's decoder is checked against (test/engine/images/golden.test.ts)."""

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from r1judge_train.data.collate import load_item_images
from r1judge_train.data.demo_task import JudgeItem
from r1judge_train.models.inputs import to_rgb

GOLDEN = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "golden"
CASES = json.loads((GOLDEN / "images.json").read_text())["cases"]


def qwen_vl_utils_to_rgb(image: Image.Image) -> Image.Image:
    """qwen-vl-utils 0.0.10's `to_rgb` (vision_process.py), restated as the reference."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return image.convert("RGB")


def pixels(image: Image.Image) -> list[int]:
    return np.asarray(image, dtype=np.uint8).ravel().tolist()


@pytest.mark.parametrize("case", CASES, ids=[c["image"] for c in CASES])
def test_fixture_images_decode_to_the_committed_bytes_by_r1_rewards_rule(case):
    with Image.open(GOLDEN / case["image"]) as image:
        ours = np.asarray(to_rgb(image), dtype=np.uint8).tobytes()
    with Image.open(GOLDEN / case["image"]) as image:
        reference = np.asarray(qwen_vl_utils_to_rgb(image), dtype=np.uint8).tobytes()
    assert ours == reference
    assert ours == (GOLDEN / case["rgb"]).read_bytes()


def test_the_fixtures_cover_every_transparency_kind():
    modes = {}
    for case in CASES:
        with Image.open(GOLDEN / case["image"]) as image:
            modes[case["image"]] = (image.mode, "transparency" in image.info)
    assert modes["images/grey-alpha-84x56.png"] == ("LA", False)
    assert modes["images/palette-trns-70x98.png"] == ("P", True)
    assert modes["images/palette-trns-42x28.gif"] == ("P", True)
    assert modes["images/rgba16-56x42.png"] == ("RGBA", False)  # PIL keeps the high bytes of 16-bit samples
    assert modes["images/alpha-98x70.png"] == ("RGBA", False)


def test_rgba_is_composited_on_white_with_rounding_to_nearest():
    rgba = Image.frombytes("RGBA", (3, 1), bytes([0, 100, 200, 1, 13, 77, 254, 254, 9, 9, 9, 0]))
    assert pixels(to_rgb(rgba)) == [254, 254, 255, 14, 78, 254, 255, 255, 255]


def test_other_modes_ignore_their_transparency():
    la = Image.frombytes("LA", (2, 1), bytes([100, 0, 200, 128]))
    assert pixels(to_rgb(la)) == [100, 100, 100, 200, 200, 200]
    palette = Image.frombytes("P", (3, 1), bytes([0, 1, 2]))
    palette.putpalette([255, 0, 0, 0, 128, 255, 40, 80, 120])
    buf = io.BytesIO()
    palette.save(buf, "PNG", transparency=bytes([0, 100]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the palette-alpha warning is silenced: dropping it is the rule
        with Image.open(buf) as reopened:
            assert reopened.mode == "P" and "transparency" in reopened.info
            assert pixels(to_rgb(reopened)) == [255, 0, 0, 0, 128, 255, 40, 80, 120]


def test_training_loads_item_images_by_the_same_rule(tmp_path):
    for case in CASES:
        (tmp_path / Path(case["image"]).name).write_bytes((GOLDEN / case["image"]).read_bytes())
    item = JudgeItem(
        id="x",
        split="test",
        kind="image",
        task="colour",
        question="q",
        responses=("a", "b"),
        label=1,
        images=tuple(Path(c["image"]).name for c in CASES),
        trace="",
        answer="1",
    )
    for case, image in zip(CASES, load_item_images(item, tmp_path), strict=True):
        assert image.mode == "RGB"
        assert np.asarray(image, dtype=np.uint8).tobytes() == (GOLDEN / case["rgb"]).read_bytes(), case["image"]
