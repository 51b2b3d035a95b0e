"""Export the language part of Qwen2.5-VL: `embed_tokens.onnx` and `decoder_model_merged.onnx`.

The decoder takes inputs_embeds (so image features can be written over the image-pad rows first),
an attention mask over past + new tokens, 3-axis M-RoPE position ids and the flat KV cache, and returns
last-position logits plus the flat present cache. One graph serves prefill (past length 0) and decode.
Attention is exported in grouped-query form (export/attention.py), so decode steps read the KV cache
without copying it once per query head; `new_key_values.*` outputs (export/new_kv.py) carry just the new
tokens' columns, for runtimes that keep the cache themselves.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import DynamicCache, Qwen2_5_VLForConditionalGeneration

from .attention import grouped_attention
from .graph import kv_names, save_onnx
from .new_kv import add_new_kv_outputs


class EmbedTokens(nn.Module):
    def __init__(self, model: Qwen2_5_VLForConditionalGeneration) -> None:
        super().__init__()
        self.embed = model.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed(input_ids)  # (B, S) -> (B, S, H)


class MergedDecoder(nn.Module):
    """Flat past tensors in, last-position logits and flat present tensors out."""

    def __init__(self, model: Qwen2_5_VLForConditionalGeneration) -> None:
        super().__init__()
        self.language_model = model.model.language_model
        self.lm_head = model.lm_head
        self.config = model.config.text_config

    def forward(
        self,
        inputs_embeds: torch.Tensor,  # (B, S, H)
        attention_mask: torch.Tensor,  # (B, P + S) int64, 1 = attend
        position_ids: torch.Tensor,  # (3, B, S) int64
        past: list[torch.Tensor],  # 2·L tensors (B, KV, P, D)
    ) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache(config=self.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        logits = self.lm_head(out.last_hidden_state[:, -1:, :])  # (B, 1, V)
        presents: list[torch.Tensor] = []
        for layer in out.past_key_values.layers:
            presents += [layer.keys, layer.values]
        return (logits, *presents)


def _example_decoder_inputs(
    model: Qwen2_5_VLForConditionalGeneration, batch: int, seq: int, past_len: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    text = model.config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    embeds = torch.randn(batch, seq, text.hidden_size)
    mask = torch.ones(batch, past_len + seq, dtype=torch.long)
    positions = (torch.arange(seq) + past_len).view(1, 1, seq).expand(3, batch, seq).contiguous()
    past = [torch.randn(batch, text.num_key_value_heads, past_len, head_dim) for _ in range(2 * text.num_hidden_layers)]
    return embeds, mask, positions, past


def export_decoder(model: Qwen2_5_VLForConditionalGeneration, path: Path, opset: int = 18) -> Path:
    n_layers = model.config.text_config.num_hidden_layers
    wrapper = MergedDecoder(model).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("sequence", min=1, max=65536)
    past_len = torch.export.Dim("past_sequence", min=0, max=65536)
    total = torch.export.Dim("total_sequence", min=1, max=131072)
    kv = {0: batch, 2: past_len}
    dynamic_shapes = (
        {0: batch, 1: seq},
        {0: batch, 1: total},
        {1: batch, 2: seq},
        [kv] * (2 * n_layers),
    )
    with torch.no_grad(), grouped_attention(wrapper.language_model.config):
        program = torch.onnx.export(
            wrapper,
            _example_decoder_inputs(model, batch=2, seq=3, past_len=4),
            dynamo=True,
            opset_version=opset,
            input_names=["inputs_embeds", "attention_mask", "position_ids", *kv_names("past_key_values", n_layers)],
            output_names=["logits", *kv_names("present", n_layers)],
            dynamic_shapes=dynamic_shapes,
            optimize=True,
            verbose=False,
        )
    return save_onnx(add_new_kv_outputs(program.model_proto), path)


def export_embed_tokens(model: Qwen2_5_VLForConditionalGeneration, path: Path, opset: int = 18) -> Path:
    wrapper = EmbedTokens(model).eval()
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (torch.zeros(2, 5, dtype=torch.long),),
            dynamo=True,
            opset_version=opset,
            input_names=["input_ids"],
            output_names=["inputs_embeds"],
            dynamic_shapes=({0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")},),
            optimize=True,
            verbose=False,
        )
    return save_onnx(program.model_proto, path)
