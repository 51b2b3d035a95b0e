"""ONNX (onnxruntime, Python reference loop) vs PyTorch parity for a whole exported r1-judge checkpoint.

A tiny random Qwen2.5-VL (built from `build_config`, tokenizer trained by `train_tokenizer`) is exported
once with `export_checkpoint(..., variants=("fp32", "fp16"))`. PyTorch is the stock HF model run on the
full sequence each step with explicit 3-axis position ids from `mrope_positions` (decoded tokens at
past_len + rope_delta on all three axes), so it shares no cache code with the ONNX side.

Checked: last-position logits at prefill and over 4 decode steps (text only, one image, two images of
different sizes, awkward 70x70, a wide image, ...), 16-token greedy continuations, the fp16 variant,
and that sample i of a K-sample `generate` equals a lone generation with seed + i.
Run with `-s` to see the worst |Δ| lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.checkpoint.validate import Checkpoint
from r1judge_train.data.prompt import judge_messages
from r1judge_train.export.checkpoint import export_checkpoint
from r1judge_train.export.fixtures import fixture_image
from r1judge_train.export.ort_model import OnnxJudgeModel, SamplingParams
from r1judge_train.models.config import TextShape, VisionShape, build_config
from r1judge_train.models.inputs import PromptInputs, encode_prompt
from r1judge_train.tokenizer.qwen import LoadedTokenizer, load_tokenizer, save_tokenizer, train_tokenizer

pytestmark = pytest.mark.slow

TEXT = TextShape(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    mrope_section=(2, 3, 3),
    rope_theta=10_000.0,
    max_position_embeddings=4096,
)
# One window layer then one full-attention layer, so the window masks are exercised.
VISION = VisionShape(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=(1,))

FP32_TOL = 1e-4
# fp16 weights and activations: logits here have std ~1.5, max ~4.5 (see _decisive_init); observed worst
# |Δ| vs fp32 is ~1.2e-2. 0.25 is loose enough to be robust yet catches a broken conversion (a wrong graph,
# lost precision in a whole layer), whose errors are of the order of the logits themselves.
FP16_TOL = 0.25

CORPUS = [
    "What colour is the shape? The shape is red. It is blue. The colour is green.",
    "Is the shape on the left or the right? It is on the left. On the right.",
    "How many shapes are there? I count 3. The number is 2. The count is 4.",
    "<think>Response 1 names the right colour, Response 2 does not.</think><answer>1</answer>",
    "You are a highly skilled and impartial evaluator tasked with comparing two responses.",
    "What is 7 + 5? The answer is 12. Which is larger, 37 or 52? The larger number is 52.",
] * 4

# name -> ((width, height), ...) of the prompt's images, in order.
CASES: dict[str, tuple[tuple[int, int], ...]] = {
    "text": (),
    "one_image": ((112, 84),),
    "two_images": ((98, 70), (250, 42)),
    "square_70": ((70, 70),),
    "wide_250x42": ((250, 42),),
    "odd_333x127": ((333, 127),),
    "tiny_20x30": ((20, 30),),
}
GREEDY_CASES = ("text", "one_image", "two_images")
DECODE_STEPS = 4

WORST: dict[str, float] = {}


def _record(kind: str, delta: float, case: str = "") -> None:
    WORST[kind] = max(WORST.get(kind, 0.0), delta)
    print(f"parity |Δ| {kind} {case}: {delta:.3g} (worst so far {WORST[kind]:.3g})")


def _decisive_init(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> None:
    """HF's random init (std 0.02) gives near-flat logits, so greedy argmax flips on 1e-7 noise and
    token-level comparisons become fragile. Re-draw Linear/Embedding weights with std 0.2 (seeded) so
    the top logit is decisive (logit std ~1.5, top-2 margin ~0.3 here, vs ~1e-5 fp32 noise); the
    graphs are unchanged, only the numbers. std 0.3 works too but its larger activations roughly
    double the fp32 |Δ| (3e-5 to 5e-5: float noise, relative ~1.5e-6), leaving less headroom below 1e-4."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)


