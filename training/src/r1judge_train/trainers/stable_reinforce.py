"""StableReinforce on TRL 1.13's GRPOTrainer: a config + trainer pair over the pure core in `algo/`.

What changes against GRPO (TRL 1.13 private methods, so TRL is pinned):
- `_generate_and_score_completions`: after TRL generates and scores, the advantages are replaced by
  REINFORCE++'s per-token ones (the k1 KL against the reference folded into the token rewards,
  reverse-cumulative returns, whitening over every token of the global batch, then the Advantage
  Filter). TRL's group normalisation is not used: `num_generations` ≥ 2 only because TRL requires it —
  R1-Reward drew one sample per prompt with no baseline, and whitening over the whole batch (not per
  group) keeps each sample's advantage independent of its group, so a group of 2 is two such samples.
  `baseline: group` opts into OpenRLHF's REINFORCE++-baseline instead: each score less its group's
  mean, then the same global whitening (no per-group std).
- `_compute_loss`: the clipped surrogate with Pre-CLIP, token mean per sequence then batch mean, and
  no KL term (it is in the rewards). The ratio is π/π_old; it differs from 1 only when TRL keeps
  `old_per_token_logps` (`steps_per_generation` > `gradient_accumulation_steps` or `num_iterations` > 1),
  which the stability experiment uses.
- `sft_coef` > 0 adds the NLL of each prompt's teacher completion to the loss (InstructGPT's PPO-ptx
  on the RL items themselves): off by default, and not in R1-Reward.
- `log`: every logged step also goes to `<output_dir>/metrics.jsonl`.

`beta` is the KL coefficient of the token rewards (R1-Reward's released script: 1e-3); TRL loads the
reference model because it is non-zero, and computes its log-probs for us.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase
from trl.trainer.grpo_config import GRPOConfig
from trl.trainer.grpo_trainer import GRPOTrainer

from ..algo.advantages import group_baseline, reinforce_advantages
from ..algo.loss import policy_loss
from ..algo.settings import Baseline, FilterRule, StableReinforceSettings
from ..tokenizer.qwen import VISION_TOKENS


@dataclass
class StableReinforceConfig(GRPOConfig):
    pre_clip: bool = field(default=True, metadata={"help": "Clamp the log-ratio before exponentiating (Pre-CLIP)."})
    ratio_min: float = field(default=1e-3, metadata={"help": "Pre-CLIP's lower ratio bound."})
    ratio_max: float = field(default=1e3, metadata={"help": "Pre-CLIP's upper ratio bound."})
    advantage_filter: str = field(
        default="paper", metadata={"help": "'paper' (|z| > σ), 'released' (the authors' code) or 'none'."}
    )
    filter_sigma: float = field(default=3.0, metadata={"help": "The Advantage Filter's σ."})
    filter_abs_max: float = field(default=10.0, metadata={"help": "The released rule's |A| bound."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Whiten returns over the global batch."})
    sft_coef: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the NLL of each prompt's `reference` completion added to the loss "
            "(InstructGPT's PPO-ptx, on the RL items' own teacher traces); 0: off, as in R1-Reward."
        },
    )
    baseline: str = field(
        default="none",
        metadata={"help": "'none' (R1-Reward) or 'group': each score less its prompt's mean (REINFORCE++-baseline)."},
    )

    def __post_init__(self) -> None:
        if self.ddp_find_unused_parameters is None:
            # A judge's batches mix text and image items: on a rank whose batch has no image the vision
            # tower gets no gradient, which DDP must be told to expect.
            self.ddp_find_unused_parameters = True
        super().__post_init__()
        if self.advantage_filter not in ("paper", "released", "none"):
            raise ValueError(f"advantage_filter must be 'paper', 'released' or 'none', got {self.advantage_filter!r}")
        if self.sft_coef < 0:
            raise ValueError(f"sft_coef must be >= 0, got {self.sft_coef}")
        if self.epsilon_high is not None and self.epsilon_high != self.epsilon:
            raise ValueError("StableReinforce clips symmetrically: leave epsilon_high unset")
        self.algorithm()  # bad settings fail here, before a model loads

    def algorithm(self) -> StableReinforceSettings:
        rule: FilterRule = self.advantage_filter  # type: ignore[assignment]
        baseline: Baseline = self.baseline  # type: ignore[assignment]
        return StableReinforceSettings(
            kl_coef=self.beta,
            clip_eps=self.epsilon,
            pre_clip=self.pre_clip,
            ratio_min=self.ratio_min,
            ratio_max=self.ratio_max,
            advantage_filter=rule,
            filter_sigma=self.filter_sigma,
            filter_abs_max=self.filter_abs_max,
            whiten=self.whiten_advantages,
            baseline=baseline,
        )


class StableReinforceTrainer(GRPOTrainer):
    args: StableReinforceConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for model in (self.model, self.ref_model):
            if model is not None:
                _tolerate_imageless_chunks(self.accelerator.unwrap_model(model))
        self.algorithm = self.args.algorithm()
        self._suppress_vision_tokens()
        self._scored: torch.Tensor | None = None
        assert self.args.output_dir is not None  # TrainingArguments.__post_init__ fills in a default
        self._metrics_path = Path(self.args.output_dir) / "metrics.jsonl"
        self._metrics_started = False

    def _suppress_vision_tokens(self) -> None:
        """A policy that writes <|image_pad|> (a drifting policy does) asks the vision tower for an image
        it does not have, and the log-prob forward fails ("Image features and image tokens do not
        match"): the vision markers are never sampled."""
        vocab = self._text_tokenizer().get_vocab()
        ids = sorted(vocab[t] for t in VISION_TOKENS if t in vocab)
        if not ids or self.args.use_vllm:
            return
        suppressed = sorted({*(self.generation_config.suppress_tokens or []), *ids})
        self.generation_config.suppress_tokens = suppressed
        self.generation_kwargs["suppress_tokens"] = suppressed

    def _text_tokenizer(self) -> PreTrainedTokenizerBase:
        """The text tokenizer: a multimodal processor's, or the processing class when it is one."""
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            raise TypeError(f"processing_class has no text tokenizer: {type(self.processing_class).__name__}")
        return tokenizer

    def _mode(self) -> str:
        """The metrics' key: "train" while the policy trains, "eval" in evaluation."""
        assert self.model is not None  # Trainer.__init__ sets it
        return "train" if self.model.training else "eval"

    def _reduce(self, x: torch.Tensor, reduction: str) -> torch.Tensor:
        """`x` reduced over processes (accelerate types its result as any nested structure: a tensor in,
        a tensor out)."""
        reduced = self.accelerator.reduce(x, reduction=reduction)
        assert isinstance(reduced, torch.Tensor)
        return reduced

    # ---- advantages ----
    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> torch.Tensor:
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._scored = rewards_per_func  # (global B, reward functions), gathered over processes
        return rewards_per_func

    def _sum_over_processes(self, x: torch.Tensor) -> torch.Tensor:
        return self._reduce(x, "sum") if self.accelerator.num_processes > 1 else x

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        mode = self._mode()
        mask = _loss_mask(out)
        batch = mask.size(0)
        local = slice(self.accelerator.process_index * batch, (self.accelerator.process_index + 1) * batch)
        assert self._scored is not None
        weights = self.reward_weights.to(self._scored.device)
        scores = torch.nan_to_num((self._scored * weights).nansum(dim=1), nan=0.0)  # (global B,)
        if self.algorithm.baseline == "group":
            # The gathered scores hold whole groups (TRL repeats each prompt num_generations times in a row).
            group = self.num_generations if mode == "train" else self.num_generations_eval
            assert group is not None  # TRL sets both (num_generations_eval defaults to num_generations)
            scores = group_baseline(scores, group)
        scores = scores[local].to(mask.device)  # (B,)
        old = out.get("old_per_token_logps")
        ref = out.get("ref_per_token_logps")
        if old is None and ref is not None:
            # On-policy: π_old is the model as it is now. The KL term needs its log-probs.
            old = self._policy_logps(self.model, out, mask).detach()
            out["old_per_token_logps"] = old
        adv = reinforce_advantages(scores, mask, self.algorithm, old, ref, reduce=self._sum_over_processes)
        out["advantages"] = adv.advantages  # (B, T): TRL's loss takes per-token advantages as they are
        if self.args.sft_coef > 0:
            out["reference_ids"], out["reference_mask"] = self._reference_completions(inputs, mask.device)
        self._metrics[mode]["advantages/filtered_fraction"].append(adv.filtered_fraction)
        if ref is not None and old is not None:
            kl = ((old - ref) * mask).sum() / mask.sum().clamp(min=1.0)
            self._metrics[mode]["kl_k1"].append(self._sum_over_processes(kl).item() / self.accelerator.num_processes)
        return out

    def _reference_completions(self, inputs: list[dict[str, Any]], device: torch.device) -> tuple[Any, Any]:
        """(B, T) ids and mask of each row's `reference` completion + <|im_end|>, right-padded as TRL pads
        completions; a row without one has an empty mask."""
        tokenizer = self._text_tokenizer()
        eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
        if not isinstance(eos, int) or not isinstance(pad, int):
            raise ValueError(f"the tokenizer needs one eos and one pad token id, has {eos!r} and {pad!r}")
        rows = [
            [*tokenizer(text, add_special_tokens=False)["input_ids"], eos] if text else []
            for text in (row.get("reference") or "" for row in inputs)
        ]
        width = max(1, *map(len, rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        real = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            real[i, : len(row)] = 1
        return ids.to(device), real.to(device)

    def _reference_nll(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean NLL per token of the reference completions under the policy."""
        ids, real = inputs["reference_ids"], inputs["reference_mask"]
        prompt = inputs["prompt_ids"].size(1)
        multimodal = self._multimodal(inputs)
        for key in ("mm_token_type_ids", "token_type_ids"):
            if key in multimodal:  # TRL stored them over prompt + sampled completion: re-extend over ours
                types = multimodal[key][:, :prompt]
                multimodal[key] = torch.cat([types, types.new_zeros(ids.shape)], dim=1)
        logps, _, _ = self._get_per_token_logps_and_entropies(
            model,
            torch.cat([inputs["prompt_ids"], ids], dim=1),
            torch.cat([inputs["prompt_mask"], real], dim=1),
            ids.size(1),
            **multimodal,
        )
        return -(logps * real).sum() / real.sum().clamp(min=1)

    def _policy_logps(self, model: Any, inputs: dict[str, Any], mask: torch.Tensor) -> torch.Tensor:
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                inputs["completion_ids"].size(1),
                batch_size=self.args.per_device_train_batch_size,
                **self._multimodal(inputs),
            )
        return logps

    @staticmethod
    def _multimodal(inputs: dict[str, Any]) -> dict[str, Any]:
        keys = ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids", "token_type_ids")
        return {k: inputs[k] for k in keys if inputs.get(k) is not None}

    # ---- loss ----
    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        completion_ids = inputs["completion_ids"]
        mask = (
            inputs["completion_mask"] if "tool_mask" not in inputs else inputs["completion_mask"] * inputs["tool_mask"]
        )
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        logps, _, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), **self._multimodal(inputs)
        )
        old = inputs.get("old_per_token_logps")
        old = logps.detach() if old is None else old
        result = policy_loss(logps, old, inputs["advantages"], mask, self.algorithm)

        mode = self._mode()
        real = mask.bool()
        log_ratio = (logps - old).detach()
        low, high = self.algorithm.log_ratio_bounds
        stats = torch.stack(
            [
                result.clipped.sum().float(),
                real.sum().float(),
                (~torch.isfinite(result.per_token.detach()) & real).sum().float(),
                # Tokens Pre-CLIP would clamp, whether or not it is on: where the two variants part.
                (((log_ratio < low) | (log_ratio > high)) & real).sum().float(),
            ]
        )
        stats = self._sum_over_processes(stats)
        top = torch.where(real, log_ratio, torch.full_like(log_ratio, -math.inf)).max()
        bottom = torch.where(real, log_ratio, torch.full_like(log_ratio, math.inf)).min()
        if self.accelerator.num_processes > 1:
            top = self._reduce(top, "max")
            bottom = -self._reduce(-bottom, "max")
        m = self._metrics[mode]
        m["policy_loss"].append(self._sum_over_processes(result.loss.detach()).item() / self.accelerator.num_processes)
        m["clip_fraction"].append((stats[0] / stats[1].clamp(min=1.0)).item())
        m["pre_clip_fraction"].append((stats[3] / stats[1].clamp(min=1.0)).item())
        m["nan_tokens"].append(stats[2].item())
        m["log_ratio/max"].append(top.item())
        m["log_ratio/min"].append(bottom.item())
        m["ratio/max"].append(math.exp(min(top.item(), 700.0)))

        loss = result.loss
        if self.args.sft_coef > 0 and "reference_ids" in inputs:
            nll = self._reference_nll(model, inputs)
            m["sft_nll"].append(self._sum_over_processes(nll.detach()).item() / self.accelerator.num_processes)
            loss = loss + self.args.sft_coef * nll
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        return loss

    # ---- logging ----
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)
        if self.accelerator.is_main_process:
            self._metrics_path.parent.mkdir(parents=True, exist_ok=True)
            if not self._metrics_started:
                self._metrics_started = True
                _drop_rows_from(self._metrics_path, self.state.global_step)
            with self._metrics_path.open("a") as f:
                f.write(json.dumps({"step": self.state.global_step, **_finite(logs)}) + "\n")


def _drop_rows_from(path: Path, step: int) -> None:
    """A run resumed from a checkpoint logs again the steps the interrupted run logged after saving it;
    their old rows go, so each step has one row (a fresh run starts at step 1 and keeps none)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) < step]
    path.write_text("".join(f"{line}\n" for line in kept))


def _tolerate_imageless_chunks(model: torch.nn.Module) -> None:
    """TRL 1.13 computes log-probs in chunks and hands a chunk of text-only items the empty slice of the
    batch's pixels, which Qwen2.5-VL's vision tower cannot take: a judge's batches mix text and image
    items, so an empty slice is dropped before the forward."""

    def drop_empty_pixels(_: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pixels = kwargs.get("pixel_values")
        if pixels is not None and pixels.numel() == 0:
            kwargs = {**kwargs, "pixel_values": None, "image_grid_thw": None}
        return args, kwargs

    model.register_forward_pre_hook(drop_empty_pixels, with_kwargs=True)


def _loss_mask(batch: dict[str, Any]) -> torch.Tensor:
    """(B, T) the completion tokens the policy wrote (tool outputs excluded)."""
    mask = batch["completion_mask"]
    return mask if "tool_mask" not in batch else mask * batch["tool_mask"]


def _finite(logs: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN: write them as strings, so a diverging run's numbers still land in the file."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in logs.items()}
