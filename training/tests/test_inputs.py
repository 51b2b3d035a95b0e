"""Model inputs: M-RoPE ids equal transformers', images resize like Qwen2-VL, pixel bounds are checked."""

import numpy as np
import pytest
import torch
from PIL import Image

from r1judge_train.models.config import SpecialTokenIds, build_config
from r1judge_train.models.inputs import (
    check_preprocessor,
    checkpoint_image_processor,
    image_processor,
    mrope_positions,
    preprocess_images,
    preprocessor_config,
)

IDS = SpecialTokenIds(500, 501, 502, 503, 504, 505, 506)


@pytest.fixture(scope="module")
def hf_model():
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration(build_config(512, IDS)).eval()


def _sequence(grids: list[tuple[int, int, int]], rng: np.random.Generator) -> list[int]:
    seq = list(rng.integers(0, 400, 5))
    for t, h, w in grids:
        seq += [IDS.vision_start] + [IDS.image_pad] * (t * h * w // 4) + [IDS.vision_end]
        seq += list(rng.integers(0, 400, 3))
    return [int(x) for x in seq]


@pytest.mark.parametrize(
    "grids",
    [[], [(1, 4, 4)], [(1, 4, 8)], [(1, 8, 4), (1, 2, 6)], [(2, 6, 4)], [(1, 16, 2), (1, 4, 4), (1, 6, 6)]],
)
def test_mrope_positions_equal_transformers(hf_model, grids):
    seq = _sequence(grids, np.random.default_rng(len(grids)))
    grid_arr = np.asarray(grids, dtype=np.int64) if grids else None
    ours, delta = mrope_positions(seq, grid_arr, IDS.image_pad)
    ids = torch.tensor([seq])
    if grids:
        theirs, their_delta = hf_model.model.get_rope_index(
            ids, (ids == IDS.image_pad).int(), image_grid_thw=torch.from_numpy(grid_arr)
        )
        np.testing.assert_array_equal(ours, theirs[:, 0].numpy())
        assert delta == int(their_delta)
    else:
        np.testing.assert_array_equal(ours, np.tile(np.arange(len(seq)), (3, 1)))
        assert delta == 0


@pytest.mark.parametrize(
    ("size", "grid"),
    [((70, 70), (1, 4, 4)), ((100, 70), (1, 4, 8)), ((20, 30), (1, 6, 4)), ((84, 112), (1, 8, 6))],
)
def test_smart_resize_grids(size, grid):
    # PIL sizes are (width, height); grids are (t, h, w) in 14-px patches. Below min_pixels, sides
    # scale up and round up. 70 px rounds half-to-even to 56 (2 x 28), not 84 as JavaScript's Math.round would give.
    pixels = preprocess_images([Image.new("RGB", size, (10, 20, 30))], image_processor())
    assert tuple(pixels.image_grid_thw[0]) == grid
    assert pixels.pixel_values.shape == (grid[1] * grid[2], 1176)


def test_pixel_bounds_out_of_order_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="field 'min_pixels': 600000 is larger than max_pixels 501760"):
        preprocessor_config(min_pixels=600_000)
    with pytest.raises(ValueError, match="field 'min_pixels': expected a positive integer, got 0"):
        preprocessor_config(min_pixels=0)
    # HF's size-only form is read the same way (as the server reads it).
    size_only = {"size": {"shortest_edge": 3136, "longest_edge": 1000}}
    with pytest.raises(ValueError, match=r"ckpt/preprocessor_config\.json: field 'size\.shortest_edge'"):
        check_preprocessor(size_only, "ckpt/preprocessor_config.json")
    with pytest.raises(ValueError, match="field 'max_pixels': expected a positive integer, got None"):
        check_preprocessor({"min_pixels": 3136, "max_pixels": None})


def test_a_checkpoint_without_preprocessor_config_has_no_image_processor(tmp_path):
    assert checkpoint_image_processor(tmp_path) is None
    (tmp_path / "preprocessor_config.json").write_text('{"min_pixels": 10, "max_pixels": 5}')
    with pytest.raises(ValueError, match=r"preprocessor_config\.json: field 'min_pixels'"):
        checkpoint_image_processor(tmp_path)
