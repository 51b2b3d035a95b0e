"""GGUF files (f32, q8_0, q4_0) of a random-weight r1-judge checkpoint, for llama.cpp's `qwen2` architecture.

The checkpoint's ONNX graphs are not converted: its provenance (shape, seed) rebuilds the very weights
they were exported from (random_model.build_random_model), so llama.cpp runs the same model as ours.
Only the language model is written: a text-only Qwen2.5-VL prompt has equal t/h/w position ids, and
M-RoPE with equal ids is plain (NeoX-style) RoPE, which is what llama.cpp's qwen2 does.

Quantization mirrors ours (export/quantize.py): every matmul weight of the decoder, the tied lm_head
included, block 32, symmetric; token embedding, norms and biases stay f32. So `output.weight` is written
explicitly (a copy of the embedding) in every file, as our decoder graph carries its own lm_head.

    python to_gguf.py CHECKPOINT_DIR OUT_DIR [f32 q8_0 q4_0]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf
import numpy as np
import torch

from r1judge_train.random_model import rebuild_random_model

FORMATS = {
    "f32": (None, gguf.LlamaFileType.ALL_F32),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    "q4_0": (gguf.GGMLQuantizationType.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0),
}
# HF module name (under the language model's layers.N) → llama.cpp's qwen2 tensor name.
LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
MATMULS = {
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
    "output",
}


def gguf_path(out_dir: Path, fmt: str) -> Path:
    return out_dir / f"model-{fmt}.gguf"


def rebuild(checkpoint: Path) -> tuple[torch.nn.Module, dict]:
    manifest = json.loads((checkpoint / "r1judge.json").read_text())
    try:
        model = rebuild_random_model(checkpoint)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    check_same_weights(checkpoint, model)
    return model, manifest


def check_same_weights(checkpoint: Path, model: torch.nn.Module) -> None:
    """The embedding's external data holds just the table: its first rows must be the rebuilt ones."""
    emb = model.get_input_embeddings().weight.detach().numpy()
    data = checkpoint / "onnx" / "embed_tokens.onnx.data"
    if not data.is_file() or data.stat().st_size != emb.nbytes:
        print(f"warning: {data}: cannot compare the rebuilt embedding", file=sys.stderr)
        return
    rows = np.fromfile(data, dtype="<f4", count=64 * emb.shape[1]).reshape(64, -1)
    if not np.array_equal(rows, emb[:64]):
        raise SystemExit(f"{checkpoint}: rebuilt weights differ from the exported ones (seed/shape/torch?)")


def tensors(model: torch.nn.Module, n_layers: int) -> dict[str, np.ndarray]:
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    lm = next(k.removesuffix("embed_tokens.weight") for k in sd if k.endswith("embed_tokens.weight"))
    out = {
        "token_embd.weight": sd[f"{lm}embed_tokens.weight"],
        "output_norm.weight": sd[f"{lm}norm.weight"],
    }
    out["output.weight"] = sd.get("lm_head.weight", out["token_embd.weight"])
    for i in range(n_layers):
        for hf, name in LAYER_TENSORS.items():
            for kind in ("weight", "bias"):
                key = f"{lm}layers.{i}.{hf}.{kind}"
                if key in sd:
                    out[f"blk.{i}.{name}.{kind}"] = sd[key]
    return out


def vocab(checkpoint: Path, n_rows: int) -> tuple[list[str], list[int], list[str]]:
    """tokens/types/merges as convert_hf_to_gguf's gpt2 vocab: ids past the tokenizer are [PADn] rows."""
    tok = json.loads((checkpoint / "tokenizer.json").read_text())
    by_id = {i: (t, gguf.TokenType.NORMAL) for t, i in tok["model"]["vocab"].items()}
    for added in tok["added_tokens"]:
        text = added["content"]
        special = added["special"] or (text.startswith("<|") and text.endswith("|>"))
        by_id[added["id"]] = (
            text,
            gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED,
        )
    tokens, types = [], []
    for i in range(n_rows):
        text, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(kind))
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    return tokens, types, merges


def write(
    path: Path,
    fmt: str,
    weights: dict[str, np.ndarray],
    manifest: dict,
    text: dict,
    checkpoint: Path,
) -> None:
    qtype, file_type = FORMATS[fmt]
    tmp = path.with_suffix(".partial")
    w = gguf.GGUFWriter(tmp, "qwen2")
    w.add_name(f"{manifest.get('model_id', checkpoint.name)} ({fmt})")
    w.add_context_length(text["max_position_embeddings"])
    w.add_embedding_length(text["hidden_size"])
    w.add_block_count(text["num_hidden_layers"])
    w.add_feed_forward_length(text["intermediate_size"])
    w.add_head_count(text["num_attention_heads"])
    w.add_head_count_kv(text["num_key_value_heads"])
    rope = text.get("rope_parameters") or {"rope_theta": text.get("rope_theta", 10000.0)}
    w.add_rope_freq_base(float(rope["rope_theta"]))
    w.add_layer_norm_rms_eps(float(text["rms_norm_eps"]))
    w.add_file_type(file_type)
    tokens, types, merges = vocab(checkpoint, weights["token_embd.weight"].shape[0])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    ids = manifest["tokens"]
    w.add_bos_token_id(int(text.get("bos_token_id", ids["pad_token_id"])))
    w.add_eos_token_id(int(ids["eos_token_ids"][0]))
    w.add_pad_token_id(int(ids["pad_token_id"]))
    w.add_add_bos_token(False)
    for name, array in weights.items():
        if qtype is not None and name.endswith(".weight") and name.split(".")[-2] in MATMULS:
            w.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(path)  # a file under its final name is complete


def convert(checkpoint: Path, out_dir: Path, formats: list[str]) -> dict[str, Path]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SystemExit(f"unknown format(s) {unknown}; known: {sorted(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {f: gguf_path(out_dir, f) for f in formats}
    todo = [f for f, p in paths.items() if not p.is_file()]
    if todo:
        model, manifest = rebuild(checkpoint)
        text = json.loads((checkpoint / "config.json").read_text())["text_config"]
        weights = tensors(model, text["num_hidden_layers"])
        del model
        for fmt in todo:
            print(f"writing {paths[fmt]}", file=sys.stderr)
            write(paths[fmt], fmt, weights, manifest, text, checkpoint)
    return paths


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    paths = convert(Path(argv[0]), Path(argv[1]), argv[2:] or list(FORMATS))
    print(json.dumps({f: str(p) for f, p in paths.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
