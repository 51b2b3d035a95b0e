"""StableReinforce on TRL, on CPU with a tiny Qwen2.5-VL: prompts (images included) reach the model as
the server builds them, a few steps change the weights with every number finite, metrics land in
JSONL and TensorBoard, a run resumes from its checkpoint, and two processes train together."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.data.collate import load_item_images
from r1judge_train.data.prompt import judge_messages
from r1judge_train.data.records import read_dataset, write_dataset
from r1judge_train.data.rl import rl_dataset
from r1judge_train.data.teacher import parse_verdict
from r1judge_train.models.config import build_config
from r1judge_train.models.inputs import encode_prompt, image_processor
from r1judge_train.rl_run import RunConfigError, last_checkpoint, load_run, read_yaml, run_rl
from r1judge_train.tokenizer.qwen import load_tokenizer, save_tokenizer, train_tokenizer
from r1judge_train.trainers.processor import judge_processor
from r1judge_train.trainers.stable_reinforce import StableReinforceConfig, StableReinforceTrainer, _drop_rows_from

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    write_dataset(root / "data", {"train": 24, "val": 2, "test": 2}, seed=5)
    items = read_dataset(root / "data" / "train.jsonl")
    corpus = [t for item in items for t in (item.question, *item.responses, item.trace)]
    save_tokenizer(train_tokenizer(corpus, vocab_size=400), root / "tok", max_length=2048)
    tok = load_tokenizer(root / "tok")
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids)).save_pretrained(
        root / "policy"
    )
    return root, items, tok


def varied_reward(prompts, completions, completion_ids, **_):
    """Not the judge's reward: a random tiny model never writes the format, so this one varies."""
    return [float(sum(ids) % 5) - 2.0 for ids in completion_ids]


varied_reward.__name__ = "varied"


def config(out: Path, **overrides) -> StableReinforceConfig:
    settings = dict(
        output_dir=str(out),
        max_steps=3,
        per_device_train_batch_size=4,
        num_generations=2,
        steps_per_generation=2,  # 2 optimizer steps per rollout: old log-probs kept, ratio ≠ 1
        max_completion_length=16,
        learning_rate=5e-3,
        beta=1e-3,
        logging_steps=1,
        report_to=["tensorboard"],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="steps",
        save_steps=2,
        seed=0,
        temperature=1.0,
    )
    settings.update(overrides)
    return StableReinforceConfig(**settings)


def test_the_processor_builds_prompts_exactly_as_the_server_does(setup):
    root, items, tok = setup
    processor = judge_processor(tok, image_processor())
    for item in (next(i for i in items if i.kind == "image"), next(i for i in items if i.kind == "text")):
        images = load_item_images(item, root / "data")
        expected = encode_prompt(tok, judge_messages(item.question, *item.responses, item.images), images)
        row = rl_dataset([item], root / "data")[0]
        content = [{"type": "image", "image": image} for image in row["images"]]
        content.append({"type": "text", "text": row["prompt"][0]["content"]})
        got = processor.apply_chat_template(
            [[{"role": "user", "content": content}]], add_generation_prompt=True, tokenize=True, return_dict=True
        )
        assert list(got["input_ids"][0]) == expected.input_ids, item.kind


def train(setup, out: Path, reward, **overrides) -> list[str]:
    """Trains the tiny policy on the setup's items; the names of the parameters that changed."""
    root, items, tok = setup
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(root / "policy")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    StableReinforceTrainer(
        model=model,
        reward_funcs=[reward],
        args=config(out, **overrides),
        train_dataset=rl_dataset(items, root / "data"),
        processing_class=judge_processor(tok, image_processor()),
    ).train()
    return [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]


