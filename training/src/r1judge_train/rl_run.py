"""`r1judge-train rl --config FILE`: a StableReinforce run described by one YAML file.

    model: runs/demo/hf                 # the SFT policy (a save_pretrained directory)
    tokenizer: runs/demo/tokenizer      # tokenizer.json + tokenizer_config.json (default: the model's)
    preprocessor: runs/demo/checkpoint/preprocessor_config.json   # image settings (default: R1-Reward's)
    data: runs/demo/data/train.jsonl    # judging records (images relative to the file)
    hard_items: runs/demo/hard.json     # optional: ids kept by `r1judge-train select-hard`
    limit: 0                            # optional: the first N items only
    both_orders: false                  # optional: each item also with its responses swapped
    referee: {kind: rule}               # or {kind: chat, base_url, model, api_key_env} or {kind: model, path}
    output_dir: runs/rl-demo            # checkpoints, metrics.jsonl, TensorBoard runs, final/
    export: {out: runs/rl-demo/checkpoint, model_id: r1judge-demo-rl}   # optional ONNX export at the end
    trainer:                            # StableReinforceConfig: TRL's GRPOConfig + Pre-CLIP and the filter
      learning_rate: 1.0e-5
      ...

Relative paths are read from the file's directory. Unknown keys are errors naming the key. Overrides
(`--set trainer.learning_rate=1e-4`, `--set output_dir=../runs/other`) are dotted keys with YAML values,
applied to the file before it is read, so their paths are relative to the file too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .data.demo_task import JudgeItem
from .data.records import read_dataset
from .data.teacher import swapped_trace
from .rewards.referee import ChatReferee, ModelReferee, Referee, RuleReferee


class _RunFileLoader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` (no dot) as a string, and a learning rate of "1e-4" fails deep inside
    torch: run files read every decimal or exponent number as a float."""


_RunFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def read_yaml(text: str) -> Any:
    """A run file's (or an override's) YAML, with numbers as a person writes them."""
    return yaml.load(text, Loader=_RunFileLoader)


