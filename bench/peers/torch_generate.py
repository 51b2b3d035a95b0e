"""The PyTorch peer of `npm run bench` (issue 22): PyTorch eager + Hugging Face `generate`, what R1-Reward's
own code runs, on the same weights as our checkpoint. One round of bench/peers/protocol.ts: load, warm-up,
a one-sample greedy judgement, a K-sample judgement at temperature 1; the PeerRound JSON is the last line
of stdout, progress goes to stderr.

    training/.venv/bin/python bench/peers/torch_generate.py --model CKPT --prompt FILE --precision fp32 \
        --new-tokens N --samples K --threads T --seed S

The weights are rebuilt from the checkpoint's provenance (`r1judge-train random`: shape and seed, through
`build_random_model`, exactly what the ONNX graphs were exported from); a trained checkpoint has no PyTorch
weights here, so only random checkpoints run. Only fp32: the int8/int4 variants are ONNX-only quantizations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import torch


def progress(message: str) -> None:
    print(f"torch_generate: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    progress(message)
    sys.exit(code)


@dataclass
class PeerRound:
    """bench/peers/protocol.ts's PeerRound (same field names)."""

    engine: str
    precision: str
    format: str
    threads: int
    promptTokens: int
    newTokens: int
    samples: int
    loadMs: float
    prefillMs: float
    decodeTokPerSec: float
    k1Ms: float
    kMs: float
    greedyTokens: list[int]
    greedyMargins: list[float]
    peakRssBytes: int
    note: str


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="PyTorch eager + HF generate peer runner (bench/peers/protocol.ts)")
    parser.add_argument("--model", type=Path, required=True, help="checkpoint directory (r1judge.json)")
    parser.add_argument("--prompt", type=Path, required=True, help='JSON file {"inputIds": [...]}')
    parser.add_argument("--precision", required=True, help="fp32 (the only one PyTorch eager runs here)")
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    if args.precision != "fp32":
        fail(
            f"precision {args.precision!r} is not supported: PyTorch eager runs the fp32 weights only "
            "(int8/int4 are quantizations of our ONNX graphs); ask for --precision fp32"
        )
    if args.new_tokens < 2 or args.samples < 1 or args.threads < 1:
        fail("--new-tokens must be at least 2, --samples and --threads at least 1")
    return args


def read_prompt(path: Path, vocab_size: int) -> list[int]:
    ids = json.loads(path.read_text())["inputIds"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and 0 <= i < vocab_size for i in ids):
        fail(f"{path}: inputIds must be a non-empty list of token ids in [0, {vocab_size})")
    return ids


def read_manifest(ckpt: Path) -> tuple[str, int, int]:
    """The random checkpoint's shape and seed (r1judge.json's provenance), and its vocabulary size."""
    from r1judge_train.random_model import random_provenance

    try:
        shape, seed = random_provenance(ckpt)
    except ValueError as err:
        fail(str(err))
    return shape, seed, int(json.loads((ckpt / "r1judge.json").read_text())["decoder"]["vocab_size"])