def test_a_few_steps_change_the_weights_keep_numbers_finite_and_log(setup, tmp_path):
    changed = train(setup, tmp_path, varied_reward)
    assert any(n.startswith("model.language_model.") for n in changed)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "policy_loss" in r]
    assert len(steps) == 3
    keys = ("policy_loss", "clip_fraction", "pre_clip_fraction", "log_ratio/max", "log_ratio/min", "nan_tokens")
    for key in (*keys, "advantages/filtered_fraction", "kl_k1"):
        assert all(isinstance(r[key], float) and math.isfinite(r[key]) for r in steps if key in r), key
    assert any("kl_k1" in r for r in steps)
    assert all(r["nan_tokens"] == 0 for r in steps)
    # The second step of each rollout trains on log-probs the first step moved: the ratio is not 1.
    assert any(r["log_ratio/max"] > 0 for r in steps) and any(r["log_ratio/min"] < 0 for r in steps)
    assert all(0 <= r["pre_clip_fraction"] <= 1 for r in steps)
    assert "completions/mean_length" in steps[0]
    assert list((tmp_path / "runs").rglob("events.out.tfevents.*")), "TensorBoard events"
    assert last_checkpoint(tmp_path) is not None


def label_reward(prompts, completions, completion_ids, label, **_):
    """The same score for every sample of a prompt: under a group baseline there is nothing to learn."""
    return [float(value) for value in label]


label_reward.__name__ = "label"


@pytest.mark.parametrize(("baseline", "moves"), [("group", False), ("none", True)])
def test_the_group_baseline_learns_nothing_from_prompts_whose_samples_score_alike(setup, tmp_path, baseline, moves):
    # beta 0: no KL in the token rewards, so the scores are all there is to learn from.
    changed = train(setup, tmp_path, label_reward, baseline=baseline, beta=0.0, max_steps=2, report_to=[])
    assert bool(changed) is moves


def test_sft_coef_trains_on_the_teacher_traces_where_the_rl_signal_is_nothing(setup, tmp_path):
    """With a reward every sample of a prompt shares and a group baseline the RL term is zero: what
    moves the weights is the NLL of the items' teacher completions, and it falls."""
    train(setup, tmp_path, label_reward, baseline="group", beta=0.0, sft_coef=1.0, max_steps=4, steps_per_generation=1)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    nll = [r["sft_nll"] for r in rows if "sft_nll" in r]
    assert len(nll) == 4 and all(math.isfinite(x) for x in nll)
    assert nll[-1] < nll[0]
    with pytest.raises(ValueError, match="sft_coef"):
        StableReinforceConfig(output_dir=str(tmp_path), sft_coef=-1.0, use_cpu=True)


def write_run(root: Path, out: Path, **trainer) -> Path:
    settings = {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "num_generations": 2,
        "max_completion_length": 12,
        "learning_rate": 1e-3,
        "beta": 1e-3,
        "save_steps": 1,
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": [],
        "seed": 0,
    }
    settings.update(trainer)
    file = out.parent / f"{out.name}.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "model": str(root / "policy"),
                "tokenizer": str(root / "tok"),
                "data": str(root / "data" / "train.jsonl"),
                "output_dir": str(out),
                "referee": {"kind": "rule"},
                "trainer": settings,
            }
        )
    )
    return file


def test_a_run_file_trains_saves_and_resumes_from_its_checkpoint(setup, tmp_path):
    root, _, _ = setup
    file = write_run(root, tmp_path / "run")
    first = run_rl(load_run(file))
    assert first["steps"] == 2
    assert (Path(first["final"]) / "model.safetensors").is_file()
    assert (Path(first["final"]) / "tokenizer.json").is_file()
    resumed = run_rl(load_run(file, {"trainer.max_steps": 3}))
    assert resumed["steps"] == 3, "resumed at step 2 and ran one more"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "policy_loss" in r] == [1, 2, 3]