class RunConfigError(ValueError):
    def __init__(self, file: Path, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")


@dataclass(frozen=True)
class RefereeSpec:
    kind: str = "rule"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    path: Path | None = None

    def build(self) -> Referee:
        if self.kind == "rule":
            return RuleReferee()
        if self.kind == "chat":
            if not self.base_url or not self.model:
                raise ValueError("referee kind 'chat' needs base_url and model")
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            return ChatReferee(self.base_url, self.model, api_key=key)
        if self.kind == "model":
            if self.path is None:
                raise ValueError("referee kind 'model' needs path")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = AutoModelForCausalLM.from_pretrained(self.path).eval()
            return ModelReferee(model, AutoTokenizer.from_pretrained(self.path))
        raise ValueError(f"unknown referee kind {self.kind!r} (rule, chat or model)")


@dataclass(frozen=True)
class RlRun:
    model: Path
    data: Path
    output_dir: Path
    tokenizer: Path | None = None
    preprocessor: Path | None = None
    hard_items: Path | None = None
    limit: int = 0
    both_orders: bool = False
    referee: RefereeSpec = field(default_factory=RefereeSpec)
    export: dict[str, str] | None = None
    trainer: dict[str, Any] = field(default_factory=dict)

    def items(self) -> list[JudgeItem]:
        items = read_dataset(self.data)
        if self.hard_items is not None:
            keep = set(json.loads(self.hard_items.read_text()))
            items = [item for item in items if item.id in keep]
        items = items[: self.limit] if self.limit else items
        return [*items, *map(swapped, items)] if self.both_orders else items


def swapped(item: JudgeItem) -> JudgeItem:
    """The same judgement with the responses in the other order: a policy rewarded on both learns a
    verdict that does not depend on which response it read first."""
    return dataclasses.replace(
        item,
        id=f"{item.id}:swapped",
        responses=(item.responses[1], item.responses[0]),
        label=3 - item.label,
        trace=swapped_trace(item.trace),
    )


_PATHS = ("model", "data", "output_dir", "tokenizer", "preprocessor", "hard_items")


def load_run(file: Path, overrides: dict[str, Any] | None = None) -> RlRun:
    raw = read_yaml(file.read_text()) or {}
    if not isinstance(raw, dict):
        raise RunConfigError(file, "(file)", "expected a mapping")
    for dotted, value in (overrides or {}).items():
        *parents, key = dotted.split(".")
        node = raw
        for parent in parents:
            child = node.setdefault(parent, {})
            if not isinstance(child, dict):
                raise RunConfigError(file, dotted, f"{parent} is not a mapping")
            node = child
        node[key] = value
    known = {f.name for f in dataclasses.fields(RlRun)}
    for key in raw:
        if key not in known:
            raise RunConfigError(file, key, f"unknown key (known: {', '.join(sorted(known))})")
    for key in ("model", "data", "output_dir"):
        if key not in raw:
            raise RunConfigError(file, key, "required")
    base = file.parent
    values: dict[str, Any] = dict(raw)
    for key in _PATHS:
        if values.get(key) is not None:
            values[key] = (base / str(values[key])).resolve()
    referee = dict(raw.get("referee") or {})
    try:
        if "path" in referee:
            referee["path"] = (base / str(referee["path"])).resolve()
        values["referee"] = RefereeSpec(**referee)
    except TypeError as err:
        raise RunConfigError(file, "referee", str(err)) from err
    if values.get("export") is not None:
        export = dict(values["export"])
        if "out" not in export:
            raise RunConfigError(file, "export.out", "required")
        export["out"] = str((base / export["out"]).resolve())
        values["export"] = export
    return RlRun(**values)


def trainer_config(run: RlRun) -> Any:
    from .trainers.stable_reinforce import StableReinforceConfig

    known = {f.name for f in dataclasses.fields(StableReinforceConfig)}
    unknown = sorted(set(run.trainer) - known)
    if unknown:
        raise ValueError(f"trainer: unknown StableReinforceConfig fields {unknown}")
    settings: dict[str, Any] = {"report_to": ["tensorboard"], "logging_steps": 1, "save_strategy": "steps"}
    settings.update(run.trainer)
    return StableReinforceConfig(output_dir=str(run.output_dir), **settings)


def build_trainer(run: RlRun) -> Any:
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .data.rl import rl_dataset
    from .models.inputs import image_processor
    from .rewards.stable_reinforce import StableReinforceReward
    from .tokenizer.qwen import load_tokenizer
    from .trainers.processor import judge_processor
    from .trainers.stable_reinforce import StableReinforceTrainer

    config = trainer_config(run)
    tok = load_tokenizer(run.tokenizer or run.model)
    preprocessor = json.loads(run.preprocessor.read_text()) if run.preprocessor else None
    # Loaded from disk so that TRL can load the same weights again as the frozen reference.
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run.model)
    return StableReinforceTrainer(
        model=model,
        reward_funcs=[StableReinforceReward(run.referee.build())],
        args=config,
        train_dataset=rl_dataset(run.items(), run.data.parent),
        processing_class=judge_processor(tok, image_processor(preprocessor)),
    )


def last_checkpoint(output_dir: Path) -> Path | None:
    found = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return found[-1] if found else None


def run_rl(run: RlRun, resume: bool = True) -> dict[str, Any]:
    """Trains (from the newest checkpoint in output_dir when `resume`), saves `final/`, exports if asked."""
    trainer = build_trainer(run)
    checkpoint = last_checkpoint(run.output_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = run.output_dir / "final"
    trainer.save_model(str(final))
    trainer.processing_class.tokenizer.save_pretrained(str(final))  # type: ignore[union-attr]
    summary = {"final": str(final), "steps": trainer.state.global_step, "train_loss": result.training_loss}
    if run.export is not None:
        from transformers import Qwen2_5_VLForConditionalGeneration

        from .export.checkpoint import export_checkpoint

        preprocessor = json.loads(run.preprocessor.read_text()) if run.preprocessor else None
        from .paths import relative_path

        # The SFT start relative to where the command ran: no absolute path of this machine in a manifest.
        source = relative_path(run.model, Path.cwd())
        provenance = {"made_by": "r1judge-train rl", "source": source, "trainer": run.trainer}
        saved = Qwen2_5_VLForConditionalGeneration.from_pretrained(final)
        out = Path(run.export["out"])
        export_checkpoint(
            saved,
            run.tokenizer or run.model,
            out,
            run.export.get("model_id", "r1judge-rl"),
            provenance,
            ("fp32", "fp16"),
            preprocessor=preprocessor,
        )
        summary["exported"] = str(out)
    return summary
