"""Decoded images to RGB exactly as R1-Reward's training saw them (qwen-vl-utils' `to_rgb`).

R1-Reward loaded every image through qwen-vl-utils' `fetch_image` (its OpenRLHF data processor calls
`process_vision_info`), whose `to_rgb` (0.0.9 and later, unchanged in the Qwen3-VL repository's
copy) composites mode RGBA on white with the alpha as paste mask and converts every other mode with
`convert("RGB")`, which ignores transparency: LA keeps its grey, P its palette colours (tRNS or
not), RGB/L their stored values. The server's twin is src/engine/images/decode.ts; docs/
checkpoint-format.md, "Images", states the rule.
"""

from __future__ import annotations

import warnings

from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA":
        # paste with the alpha as mask equals Image.alpha_composite over opaque white bit for bit
        # (checked for every value/alpha pair); it rounds a·v + (255 − a)·255 over 255 to nearest.
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    with warnings.catch_warnings():
        # PIL warns that a palette with per-entry alpha "should be converted to RGBA"; dropping that
        # alpha is the rule R1-Reward was trained with, so the warning is noise here.
        warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
        return image.convert("RGB")
