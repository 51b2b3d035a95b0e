"""Weight interpolation between a model and its fine-tuned descendant: θ = (1 − α)·θ_base + α·θ_tuned.

Why: RL moves a judge's sampled verdicts (Voting@K, order agreement) more than its greedy verdict, and
on the demo judge it cost greedy accuracy. Interpolating the RL policy's weights back toward the SFT
policy (WiSE-FT, Wortsman et al. 2022; WARP's interpolation toward the initialisation, Ramé et al. 2024)
keeps much of the fine-tuning gain with less of the drift. α is chosen on a validation split, never on
the test split it is reported on.

Both directories are `save_pretrained` outputs of one architecture. The output is one too, with the
tuned model's config, tokenizer and preprocessor files, plus `interpolation.json` (base, tuned, α;
the paths relative to the output directory), which `r1judge-train export` copies into the checkpoint's
provenance.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..paths import relative_path

WEIGHTS = "model.safetensors"
RECORD = "interpolation.json"
_CARRIED = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "preprocessor_config.json",
)


class InterpolationError(ValueError):
    """A pair of models that cannot be interpolated, naming the file and the tensor."""


def interpolate_state(
    base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float, base_name: str, tuned_name: str
) -> dict[str, torch.Tensor]:
    if not 0.0 <= alpha <= 1.0:
        raise InterpolationError(f"alpha must be in [0, 1], got {alpha}")
    for name in sorted(base.keys() ^ tuned.keys()):
        where = base_name if name in base else tuned_name
        raise InterpolationError(f"{where}: tensor {name!r} has no counterpart in the other model")
    merged: dict[str, torch.Tensor] = {}
    for name, b in base.items():
        t = tuned[name]
        if b.shape != t.shape or b.dtype != t.dtype:
            raise InterpolationError(
                f"{tuned_name}: tensor {name!r} is {tuple(t.shape)} {t.dtype}, "
                f"but {tuple(b.shape)} {b.dtype} in {base_name}"
            )
        if not b.is_floating_point():
            if not torch.equal(b, t):
                raise InterpolationError(f"{tuned_name}: integer tensor {name!r} differs from {base_name}'s")
            merged[name] = b.clone()
            continue
        # In float64, so α = 0 and α = 1 give back either model bit for bit.
        merged[name] = ((1.0 - alpha) * b.double() + alpha * t.double()).to(b.dtype)
    return merged


def interpolate_models(base: Path, tuned: Path, alpha: float, out: Path, preprocessor: Path | None = None) -> Path:
    """Writes the interpolated model to `out` (a save_pretrained directory) and returns it. `preprocessor`
    (a preprocessor_config.json) is copied in when given: export reads the image settings from there."""
    for root in (base, tuned):
        if not (root / WEIGHTS).is_file():
            raise InterpolationError(f"{root / WEIGHTS}: missing (a save_pretrained directory with one weights file)")
    configs = [json.loads((root / "config.json").read_text()) for root in (base, tuned)]
    for key in ("model_type", "architectures"):
        if configs[0].get(key) != configs[1].get(key):
            raise InterpolationError(
                f"{tuned / 'config.json'}: {key} is {configs[1].get(key)!r}, but {configs[0].get(key)!r} in {base}"
            )
    merged = interpolate_state(
        load_file(base / WEIGHTS), load_file(tuned / WEIGHTS), alpha, str(base / WEIGHTS), str(tuned / WEIGHTS)
    )
    out.mkdir(parents=True, exist_ok=True)
    save_file(merged, out / WEIGHTS, metadata={"format": "pt"})
    for name in _CARRIED:
        source = tuned / name if (tuned / name).is_file() else base / name
        if source.is_file():
            shutil.copyfile(source, out / name)
    if preprocessor is not None:
        shutil.copyfile(preprocessor, out / "preprocessor_config.json")
    # Relative to `out`, so the record (and the provenance it ends up in) holds no machine's absolute paths.
    record = {"base": relative_path(base, out), "tuned": relative_path(tuned, out), "alpha": alpha}
    (out / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return out
