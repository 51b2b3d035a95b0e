"""SFT cold start: loss only on the teacher's completion, and a few TRL steps actually train the model."""

import numpy as np
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.data.collate import IGNORE_INDEX, JudgeCollator, encode_example, encode_fact_example
from r1judge_train.data.records import read_dataset, write_dataset
from r1judge_train.models.config import build_config
from r1judge_train.models.inputs import image_processor, preprocessor_config
from r1judge_train.tokenizer.qwen import load_tokenizer, save_tokenizer, train_tokenizer
from r1judge_train.trainers.sft import ColdStartSettings, EncodingCollator, build_cold_start_trainer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    write_dataset(root / "data", {"train": 32, "val": 2, "test": 2}, seed=3)
    items = read_dataset(root / "data" / "train.jsonl")
    corpus = [t for item in items for t in (item.question, *item.responses, item.trace)]
    save_tokenizer(train_tokenizer(corpus, vocab_size=400), root / "tok", max_length=2048)
    return root, items, load_tokenizer(root / "tok")


def test_collator_masks_prompt_and_padding(setup):
    root, items, tok = setup
    image_item = next(i for i in items if i.kind == "image")
    text_item = next(i for i in items if i.kind == "text")
    examples = [encode_example(i, tok, root / "data").as_dict() for i in (text_item, image_item)]
    batch = JudgeCollator(tok.ids.endoftext, tok.ids.image_pad)(examples)
    for row, example in enumerate(examples):
        n_prompt, n_completion = len(example["prompt_ids"]), len(example["completion_ids"])
        labels = batch["labels"][row]
        assert (labels[:n_prompt] == IGNORE_INDEX).all()
        assert labels[n_prompt : n_prompt + n_completion].tolist() == example["completion_ids"]
        assert (labels[n_prompt + n_completion :] == IGNORE_INDEX).all()
        assert batch["attention_mask"][row].sum() == n_prompt + n_completion
    assert example["completion_ids"][-1] == tok.ids.im_end
    assert batch["pixel_values"].shape[0] == int(np.prod(example["image_grid_thw"], axis=1).sum())
    assert (batch["input_ids"] == tok.ids.image_pad).sum() * 4 == batch["pixel_values"].shape[0]


def test_fact_example_is_the_image_and_question_then_the_premise(setup):
    root, items, tok = setup
    item = next(i for i in items if i.kind == "image")
    fact = encode_fact_example(item, tok, root / "data")
    judged = encode_example(item, tok, root / "data")
    prompt = tok.tokenizer.decode(fact.prompt_ids, skip_special_tokens=False)
    assert item.question in prompt
    assert "Response 1" not in prompt and "Response 1" in tok.tokenizer.decode(judged.prompt_ids)
    assert tok.tokenizer.decode(fact.completion_ids[:-1]) == item.trace[len("<think>") :].split(".")[0] + "."
    assert fact.completion_ids[-1] == tok.ids.im_end
    np.testing.assert_array_equal(fact.pixel_values, judged.pixel_values)
    with pytest.raises(ValueError, match="image items"):
        encode_fact_example(next(i for i in items if i.kind == "text"), tok, root / "data")


def test_collator_preprocesses_images_with_the_given_processor(setup):
    root, items, tok = setup
    item = next(i for i in items if i.kind == "image")
    default = EncodingCollator(items, tok, root / "data").encode(items.index(item))
    upscaled = EncodingCollator(
        items, tok, root / "data", processor=image_processor(preprocessor_config(min_pixels=224 * 224))
    ).encode(items.index(item))
    assert default.image_grid_thw is not None and upscaled.image_grid_thw is not None
    assert int(np.prod(upscaled.image_grid_thw)) >= 256 > int(np.prod(default.image_grid_thw))
    assert (
        len(upscaled.prompt_ids) - len(default.prompt_ids)
        == (int(np.prod(upscaled.image_grid_thw)) - int(np.prod(default.image_grid_thw))) // 4
    )


def test_a_few_steps_change_parameters_and_lower_loss(setup, tmp_path):
    root, items, tok = setup
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = ColdStartSettings(output_dir=tmp_path, max_steps=12, batch_size=4, learning_rate=3e-3, logging_steps=4)
    trainer = build_cold_start_trainer(model, tok, items, root / "data", settings)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses[-1] < losses[0]
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    # The vision tower trains too: image items reach it through the image-pad rows.
    assert any(n.startswith("model.visual.") for n in changed)
    assert any(n.startswith("model.language_model.") for n in changed)
