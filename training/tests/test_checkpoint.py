"""Checkpoint layout, manifest hashes and load-time errors that name the file and the field.

One tiny random Qwen2.5-VL checkpoint (fp32 only, with the vision encoder) is exported once per module;
every test that breaks something works on its own copy. Editing config.json changes its size and sha256,
so config tests either re-hash the manifest (`file_table`) or fix only the size and load with
verify_hashes=False, which must then reach the config check.
"""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import onnx
import pytest
import torch
from PIL import Image
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.checkpoint.manifest import FORMAT_VERSION, MANIFEST_NAME, file_table, sha256_file
from r1judge_train.checkpoint.validate import CheckpointError, load_checkpoint
from r1judge_train.export.checkpoint import export_checkpoint
from r1judge_train.models.config import TextShape, VisionShape, build_config
from r1judge_train.models.inputs import checkpoint_image_processor, preprocess_images, preprocessor_config
from r1judge_train.tokenizer.qwen import load_tokenizer, save_tokenizer, train_tokenizer

pytestmark = pytest.mark.slow

TEXT = TextShape(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    mrope_section=(2, 3, 3),
    rope_theta=10_000.0,
    max_position_embeddings=1024,
)
VISION = VisionShape(depth=2, hidden_size=16, intermediate_size=32, num_heads=2, fullatt_block_indexes=(1,))

EXPECTED_FILES = {
    "onnx/vision_encoder.onnx",
    "onnx/embed_tokens.onnx",
    "onnx/decoder_model_merged.onnx",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    MANIFEST_NAME,
}
# Not R1-Reward's default bounds: the checkpoint must carry the preprocessing it was trained with.
PREPROCESSOR = preprocessor_config(min_pixels=8 * 28 * 8 * 28)
CORPUS = ["What colour is the shape? The shape is red.", "<think>1 is right</think><answer>1</answer>"] * 4


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("checkpoint")
    tok_dir = root / "tokenizer"
    save_tokenizer(train_tokenizer(CORPUS, vocab_size=300), tok_dir, max_length=1024)
    tok = load_tokenizer(tok_dir)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids, TEXT, VISION))
    out = root / "ckpt"
    export_checkpoint(
        model, tok_dir, out, "checkpoint-test", {"test": "test_checkpoint"}, ("fp32",), preprocessor=PREPROCESSOR
    )
    return out


@pytest.fixture
def ckpt(exported: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A private copy of the exported checkpoint, free to break."""
    return pathlib.Path(shutil.copytree(exported, tmp_path / "ckpt"))


def read(root: pathlib.Path, name: str) -> dict[str, Any]:
    return json.loads((root / name).read_text())


def write(root: pathlib.Path, name: str, value: Any) -> None:
    (root / name).write_text(json.dumps(value, indent=2) + "\n")


def edit_manifest(root: pathlib.Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = read(root, MANIFEST_NAME)
    change(manifest)
    write(root, MANIFEST_NAME, manifest)


def rehash(root: pathlib.Path) -> None:
    """Make the manifest's file table match the (edited) files again."""
    edit_manifest(root, lambda m: m.update(files=file_table(root)))


def resize_only(root: pathlib.Path, name: str) -> None:
    """Update the manifest's byte count of `name` but keep its (now stale) sha256."""
    size = (root / name).stat().st_size
    edit_manifest(root, lambda m: m["files"][name].update(bytes=size))


def edit_config(root: pathlib.Path, change: Callable[[dict[str, Any]], None]) -> None:
    config = read(root, "config.json")
    change(config)
    write(root, "config.json", config)


def load_error(root: pathlib.Path, verify_hashes: bool = True) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(root, verify_hashes=verify_hashes)
    err = info.value
    assert err.file in str(err) and err.field in str(err)  # the message names both
    return err


# --- a valid checkpoint -------------------------------------------------------------------------


def test_valid_checkpoint_loads(ckpt: pathlib.Path) -> None:
    checkpoint = load_checkpoint(ckpt)
    assert checkpoint.has_vision
    assert checkpoint.config.text_config.num_hidden_layers == TEXT.num_hidden_layers
    assert set(checkpoint.manifest["variants"]) == {"fp32"}
    for graph in ("vision_encoder", "embed_tokens", "decoder_model_merged"):
        assert checkpoint.graph_path(graph).is_file()
    assert load_checkpoint(ckpt, verify_hashes=False).manifest == checkpoint.manifest


def test_layout(exported: pathlib.Path) -> None:
    files = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES  # fp32 only: no *_fp16.onnx, tiny graphs: no .onnx.data


def test_images_are_preprocessed_as_the_checkpoint_says(exported: pathlib.Path) -> None:
    assert read(exported, "preprocessor_config.json")["min_pixels"] == 224 * 224
    # 56 x 56 is 4 x 4 patches under R1-Reward's bounds; this checkpoint upscales it to 224 x 224.
    pixels = preprocess_images([Image.new("RGB", (56, 56), (200, 30, 30))], checkpoint_image_processor(exported))
    assert pixels is not None
    assert tuple(pixels.image_grid_thw[0]) == (1, 16, 16)


def test_manifest_lists_every_file_with_its_sha256(exported: pathlib.Path) -> None:
    manifest = read(exported, MANIFEST_NAME)
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["files"]) == EXPECTED_FILES - {MANIFEST_NAME}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(exported / name), name
        assert entry["bytes"] == (exported / name).stat().st_size, name
    assert manifest["variants"]["fp32"] == {
        "vision_encoder": "onnx/vision_encoder.onnx",
        "embed_tokens": "onnx/embed_tokens.onnx",
        "decoder_model_merged": "onnx/decoder_model_merged.onnx",
    }


