"""Grouped-query attention for the exported decoder, without materialising repeated KV heads.

transformers' eager and sdpa paths call `repeat_kv`, which the ONNX exporter turns into an Expand and a
Reshape per layer: every decode step copies the whole KV cache `heads / kv_heads` times (7× for
Qwen2.5-0.5B, 7× for the 7B), then transposes the copy. On CPU that was ~40 % of a batch-8 decode step
of the 0.5B model. Here each KV head's query heads are folded into the query length instead
((B, H, S, D) → (B, KV, H/KV · S, D)), so the two attention matmuls read the cache as it is. Same math
as eager attention (fp32 |Δ| ~1e-6), so parity with PyTorch is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from transformers import AttentionInterface, PretrainedConfig
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

ATTENTION_NAME = "r1judge_grouped"


def grouped_query_attention(
    module: nn.Module,
    query: torch.Tensor,  # (B, H, S, D)
    key: torch.Tensor,  # (B, KV, P, D)
    value: torch.Tensor,  # (B, KV, P, D)
    attention_mask: torch.Tensor | None,  # (B, 1, S, P) additive float, from eager_mask
    scaling: float,
    dropout: float = 0.0,
    **_: object,
) -> tuple[torch.Tensor, None]:
    batch, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    # Query head h reads KV head h // groups (repeat_kv's order), so heads of one group are adjacent.
    q = query.reshape(batch, kv_heads, groups * length, dim)
    scores = torch.matmul(q, key.transpose(2, 3)) * scaling  # (B, KV, G·S, P)
    if attention_mask is not None:
        past = scores.shape[-1]
        scores = scores.view(batch, kv_heads, groups, length, past) + attention_mask[:, :, None, :, :past]
        scores = scores.view(batch, kv_heads, groups * length, past)
    probs = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(probs, value).view(batch, heads, length, dim)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION_NAME, grouped_query_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, eager_mask)


@contextmanager
def grouped_attention(config: PretrainedConfig) -> Iterator[None]:
    """Runs the text model with grouped-query attention inside the block (for export), then restores it."""
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous
