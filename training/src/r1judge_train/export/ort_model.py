"""Run an r1-judge checkpoint with onnxruntime (Python): the reference loop the server is checked against.

vision_encoder → embed_tokens → image features written over the image-pad rows → decoder prefill
(past length 0) → K samples decode together from the broadcast KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from ..checkpoint.validate import Checkpoint
from ..models.inputs import PromptInputs
from .graph import kv_names


def _session(path: str, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 96
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Generation:
    tokens: list[int]
    finish_reason: str  # "stop" (eos or </answer>) | "length"


class OnnxJudgeModel:
    def __init__(self, checkpoint: Checkpoint, variant: str = "fp32", threads: int | None = None) -> None:
        self.checkpoint = checkpoint
        self.float = np.float16 if variant == "fp16" else np.float32
        self.embed = _session(str(checkpoint.graph_path("embed_tokens", variant)), threads)
        self.decoder = _session(str(checkpoint.graph_path("decoder_model_merged", variant)), threads)
        self.vision = (
            _session(str(checkpoint.graph_path("vision_encoder", variant)), threads) if checkpoint.has_vision else None
        )
        d = checkpoint.manifest["decoder"]
        self.n_layers, self.kv_heads, self.head_dim = d["num_layers"], d["num_key_value_heads"], d["head_dim"]
        tokens = checkpoint.manifest["tokens"]
        self.eos_ids = set(tokens["eos_token_ids"])
        self.image_pad_id = tokens["image_pad_token_id"]

    def prompt_embeddings(self, prompt: PromptInputs) -> np.ndarray:
        ids = np.asarray([prompt.input_ids], dtype=np.int64)
        (embeds,) = self.embed.run(None, {"input_ids": ids})  # (1, S, H)
        if prompt.pixels is not None:
            if self.vision is None:
                raise ValueError("this checkpoint has no vision encoder")
            (features,) = self.vision.run(
                None,
                {
                    "pixel_values": prompt.pixels.pixel_values.astype(self.float),
                    "image_grid_thw": prompt.pixels.image_grid_thw,
                },
            )
            rows = ids[0] == self.image_pad_id
            if rows.sum() != len(features):
                raise ValueError(f"{rows.sum()} image pads but {len(features)} image features")
            embeds[0, rows] = features
        return embeds

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        shape = (batch, self.kv_heads, 0, self.head_dim)
        return {name: np.zeros(shape, dtype=self.float) for name in kv_names("past_key_values", self.n_layers)}

    def step(
        self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray, past: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        outputs = self.decoder.run(
            ["logits", *kv_names("present", self.n_layers)],
            {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": positions, **past},
        )
        present = dict(zip(kv_names("past_key_values", self.n_layers), outputs[1:], strict=True))
        return outputs[0][:, -1, :].astype(np.float32), present  # (B, V)

    def prefill(self, prompt: PromptInputs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        embeds = self.prompt_embeddings(prompt)
        seq = embeds.shape[1]
        mask = np.ones((1, seq), dtype=np.int64)
        positions = prompt.position_ids[:, None, :].astype(np.int64)  # (3, 1, S)
        return self.step(embeds, mask, positions, self.empty_past(1))

    def generate(
        self, prompt: PromptInputs, n_samples: int, params: SamplingParams, stop_ids: list[list[int]] = ()
    ) -> list[Generation]:
        """K samples from one prefill; sample i draws from its own generator seeded params.seed + i."""
        logits, past = self.prefill(prompt)
        past = {k: np.repeat(v, n_samples, axis=0) for k, v in past.items()}
        logits = np.repeat(logits, n_samples, axis=0)
        rngs = [np.random.default_rng(params.seed + i) for i in range(n_samples)]
        tokens: list[list[int]] = [[] for _ in range(n_samples)]
        done: list[str | None] = [None] * n_samples
        seq = len(prompt.input_ids)
        for step in range(params.max_new_tokens):
            for i in range(n_samples):
                if done[i] is None:
                    token = sample_token(logits[i], params, rngs[i])
                    tokens[i].append(token)
                    if token in self.eos_ids or any(tokens[i][-len(s) :] == s for s in stop_ids):
                        done[i] = "stop"
            if all(done) or step == params.max_new_tokens - 1:
                break
            # Finished rows keep decoding a filler token; their outputs are ignored (a reference, not the server).
            last = np.asarray([[t[-1]] for t in tokens], dtype=np.int64)
            (embeds,) = self.embed.run(None, {"input_ids": last})
            past_len = seq + step
            mask = np.ones((n_samples, past_len + 1), dtype=np.int64)
            positions = np.full((3, n_samples, 1), past_len + prompt.rope_delta, dtype=np.int64)
            logits, past = self.step(embeds, mask, positions, past)
        return [Generation(t, d or "length") for t, d in zip(tokens, done, strict=True)]


def sample_token(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Greedy at temperature 0; else temperature, then top-k, then top-p (nucleus), then one draw."""
    if params.temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / params.temperature
    order = np.argsort(-scaled, kind="stable")
    if params.top_k > 0:
        order = order[: params.top_k]
    probs = np.exp(scaled[order] - scaled[order[0]])
    probs /= probs.sum()
    if params.top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(probs), params.top_p) + 1)
        probs = probs[:keep] / probs[:keep].sum()
        order = order[:keep]
    return int(order[rng.choice(len(order), p=probs)])
