"""Exportable Qwen2.5-VL vision encoder: one ONNX graph for any number of images of any sizes.

HF's `Qwen2_5_VisionTransformerPretrainedModel.forward` derives rotary positions, the window permutation
and the attention segments from `grid_thw.tolist()` in Python, so no exporter can keep the grid dynamic
(dynamo hits data-dependent guards; the legacy tracer silently freezes the example grid).
`ExportableVisionEncoder` reuses the HF weights and submodules and recomputes that grid-dependent layout
with tensor ops from `image_grid_thw`:

- window layers run window-batched: every patch is scattered into a slot of a padded window tensor
  [num_windows, window_tokens, ...] and attention is one batched matmul with a key-padding mask;
- full-attention layers run one masked attention over all patches, allowed only within the same image
  frame (HF's `cu_seqlens` has one segment per frame, so the t frames of a video grid do not see each
  other);
- hidden states stay in HF's final (un-permuted) patch order throughout, so no reverse permutation is
  needed: attention is permutation-equivariant and the merger groups the same 2x2 patch units.
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from r1judge_train.export.graph import save_onnx

# Masked scores get a large negative finite value rather than -inf: it survives fp16 conversion
# (float16 max is 65504) and every row always keeps at least one unmasked key, so softmax stays finite.
_MASKED_SCORE = -65504.0


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class ExportableVisionEncoder(nn.Module):
    """Qwen2.5-VL vision tower whose forward is traceable for dynamic image counts and sizes.

    forward(pixel_values [N, C*T*P*P] float, image_grid_thw [n_images, 3] int64) -> [N / merge², out_hidden],
    rows in the same order as HF's `visual(...).pooler_output`.
    """

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        config = visual.config
        self.patch_embed = visual.patch_embed
        self.blocks = visual.blocks
        self.merger = visual.merger
        self.register_buffer("inv_freq", visual.rotary_pos_emb.inv_freq.detach().float().clone(), persistent=False)
        self.merge = int(config.spatial_merge_size)
        self.merge_unit = self.merge * self.merge
        # Window side in merged units (HF: window_size // spatial_merge_size // patch_size).
        self.window = int(config.window_size) // self.merge // int(config.patch_size)
        self.window_tokens = self.window * self.window * self.merge_unit
        self.full_layers = frozenset(int(i) for i in config.fullatt_block_indexes)
        self.num_heads = int(config.num_heads)
        self.head_dim = int(config.hidden_size) // self.num_heads
        self.scale = self.head_dim**-0.5

    def _layout(
        self, grid: torch.Tensor, num_patches: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Per-patch rotary tables, frame ids and the patch <-> padded-window-slot maps."""
        m, win, unit = self.merge, self.window, self.merge_unit
        t, h, w = grid[:, 0], grid[:, 1], grid[:, 2]  # [n]
        frame_len = h * w  # [n]
        image_len = t * frame_len  # [n]
        image_end = image_len.cumsum(0)  # [n]
        lw = w // m  # merged units per row, [n]
        nwin_h = (h // m + win - 1) // win  # [n]
        nwin_w = (lw + win - 1) // win  # [n]
        image_windows = t * nwin_h * nwin_w  # [n]
        window_start = image_windows.cumsum(0) - image_windows  # [n]
        frame_start = t.cumsum(0) - t  # [n]

        patch = torch.arange(num_patches, device=grid.device)  # [N]
        # Image of each patch by counting finished images: avoids repeat_interleave's data-dependent size.
        image = (patch[:, None] >= image_end[None, :]).sum(1)  # [N]
        local = patch - (image_end - image_len)[image]  # [N]
        flen = frame_len[image]  # [N]
        frame = local // flen  # [N]
        within = local % flen  # [N]
        merged, sub = within // unit, within % unit  # [N], [N]
        row_units = lw[image]  # [N]
        r, c = merged // row_units, merged % row_units  # [N], [N]

        hpos = (r * m + sub // m).float()  # [N]
        wpos = (c * m + sub % m).float()  # [N]
        freqs = torch.cat((hpos[:, None] * self.inv_freq, wpos[:, None] * self.inv_freq), dim=-1)  # [N, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [N, hd]
        cos, sin = emb.cos(), emb.sin()  # [N, hd]

        frame_id = frame_start[image] + frame  # [N]

        # HF orders windows per image, per frame, row-major over the window grid; the order inside a
        # window does not matter for attention, so only window membership has to match.
        window_id = window_start[image] + (frame * nwin_h[image] + r // win) * nwin_w[image] + c // win  # [N]
        slot = (window_id * (win * win) + (r % win) * win + c % win) * unit + sub  # [N]
        num_windows = image_windows.sum().item()
        torch._check(num_windows >= 1)
        torch._check(num_windows <= num_patches)
        slot_patch = torch.full((num_windows * self.window_tokens,), -1, dtype=torch.long, device=grid.device)
        slot_patch = slot_patch.scatter(0, slot, patch)  # [S]
        slot_valid = slot_patch >= 0  # [S]
        # Empty slots read patch 0: finite values that the key mask hides and that are never read back.
        slot_patch = slot_patch.clamp(min=0)  # [S]
        return cos, sin, frame_id, slot, slot_patch, slot_valid, num_windows

    def _rotary(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return x * cos + _rotate_half(x) * sin

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # [B, H, L, L]
        scores = torch.where(keep, scores, torch.full_like(scores, _MASKED_SCORE))  # [B, H, L, L]
        return torch.matmul(scores.softmax(dim=-1), v)  # [B, H, L, hd]

    def forward(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        hidden = self.patch_embed(pixel_values)  # [N, D]
        num_patches = hidden.shape[0]
        heads, hd, L = self.num_heads, self.head_dim, self.window_tokens
        cos, sin, frame_id, slot, slot_patch, slot_valid, num_windows = self._layout(image_grid_thw.long(), num_patches)
        cos_h, sin_h = cos[:, None, :], sin[:, None, :]  # [N, 1, hd]
        win_cos = cos[slot_patch].view(num_windows, 1, L, hd)  # [W, 1, L, hd]
        win_sin = sin[slot_patch].view(num_windows, 1, L, hd)  # [W, 1, L, hd]
        win_keep = slot_valid.view(num_windows, 1, 1, L)  # [W, 1, 1, L]
        frame_keep = (frame_id[:, None] == frame_id[None, :])[None, None]  # [1, 1, N, N]

        for index, block in enumerate(self.blocks):
            attn = block.attn
            qkv = attn.qkv(block.norm1(hidden))  # [N, 3D]
            if index in self.full_layers:
                q, k, v = qkv.view(num_patches, 3, heads, hd).unbind(1)  # 3 x [N, H, hd]
                q, k = self._rotary(q, cos_h, sin_h), self._rotary(k, cos_h, sin_h)  # [N, H, hd]
                q, k, v = (x.transpose(0, 1)[None] for x in (q, k, v))  # [1, H, N, hd]
                out = self._attend(q, k, v, frame_keep)  # [1, H, N, hd]
                out = out[0].transpose(0, 1).reshape(num_patches, heads * hd)  # [N, D]
            else:
                qkv = qkv[slot_patch].view(num_windows, L, 3, heads, hd)  # [W, L, 3, H, hd]
                q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [W, H, L, hd]
                q, k = self._rotary(q, win_cos, win_sin), self._rotary(k, win_cos, win_sin)  # [W, H, L, hd]
                out = self._attend(q, k, v, win_keep)  # [W, H, L, hd]
                out = out.transpose(1, 2).reshape(num_windows * L, heads * hd)[slot]  # [N, D]
            hidden = hidden + attn.proj(out)  # [N, D]
            hidden = hidden + block.mlp(block.norm2(hidden))  # [N, D]

        return self.merger(hidden)  # [N / merge², out_hidden]


def _vision_tower(model: nn.Module) -> nn.Module:
    """The vision tower of a Qwen2_5_VLForConditionalGeneration / Qwen2_5_VLModel, or the tower itself."""
    for path in (("model", "visual"), ("visual",)):
        obj = model
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    return model


def _example_inputs(visual: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    config = visual.config
    # Two images of different sizes, one with partial windows, so neither the image count nor a
    # per-image size can be specialised into the graph.
    grid = torch.tensor([[1, 4, 10], [1, 6, 4]], dtype=torch.long)
    patch_dim = config.in_channels * config.temporal_patch_size * config.patch_size**2
    num_patches = int((grid[:, 0] * grid[:, 1] * grid[:, 2]).sum())
    dtype = visual.patch_embed.proj.weight.dtype
    return torch.randn(num_patches, patch_dim, dtype=dtype), grid


def export_vision_encoder(
    model: nn.Module, path: pathlib.Path, opset: int = 18, external_data: bool | None = None
) -> pathlib.Path:
    """Export the vision tower of `model` to `path` (pixel_values, image_grid_thw -> image_features).

    Metadata is stripped; weights go to `<name>.onnx.data` when `external_data` (None: above 100 MB).
    """
    visual = _vision_tower(model)
    encoder = ExportableVisionEncoder(visual).eval()
    pixel_values, grid = _example_inputs(visual)
    dynamic = torch.export.Dim.DYNAMIC
    with torch.no_grad():
        program = torch.onnx.export(
            encoder,
            (pixel_values, grid),
            dynamo=True,
            input_names=["pixel_values", "image_grid_thw"],
            output_names=["image_features"],
            dynamic_shapes={"pixel_values": {0: dynamic}, "image_grid_thw": {0: dynamic}},
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    return save_onnx(program.model_proto, pathlib.Path(path), external_data)
