"""Does the f32 GGUF compute what PyTorch computes? Greedy tokens of both on the same prompt ids.

Random weights give near-flat logits, so a late token can flip on rounding alone; a disagreement at
the first token means the conversion is wrong (RoPE base, biases, norm eps, tied output...).

    python greedy_check.py CHECKPOINT_DIR PROMPT_JSON ROUND_JSON [N]

ROUND_JSON: the llama.cpp runner's PeerRound (its greedyTokens). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import GenerationConfig

from r1judge_train.random_model import rebuild_random_model


def main(argv: list[str]) -> None:
    checkpoint, prompt_file, round_file = (Path(a) for a in argv[:3])
    n = int(argv[3]) if len(argv) > 3 else 8
    model = rebuild_random_model(checkpoint)
    ids = torch.tensor([json.loads(prompt_file.read_text())["inputIds"]])
    theirs = json.loads(round_file.read_text().strip().splitlines()[-1])["greedyTokens"][:n]
    # No EOS: both engines run exactly n tokens, whatever they pick.
    config = GenerationConfig(do_sample=False, max_new_tokens=n, eos_token_id=None, pad_token_id=0)
    with torch.inference_mode():
        out = model.generate(
            ids,
            generation_config=config,
            output_logits=True,
            return_dict_in_generate=True,
        )
    ours = out.sequences[0, ids.shape[1] :].tolist()
    margins = []
    for logits in out.logits:
        top = torch.topk(logits[0].float(), 2).values
        margins.append(float(top[0] - top[1]))
    agree = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
        min(len(ours), len(theirs)),
    )
    report = {
        "pytorch": ours,
        "llamacpp": theirs,
        "agreeingPrefix": agree,
        "agreeingPositions": sum(a == b for a, b in zip(ours, theirs, strict=False)),
        "pytorchMargins": [round(m, 5) for m in margins],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