def test_no_graph_has_bf16(exported: pathlib.Path) -> None:
    for path in sorted((exported / "onnx").glob("*.onnx")):
        graph = onnx.load(str(path)).graph
        for value in (*graph.input, *graph.output):
            assert value.type.tensor_type.elem_type != onnx.TensorProto.BFLOAT16, f"{path.name}: {value.name}"
        for init in graph.initializer:
            assert init.data_type != onnx.TensorProto.BFLOAT16, f"{path.name}: {init.name}"


# --- files ----------------------------------------------------------------------------------------


def test_corrupt_onnx_fails_the_sha256_check(ckpt: pathlib.Path) -> None:
    path = ckpt / "onnx/decoder_model_merged.onnx"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])  # same size
    path.write_bytes(bytes(data))
    err = load_error(ckpt)
    assert err.file == "onnx/decoder_model_merged.onnx"
    assert "sha256" in str(err)
    load_checkpoint(ckpt, verify_hashes=False)  # only the hash catches a same-size corruption


def test_truncated_onnx_fails_the_size_check(ckpt: pathlib.Path) -> None:
    path = ckpt / "onnx/vision_encoder.onnx"
    path.write_bytes(path.read_bytes()[:-10])
    err = load_error(ckpt, verify_hashes=False)
    assert err.file == "onnx/vision_encoder.onnx" and err.field == "(file)"
    assert "bytes" in str(err)


def test_missing_tokenizer_json(ckpt: pathlib.Path) -> None:
    (ckpt / "tokenizer.json").unlink()
    err = load_error(ckpt)
    assert err.file == "tokenizer.json" and err.field == "(file)"


def test_tokenizer_json_not_listed(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["files"].pop("tokenizer.json"))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "files.tokenizer.json"


def test_missing_manifest(ckpt: pathlib.Path) -> None:
    (ckpt / MANIFEST_NAME).unlink()
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "(file)"


# --- manifest -------------------------------------------------------------------------------------


def test_unsupported_format_version(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m.update(format_version=99))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "format_version"
    assert "99" in str(err)


def test_missing_pad_token_id(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["tokens"].pop("pad_token_id"))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "tokens.pad_token_id"


def test_pad_token_id_of_wrong_type(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["tokens"].update(pad_token_id="0"))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "tokens.pad_token_id"


def test_num_layers_disagrees_with_config(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["decoder"].update(num_layers=TEXT.num_hidden_layers + 1))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "decoder.num_layers"
    assert "config.json" in str(err)


def test_variant_graph_not_in_files(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["variants"]["fp32"].update(embed_tokens="onnx/embed_tokens_q8.onnx"))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "variants.fp32.embed_tokens"
    assert "onnx/embed_tokens_q8.onnx" in str(err)


def test_variant_graph_dropped_from_files(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["files"].pop("onnx/vision_encoder.onnx"))
    err = load_error(ckpt)
    assert err.field == "variants.fp32.vision_encoder"
    assert "onnx/vision_encoder.onnx" in str(err)


def test_unknown_variant(ckpt: pathlib.Path) -> None:
    edit_manifest(ckpt, lambda m: m["variants"].update(bf16=m["variants"]["fp32"]))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "variants.bf16"


# --- config.json ----------------------------------------------------------------------------------


def _wrong_mrope(config: dict[str, Any]) -> None:
    config["text_config"]["rope_parameters"]["mrope_section"] = [3, 3, 3]  # sums to 9, head_dim/2 is 8


@pytest.mark.parametrize("how", ["rehash", "verify_hashes=False"])
def test_wrong_mrope_section(ckpt: pathlib.Path, how: str) -> None:
    edit_config(ckpt, _wrong_mrope)
    if how == "rehash":
        rehash(ckpt)
        err = load_error(ckpt)
    else:
        resize_only(ckpt, "config.json")
        stale = load_error(ckpt)  # the stale hash is caught first ...
        assert stale.file == "config.json" and "sha256" in str(stale)
        err = load_error(ckpt, verify_hashes=False)  # ... and without hashing, the config check
    assert err.file == "config.json"
    assert err.field == "text_config.rope_parameters.mrope_section"


def test_edited_config_without_rehash_fails_the_hash(ckpt: pathlib.Path) -> None:
    edit_config(ckpt, _wrong_mrope)
    err = load_error(ckpt)
    assert err.file == "config.json" and err.field == "(file)"


