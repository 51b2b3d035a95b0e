"""The same checkpoint's model in PyTorch eager on the GPU: prefill tok/s and batch-1 decode tok/s, the
reference for the ONNX rows of bench/gpu/bench.ts. Rebuilds the random model exactly as
`r1judge-train random` does (same shape, same seed) and times a forward over the judging prompt's
length and greedy one-token steps with the KV cache (transformers' DynamicCache).

    python bench/gpu/torch_reference.py --tokenizer DIR --shape qwen2.5-0.5b --prompt-tokens 311
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from r1judge_train.random_model import build_random_model


def measure(model: torch.nn.Module, ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
    """Seconds for the prompt's forward, and for new_tokens - 1 greedy one-token steps with the cache."""
    device = ids.device
    with torch.inference_mode():
        model(input_ids=ids, use_cache=True)  # warm-up
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        torch.cuda.synchronize(device)
        prefill = time.perf_counter() - start
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            step = model(input_ids=token, past_key_values=past, use_cache=True)
            past, token = step.past_key_values, step.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize(device)
        return prefill, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", type=Path, required=True, help="directory with the Qwen tokenizer.json")
    parser.add_argument("--shape", default="qwen2.5-0.5b")
    parser.add_argument("--prompt-tokens", type=int, default=311)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device("cuda")
    for dtype in (torch.float32, torch.bfloat16):
        model = build_random_model(args.shape, args.tokenizer, args.seed).to(device=device, dtype=dtype).eval()
        ids = torch.randint(0, 1000, (1, args.prompt_tokens), device=device)
        prefill_s, decode_s = measure(model, ids, args.new_tokens)
        print(
            json.dumps(
                {
                    "device": torch.cuda.get_device_name(device),
                    "engine": "pytorch eager",
                    "dtype": str(dtype).removeprefix("torch."),
                    "prefillTokPerSec": args.prompt_tokens / prefill_s,
                    "decodeTokPerSecBatch1": (args.new_tokens - 1) / decode_s,
                }
            ),
            flush=True,
        )
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
