"""`r1judge-train sft --config FILE`: the SFT cold start described by one YAML file.

    data: runs/demo/data/train.jsonl      # judging records with teacher traces
    tokenizer: runs/demo/tokenizer
    model: null                           # a save_pretrained directory to start from; default: a new demo-shaped model
    preprocessor: null                    # image settings (default: R1-Reward's)
    output_dir: runs/sft                  # final/ holds the model and tokenizer (the RL run's `model`)
    settings: {max_steps: 4000, batch_size: 16, learning_rate: 2.0e-3, seed: 1}   # ColdStartSettings

Relative paths are read from the file's directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .rl_run import RunConfigError, read_yaml


@dataclasses.dataclass(frozen=True)
class SftRun:
    data: Path
    tokenizer: Path
    output_dir: Path
    model: Path | None = None
    preprocessor: Path | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


def load_sft_run(file: Path) -> SftRun:
    raw = read_yaml(file.read_text()) or {}
    known = {f.name for f in dataclasses.fields(SftRun)}
    for key in raw:
        if key not in known:
            raise RunConfigError(file, key, f"unknown key (known: {', '.join(sorted(known))})")
    for key in ("data", "tokenizer", "output_dir"):
        if key not in raw:
            raise RunConfigError(file, key, "required")
    values = dict(raw)
    for key in ("data", "tokenizer", "output_dir", "model", "preprocessor"):
        if values.get(key) is not None:
            values[key] = (file.parent / str(values[key])).resolve()
    return SftRun(**values)


def run_sft(run: SftRun) -> dict[str, Any]:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .data.records import read_dataset
    from .models.config import build_config
    from .models.inputs import image_processor
    from .tokenizer.qwen import load_tokenizer
    from .trainers.sft import ColdStartSettings, build_cold_start_trainer

    settings = ColdStartSettings(output_dir=run.output_dir, **run.settings)
    tok = load_tokenizer(run.tokenizer)
    torch.manual_seed(settings.seed)
    if run.model is not None:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run.model)
    else:
        model = Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids))
    preprocessor = json.loads(run.preprocessor.read_text()) if run.preprocessor else None
    items = read_dataset(run.data)
    trainer = build_cold_start_trainer(
        model, tok, items, run.data.parent, settings, processor=image_processor(preprocessor)
    )
    result = trainer.train()
    final = run.output_dir / "final"
    model.save_pretrained(final)
    tok.tokenizer.save(str(final / "tokenizer.json"))
    (final / "tokenizer_config.json").write_text((run.tokenizer / "tokenizer_config.json").read_text())
    return {"final": str(final), "steps": trainer.state.global_step, "train_loss": result.training_loss}