@dataclass
class Setup:
    model: Qwen2_5_VLForConditionalGeneration
    tok: LoadedTokenizer
    checkpoint: Checkpoint
    fp32: OnnxJudgeModel
    fp16: OnnxJudgeModel
    prompts: dict[str, PromptInputs]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("parity")
    tok_dir = root / "tokenizer"
    save_tokenizer(train_tokenizer(CORPUS, vocab_size=384), tok_dir, max_length=4096)
    tok = load_tokenizer(tok_dir)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids, TEXT, VISION))
    _decisive_init(model)
    model.eval()
    checkpoint = export_checkpoint(
        model, tok_dir, root / "ckpt", "parity-test", {"test": "test_parity"}, variants=("fp32", "fp16")
    )
    prompts = {}
    for seed, (name, sizes) in enumerate(CASES.items()):
        images = [fixture_image(size, "RGB", seed * 10 + i) for i, size in enumerate(sizes)]
        messages = judge_messages(
            "What colour is the shape?",
            "The shape is red.",
            "It is blue.",
            [f"{i}.png" for i in range(len(sizes))],
        )
        prompts[name] = encode_prompt(tok, messages, images)
    return Setup(
        model,
        tok,
        checkpoint,
        OnnxJudgeModel(checkpoint, threads=1),
        OnnxJudgeModel(checkpoint, "fp16", 1),
        prompts,
    )


def torch_last_logits(model: Qwen2_5_VLForConditionalGeneration, prompt: PromptInputs, new: list[int]) -> np.ndarray:
    """Stock HF forward over prompt + `new` tokens; new tokens sit at past_len + rope_delta on all axes."""
    seq = len(prompt.input_ids)
    ids = torch.tensor([prompt.input_ids + new], dtype=torch.long)
    extra = np.arange(seq, seq + len(new), dtype=np.int64) + prompt.rope_delta
    positions = np.concatenate([prompt.position_ids, np.broadcast_to(extra, (3, len(new)))], axis=1)
    kwargs = {}
    if prompt.pixels is not None:
        kwargs["pixel_values"] = torch.from_numpy(prompt.pixels.pixel_values)
        kwargs["image_grid_thw"] = torch.from_numpy(prompt.pixels.image_grid_thw)
    with torch.no_grad():
        out = model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            position_ids=torch.from_numpy(positions)[:, None, :],
            use_cache=False,
            logits_to_keep=1,
            **kwargs,
        )
    return out.logits[0, -1].float().numpy()