def peak_rss_bytes() -> int:
    """VmHWM of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def run(args: argparse.Namespace) -> PeerRound:
    import torch
    import transformers
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    # Threads first: interop threads can only be set before any parallel work starts.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    class StepClock(StoppingCriteria):
        """Called by generate once per step, right after the step's token is picked: its first call is the
        first token out (the prompt's forward and one pick). Never stops anything."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def __call__(
            self, input_ids: torch.LongTensor, scores: tuple[torch.FloatTensor] | None, **kwargs: Any
        ) -> torch.BoolTensor:
            self.times.append(time.perf_counter())
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    class MarginProbe(LogitsProcessor):
        """Per step, the top-1 minus top-2 logit and the argmax of the scores the greedy pick is made from
        (the last processor; with eos ignored and no sampling warpers, no other processor runs, so these
        are the raw logits). Costs a top-2 over the vocabulary per step (well under a millisecond), and
        keeps nothing large (output_scores/output_logits would hold N × vocab floats, inflating peak RSS)."""

        def __init__(self) -> None:
            self.margins: list[float] = []
            self.argmax: list[int] = []

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            top2 = torch.topk(scores[0], 2)
            self.margins.append(round(float(top2.values[0] - top2.values[1]), 4))
            self.argmax.append(int(top2.indices[0]))
            return scores

    from r1judge_train.random_model import build_random_model

    shape, weight_seed, vocab_size = read_manifest(args.model)
    prompt = read_prompt(args.prompt, vocab_size)
    progress(f"building {shape} (seed {weight_seed}) in PyTorch, fp32, {args.threads} threads")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    # Any: transformers 5's generate() is typed against a protocol pyright can't bind this model class to.
    model: Any = build_random_model(shape, args.model, weight_seed).eval()
    assert model.dtype == torch.float32, f"built in {model.dtype}"
    load_s = time.perf_counter() - t0
    pad_id = model.generation_config.pad_token_id
    n, k = args.new_tokens, args.samples
    progress(f"built in {load_s:.1f} s; {len(prompt)} prompt tokens, {n} new tokens, K={k}")

    input_ids = torch.tensor([prompt], dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    # eos neither ends a sample nor is masked (our R1JUDGE_IGNORE_EOS): every sample has exactly N tokens and
    # the greedy pick is the plain argmax. (With eos ids set, min_new_tokens would mask them instead.)
    common: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "max_new_tokens": n,
        "min_new_tokens": n,
        "eos_token_id": None,
        "pad_token_id": pad_id,
        "use_cache": True,
    }
    model.generation_config.eos_token_id = None  # else generate fills the None back in from here

    with torch.inference_mode():
        progress("warm-up")
        model.generate(**{**common, "max_new_tokens": 4, "min_new_tokens": 4}, do_sample=False)

        progress("greedy, one sample")
        clock, probe = StepClock(), MarginProbe()
        start = time.perf_counter()
        greedy = model.generate(
            **common,
            do_sample=False,
            logits_processor=LogitsProcessorList([probe]),
            stopping_criteria=StoppingCriteriaList([clock]),
        )
        k1_s = time.perf_counter() - start
        prefill_s = clock.times[0] - start
        assert tuple(greedy.shape) == (1, len(prompt) + n), f"greedy output {tuple(greedy.shape)}"
        assert len(clock.times) == n, f"{len(clock.times)} steps, expected {n}"
        tokens = greedy[0, len(prompt) :].tolist()
        assert probe.argmax == tokens, "the greedy tokens are not the probed scores' argmax"
        margins = probe.margins

        progress(f"sampled, K={k}")
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        sampled = model.generate(
            **common,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            num_return_sequences=k,
        )
        k_s = time.perf_counter() - start
        assert tuple(sampled.shape) == (k, len(prompt) + n), f"sampled output {tuple(sampled.shape)}"

    decode_s = k1_s - prefill_s
    cpu = os.times()
    note = (
        f"transformers {transformers.__version__}, torch {torch.__version__}; "
        f"Qwen2_5_VLForConditionalGeneration.generate, {model.config._attn_implementation} attention, "
        f"DynamicCache; weights rebuilt from provenance ({shape}, seed {weight_seed}); "
        "eos ignored (neither stops nor is masked); greedy margins probed in the timed run (a LogitsProcessor, "
        "top-2 per step); prefillMs from a StoppingCriteria's first call; the K-sample run prefills the prompt "
        "K times (generate expands it to K rows); "
        f"1-min load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
        f"process CPU {cpu.user + cpu.system:.1f} s over {time.perf_counter() - t0:.1f} s since load began"
    )
    return PeerRound(
        engine="pytorch",
        precision="fp32",
        format="fp32 eager",
        threads=args.threads,
        promptTokens=len(prompt),
        newTokens=n,
        samples=k,
        loadMs=ms(load_s),
        prefillMs=ms(prefill_s),
        decodeTokPerSec=round((n - 1) / decode_s, 2),
        k1Ms=ms(k1_s),
        kMs=ms(k_s),
        greedyTokens=tokens,
        greedyMargins=margins,
        peakRssBytes=peak_rss_bytes(),
        note=note,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run(args)
    progress(
        f"load {result.loadMs:.0f} ms, prefill {result.prefillMs:.0f} ms, decode {result.decodeTokPerSec:.1f} tok/s, "
        f"k1 {result.k1Ms:.0f} ms, K={result.samples} {result.kMs:.0f} ms, "
        f"peak RSS {result.peakRssBytes / 2**20:.0f} MiB"
    )
    print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