def test_run_files_name_what_is_wrong(setup, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"model": "m", "data": "d", "output_dir": "o", "tranier": {}}))
    with pytest.raises(RunConfigError, match="tranier: unknown key"):
        load_run(bad)
    bad.write_text(yaml.safe_dump({"model": "m", "data": "d"}))
    with pytest.raises(RunConfigError, match="output_dir: required"):
        load_run(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"model": "m", "data": "d", "output_dir": "o", "trainer": {"beta": 0.1}}))
    run = load_run(good, {"trainer.pre_clip": False, "output_dir": "other", "export.out": "ckpt"})
    assert run.trainer == {"beta": 0.1, "pre_clip": False}
    assert run.output_dir == tmp_path / "other" and run.export == {"out": str(tmp_path / "ckpt")}
    written = tmp_path / "written.yaml"  # as a person types it: YAML 1.1 alone reads 1e-4 as a string
    written.write_text("model: m\ndata: d\noutput_dir: o\ntrainer: {learning_rate: 1e-4, max_steps: 3}\n")
    assert load_run(written, {"trainer.beta": read_yaml("2e-3")}).trainer == {
        "learning_rate": 1e-4,
        "max_steps": 3,
        "beta": 2e-3,
    }
    with pytest.raises(RunConfigError, match=r"trainer\.beta\.x: beta is not a mapping"):
        load_run(good, {"trainer.beta.x": 1})
    with pytest.raises(ValueError, match="advantage_filter"):
        StableReinforceConfig(output_dir=str(tmp_path), advantage_filter="loose", use_cpu=True)
    with pytest.raises(ValueError, match="baseline"):
        StableReinforceConfig(output_dir=str(tmp_path), baseline="critic", use_cpu=True)


@pytest.mark.slow
def test_two_cpu_processes_train_together(setup, tmp_path):
    root, _, _ = setup
    # The group baseline runs on the scores gathered from both processes, before each takes its slice.
    file = write_run(root, tmp_path / "ddp", per_device_train_batch_size=2, max_steps=2, baseline="group")
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            *[sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"],
            *["-m", "r1judge_train.cli", "rl", "--config", str(file), "--fresh"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "policy_loss" in r] == [1, 2], "one process writes the metrics"


def test_a_resumed_run_logs_each_step_once(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 0.1}) + "\n" for s in [1, 2, 3, 4, 5]))
    _drop_rows_from(path, 4)  # resumed from checkpoint-3: its first log is step 4
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
    _drop_rows_from(path, 1)  # a fresh run
    assert path.read_text() == ""


@pytest.mark.slow
def test_the_gpu_benchmark_runs_here_with_the_demo_shape(setup, tmp_path):
    """training/gpu/rl_bench.py is what the GPU machine runs; here the same code with the demo shape."""
    root, _, _ = setup
    spec = importlib.util.spec_from_file_location("rl_bench", ROOT / "gpu" / "rl_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "rl-bench.json"
    argv = ["--tokenizer", str(root / "tok"), "--shape", "demo", "--steps", "2", "--batch", "4"]
    result = bench.main([*argv, "--new-tokens", "8", "--items", "8", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["steps"] == 2 and result["dtype"] == "fp32" and result["tokens_per_s"] > 0


def test_both_orders_adds_each_item_with_its_responses_swapped(setup, tmp_path):
    root, items, _ = setup
    run = load_run(write_run(root, tmp_path / "orders"), {"both_orders": True, "limit": 3})
    got = run.items()
    assert len(got) == 6 and got[:3] == items[:3]
    for item, other in zip(got[:3], got[3:], strict=True):
        assert other.id == f"{item.id}:swapped" and other.question == item.question
        assert other.responses == (item.responses[1], item.responses[0]) and other.label == 3 - item.label
        assert parse_verdict(other.trace) == other.label and other.trace != item.trace


def test_a_policy_drawn_to_image_pads_never_writes_them(setup, tmp_path):
    """A drifting policy that prefers <|image_pad|> (seen in the no-clip stability run) must not end
    training: without suppression its log-prob forward fails on an image it does not have."""
    root, items, tok = setup
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(root / "policy")
    pad = tok.tokenizer.token_to_id("<|image_pad|>")

    def prefer_image_pads(_module, _inputs, logits):
        return logits.index_add(-1, torch.tensor([pad]), torch.full((*logits.shape[:-1], 1), 50.0))

    model.lm_head.register_forward_hook(prefer_image_pads)
    trainer = StableReinforceTrainer(
        model=model,
        reward_funcs=[varied_reward],
        args=config(tmp_path, max_steps=2, save_strategy="no"),
        train_dataset=rl_dataset(items, root / "data"),
        processing_class=judge_processor(tok, image_processor()),
    )
    trainer.train()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "policy_loss" in r] == [1, 2]