@pytest.mark.parametrize("how", ["rehash", "verify_hashes=False"])
def test_wrong_model_type(ckpt: pathlib.Path, how: str) -> None:
    edit_config(ckpt, lambda c: c.update(model_type="llama"))
    if how == "rehash":
        rehash(ckpt)
        err = load_error(ckpt)
    else:
        resize_only(ckpt, "config.json")
        err = load_error(ckpt, verify_hashes=False)
    assert err.file == "config.json" and err.field == "model_type"
    assert "llama" in str(err)


def test_config_not_json(ckpt: pathlib.Path) -> None:
    (ckpt / "config.json").write_text('{"model_type": "qwen2_5_vl",')
    rehash(ckpt)
    err = load_error(ckpt)
    assert err.file == "config.json" and err.field == "(file)"
    assert "JSON" in str(err)


def test_config_vision_out_hidden_size(ckpt: pathlib.Path) -> None:
    edit_config(ckpt, lambda c: c["vision_config"].update(out_hidden_size=TEXT.hidden_size * 2))
    rehash(ckpt)
    err = load_error(ckpt)
    assert err.file == "config.json" and err.field == "vision_config.out_hidden_size"


@pytest.mark.parametrize("files", [None, ["config.json"]])
def test_files_table_missing_or_not_an_object(ckpt: pathlib.Path, files: Any) -> None:
    edit_manifest(ckpt, lambda m: m.pop("files") if files is None else m.update(files=files))
    err = load_error(ckpt)
    assert err.file == MANIFEST_NAME and err.field == "files"


# --- quantized variants ---------------------------------------------------------------------------


def _decoder_logits(root: pathlib.Path, variant: str) -> Any:
    """The decoder's last-position logits for a fixed 6-token prompt of random embeddings."""
    import numpy as np
    import onnxruntime as ort

    checkpoint = load_checkpoint(root)
    session = ort.InferenceSession(str(checkpoint.graph_path("decoder_model_merged", variant)))
    rng = np.random.default_rng(0)
    tokens = 6
    feeds: dict[str, Any] = {
        "inputs_embeds": rng.standard_normal((1, tokens, TEXT.hidden_size)).astype(np.float32),
        "attention_mask": np.ones((1, tokens), dtype=np.int64),
        "position_ids": np.tile(np.arange(tokens, dtype=np.int64), (3, 1, 1)),
    }
    head_dim = TEXT.hidden_size // TEXT.num_attention_heads
    for layer in range(TEXT.num_hidden_layers):
        for kind in ("key", "value"):
            feeds[f"past_key_values.{layer}.{kind}"] = np.zeros(
                (1, TEXT.num_key_value_heads, 0, head_dim), dtype=np.float32
            )
    logits = session.run(["logits"], feeds)[0]
    return logits[0, -1]


def test_quantized_variants_are_listed_and_close_to_fp32(ckpt: pathlib.Path) -> None:
    import numpy as np

    from r1judge_train.export.quantize import add_quantized_variants

    checkpoint = add_quantized_variants(ckpt, ("int4", "int8"))
    manifest = read(ckpt, MANIFEST_NAME)
    fp32 = _decoder_logits(ckpt, "fp32")
    for variant, bits in (("int4", 4), ("int8", 8)):
        rel = f"onnx/decoder_model_merged_{variant}.onnx"
        assert manifest["variants"][variant]["decoder_model_merged"] == rel
        # The embedding table and the vision encoder stay fp32: the same files as the fp32 variant.
        assert manifest["variants"][variant]["embed_tokens"] == manifest["variants"]["fp32"]["embed_tokens"]
        assert manifest["variants"][variant]["vision_encoder"] == manifest["variants"]["fp32"]["vision_encoder"]
        assert manifest["files"][rel]["sha256"] == sha256_file(ckpt / rel)
        assert manifest["quantization"][variant]["bits"] == bits
        graph = onnx.load(str(ckpt / rel))
        assert any(n.op_type == "MatMulNBits" for n in graph.graph.node)
        assert (ckpt / rel).stat().st_size < (ckpt / "onnx/decoder_model_merged.onnx").stat().st_size
        logits = _decoder_logits(ckpt, variant)
        assert np.isfinite(logits).all()
        # Same argmax and small drift: 8 bits barely moves the logits, 4 bits more.
        drift = float(np.abs(logits - fp32).max())
        assert drift < (0.05 if bits == 8 else 0.5) * float(np.abs(fp32).max()), (variant, drift)
    assert checkpoint.root == ckpt


def test_quantizing_needs_the_fp32_variant(ckpt: pathlib.Path) -> None:
    from r1judge_train.export.quantize import add_quantized_variants

    edit_manifest(ckpt, lambda m: m["variants"].update(fp16=m["variants"].pop("fp32")))
    with pytest.raises(ValueError, match=r"variants\.fp32"):
        add_quantized_variants(ckpt, ("int4",))
