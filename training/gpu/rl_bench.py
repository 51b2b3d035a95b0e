"""A short bf16 StableReinforce run of a Qwen2.5-0.5B-shaped Qwen2.5-VL (random weights, the demo's
small vision tower) on one GPU, for step time and tokens/s. Prepared for the H200 the device tool
lends (training/README.md, "GPU"); on a CPU it runs the same code with the demo shape, as the tests do.

    python3 training/gpu/rl_bench.py --tokenizer DIR_WITH_tokenizer.json --steps 6 --out result.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from r1judge_train.data.records import read_dataset, write_dataset
from r1judge_train.data.rl import rl_dataset
from r1judge_train.models.config import DEMO_TEXT, QWEN25_05B_TEXT, build_config
from r1judge_train.models.inputs import image_processor
from r1judge_train.rewards.referee import RuleReferee
from r1judge_train.rewards.stable_reinforce import StableReinforceReward
from r1judge_train.tokenizer.qwen import load_tokenizer, tokenizer_config
from r1judge_train.trainers.processor import judge_processor
from r1judge_train.trainers.stable_reinforce import StableReinforceConfig, StableReinforceTrainer


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser()
    p.add_argument("--tokenizer", type=Path, required=True, help="a directory with a Qwen tokenizer.json")
    p.add_argument("--shape", choices=["qwen2.5-0.5b", "demo"], default="qwen2.5-0.5b")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=32, help="sequences per step (prompts × 2)")
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--items", type=int, default=256)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    work = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    tok_dir = work / "tok"
    tok_dir.mkdir()
    shutil.copy(args.tokenizer / "tokenizer.json", tok_dir / "tokenizer.json")
    (tok_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(32768)))
    tok = load_tokenizer(tok_dir)
    write_dataset(work / "data", {"train": args.items, "val": 2, "test": 2}, seed=0)
    items = read_dataset(work / "data" / "train.jsonl")
    torch.manual_seed(0)
    text = QWEN25_05B_TEXT if args.shape == "qwen2.5-0.5b" else DEMO_TEXT
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids, text))
    model.save_pretrained(work / "policy")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(work / "policy")
    config = StableReinforceConfig(
        output_dir=str(work / "out"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        num_generations=2,
        steps_per_generation=2,
        max_completion_length=args.new_tokens,
        learning_rate=1e-6,
        beta=1e-3,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        bf16=cuda,
        use_cpu=not cuda,
        seed=0,
    )
    trainer = StableReinforceTrainer(
        model=model,
        reward_funcs=[StableReinforceReward(RuleReferee())],
        args=config,
        train_dataset=rl_dataset(items, work / "data"),
        processing_class=judge_processor(tok, image_processor()),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    logs = [row for row in trainer.state.log_history if "step_time" in row]
    tokens = [row["num_tokens"] for row in trainer.state.log_history if "num_tokens" in row]
    step_times = [row["step_time"] for row in logs]
    # Steady state: the first step of a run pays for compilation and allocator warm-up.
    steady = step_times[1:] or step_times
    result = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "shape": args.shape,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "bf16" if cuda else "fp32",
        "sequences_per_step": args.batch,
        "max_new_tokens": args.new_tokens,
        "steps": len(step_times),
        "seconds": round(seconds, 2),
        "step_time_s": {"first": round(step_times[0], 3), "steady_mean": round(sum(steady) / len(steady), 3)},
        "tokens_per_s": round(tokens[-1] / seconds, 1) if tokens else None,
        "mean_completion_tokens": [row.get("completions/mean_length") for row in logs],
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
