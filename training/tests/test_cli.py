"""The `demo` command's options: left out, the recipe's defaults (the documented build); given, they win."""

import pytest

from r1judge_train.cli import demo_recipe, parser
from r1judge_train.demo import DemoRecipe


def test_demo_without_options_is_the_default_recipe() -> None:
    assert demo_recipe(parser().parse_args(["demo"])) == DemoRecipe()


def test_demo_options_override_the_recipe() -> None:
    args = parser().parse_args(["demo", "--seed", "7", "--image-min-pixels", "12544", "--image-fact-share", "0.25"])
    recipe = demo_recipe(args)
    assert (recipe.seed, recipe.image_min_pixels, recipe.image_fact_share) == (7, 12544, 0.25)
    assert recipe.steps == DemoRecipe().steps


def test_pixel_bounds_out_of_order_fail_before_any_work() -> None:
    with pytest.raises(ValueError, match="min_pixels"):
        demo_recipe(parser().parse_args(["demo", "--image-min-pixels", "999999999"]))


def test_refining_the_demo_needs_the_policy_and_a_weight_in_0_1() -> None:
    args = parser().parse_args(["demo", "--refine", "runs/rl/final"])
    with pytest.raises(SystemExit, match="--refine and --alpha go together"):
        args.run(args)
    args = parser().parse_args(["demo", "--refine", "runs/rl/final", "--alpha", "1.5"])
    with pytest.raises(SystemExit, match=r"--alpha must be in \[0, 1\], got 1.5"):
        args.run(args)