def torch_greedy(model: Qwen2_5_VLForConditionalGeneration, prompt: PromptInputs, n: int) -> list[int]:
    """HF's own KV-cache path (use_cache + past_key_values), unlike the full recompute above; the vision
    tower runs once. Decoded tokens sit at past_len + rope_delta on all three axes."""
    seq = len(prompt.input_ids)
    ids = torch.tensor([prompt.input_ids], dtype=torch.long)
    kwargs = {}
    if prompt.pixels is not None:
        kwargs["pixel_values"] = torch.from_numpy(prompt.pixels.pixel_values)
        kwargs["image_grid_thw"] = torch.from_numpy(prompt.pixels.image_grid_thw)
    positions = torch.from_numpy(prompt.position_ids)[:, None, :]
    tokens: list[int] = []
    past = None
    with torch.no_grad():
        for step in range(n):
            out = model(
                input_ids=ids,
                attention_mask=torch.ones(1, seq + step, dtype=torch.long),
                position_ids=positions,
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
            tokens.append(int(out.logits[0, -1].argmax()))
            past, kwargs = out.past_key_values, {}
            ids = torch.tensor([[tokens[-1]]], dtype=torch.long)
            positions = torch.full((3, 1, 1), seq + step + prompt.rope_delta, dtype=torch.long)
    return tokens


def test_prompts_cover_the_cases(setup: Setup) -> None:
    for name, sizes in CASES.items():
        prompt = setup.prompts[name]
        n_images = 0 if prompt.pixels is None else len(prompt.pixels.image_grid_thw)
        assert n_images == len(sizes), name
    grids = {name: p.pixels.image_grid_thw.tolist() for name, p in setup.prompts.items() if p.pixels is not None}
    assert grids["two_images"][0] != grids["two_images"][1]  # two different sizes in one prompt
    assert grids["square_70"] == [[1, 4, 4]]  # 70 px rounds down to 56 in HF's smart_resize
    assert any(p.rope_delta < 0 for p in setup.prompts.values())  # image rows compress positions


def test_hf_rope_index_matches_mrope_positions(setup: Setup) -> None:
    """The reference positions fed to both sides are HF's own get_rope_index ones."""
    prompt = setup.prompts["two_images"]
    ids = torch.tensor([prompt.input_ids])
    types = (ids == setup.tok.ids.image_pad).long()
    positions, delta = setup.model.model.get_rope_index(
        ids,
        mm_token_type_ids=types,
        image_grid_thw=torch.from_numpy(prompt.pixels.image_grid_thw),
        attention_mask=torch.ones_like(ids),
    )
    np.testing.assert_array_equal(positions[:, 0].numpy(), prompt.position_ids)
    assert int(delta.reshape(-1)[0]) == prompt.rope_delta


@pytest.mark.parametrize("case", list(CASES))
def test_prefill_and_decode_logits_fp32(setup: Setup, case: str) -> None:
    prompt, onnx_model = setup.prompts[case], setup.fp32
    logits, past = onnx_model.prefill(prompt)
    ref = torch_last_logits(setup.model, prompt, [])
    delta = float(np.abs(logits[0] - ref).max())
    _record("fp32 prefill", delta, case)
    assert delta <= FP32_TOL, f"{case}: prefill |Δ| {delta}"
    assert float(ref.std()) > 0.5  # decisive logits, not a near-flat random init

    seq, new = len(prompt.input_ids), []
    for step in range(DECODE_STEPS):
        token = int(np.argmax(logits[0]))
        assert token == int(np.argmax(ref)), f"{case} step {step}: greedy token differs"
        new.append(token)
        (embeds,) = onnx_model.embed.run(None, {"input_ids": np.asarray([[token]], dtype=np.int64)})
        past_len = seq + step
        mask = np.ones((1, past_len + 1), dtype=np.int64)
        positions = np.full((3, 1, 1), past_len + prompt.rope_delta, dtype=np.int64)
        logits, past = onnx_model.step(embeds, mask, positions, past)
        assert next(iter(past.values())).shape[2] == past_len + 1
        ref = torch_last_logits(setup.model, prompt, new)
        delta = float(np.abs(logits[0] - ref).max())
        _record("fp32 decode", delta, case)
        assert delta <= FP32_TOL, f"{case} decode step {step}: |Δ| {delta}"


@pytest.mark.parametrize("case", GREEDY_CASES)
def test_greedy_continuation_matches_torch(setup: Setup, case: str) -> None:
    prompt = setup.prompts[case]
    (generation,) = setup.fp32.generate(prompt, 1, SamplingParams(16, 0.0))
    expected = torch_greedy(setup.model, prompt, 16)
    eos = set(setup.checkpoint.manifest["tokens"]["eos_token_ids"])
    stop = next((i + 1 for i, t in enumerate(expected) if t in eos), len(expected))
    assert generation.tokens == expected[:stop]
    assert generation.finish_reason == ("stop" if stop < 16 or expected[-1] in eos else "length")


@pytest.mark.parametrize("case", ["text", "two_images", "square_70"])
def test_fp16_variant_close_to_fp32(setup: Setup, case: str) -> None:
    prompt = setup.prompts[case]
    assert setup.fp16.float is np.float16
    logits16, past16 = setup.fp16.prefill(prompt)
    logits32, _ = setup.fp32.prefill(prompt)
    assert next(iter(past16.values())).dtype == np.float16
    assert np.isfinite(logits16).all()
    delta = float(np.abs(logits16 - logits32).max())
    _record("fp16 prefill vs fp32", delta, case)
    assert delta <= FP16_TOL, f"{case}: fp16 |Δ| {delta}"
    assert int(np.argmax(logits16[0])) == int(np.argmax(logits32[0]))
    (greedy16,) = setup.fp16.generate(prompt, 1, SamplingParams(4, 0.0))
    assert greedy16.tokens[0] == int(np.argmax(logits32[0]))


@pytest.mark.parametrize("case", ["text", "one_image"])
def test_samples_do_not_depend_on_batch_mates(setup: Setup, case: str) -> None:
    prompt = setup.prompts[case]
    batch = setup.fp32.generate(prompt, 4, SamplingParams(8, temperature=1.0, seed=5))
    alone = [setup.fp32.generate(prompt, 1, SamplingParams(8, temperature=1.0, seed=5 + i))[0] for i in range(4)]
    assert [g.tokens for g in batch] == [g.tokens for g in alone]
    assert [g.finish_reason for g in batch] == [g.finish_reason for g in alone]
    assert len({tuple(g.tokens) for g in batch}) > 1  # the seeds really give different samples


def test_decoder_reads_the_kv_cache_without_copying_it_per_query_head(setup: Setup) -> None:
    """repeat_kv exported as Expand copies the whole cache heads/kv_heads times every decode step
    (~40 % of a batch-8 step of the 0.5B model on CPU); the grouped export must not contain it."""
    graph = onnx.load(setup.checkpoint.graph_path("decoder_model_merged"), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def reaches_past(name: str, depth: int = 0) -> bool:
        if name.startswith("past_key_values."):
            return True
        node = producer.get(name)
        if node is None or depth > 4 or node.op_type not in {"Unsqueeze", "Reshape", "Concat", "Transpose"}:
            return False
        return any(reaches_past(i, depth + 1) for i in node.input)

    expands = [n.name for n in graph.node if n.op_type == "Expand" and reaches_past(n.input[0])]
    assert expands == []


def test_new_key_values_are_the_new_columns_of_present(setup: Setup) -> None:
    """The optional outputs a runtime fetches instead of the whole cache: exactly present[..., -S:, :]."""
    import onnxruntime as ort

    session = ort.InferenceSession(setup.checkpoint.graph_path("decoder_model_merged"))
    inputs = {i.name: i for i in session.get_inputs()}
    layers = sum(1 for name in inputs if name.endswith(".key"))
    rng = np.random.default_rng(0)
    hidden, kv, head = inputs["inputs_embeds"].shape[2], *inputs["past_key_values.0.key"].shape[1:4:2]
    for past, new in ((0, 5), (6, 1), (6, 3)):
        feeds = {
            "inputs_embeds": rng.standard_normal((2, new, hidden), dtype=np.float32),
            "attention_mask": np.ones((2, past + new), np.int64),
            "position_ids": np.broadcast_to(np.arange(past, past + new), (3, 2, new)).copy(),
        }
        for i in range(layers):
            for kind in ("key", "value"):
                feeds[f"past_key_values.{i}.{kind}"] = rng.standard_normal((2, kv, past, head), dtype=np.float32)
        names = [o.name for o in session.get_outputs()]
        out = dict(zip(names, session.run(None, feeds), strict=True))
        for i in range(layers):
            for kind in ("key", "value"):
                tail = out[f"new_key_values.{i}.{kind}"]
                assert tail.shape == (2, kv, new, head)
                np.testing.assert_array_equal(tail, out[f"present.{i}.{kind}"][:, :, past:, :])


def test_report_worst_parity(setup: Setup) -> None:
    """Last: prints the worst |Δ| seen by the tests above (visible with -s)."""
    print("parity summary: " + ", ".join(f"{k} = {v:.3g}" for k, v in sorted(WORST.items())))
    assert all(np.isfinite(v) for v in WORST.values())
