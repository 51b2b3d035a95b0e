"""Parity tests for the exportable Qwen2.5-VL vision encoder, its ONNX export and the fp16 conversion.

One tiny random model (DEMO_VISION: a window layer then a full-attention layer, window 112 px = 4x4 merged
units) is compared with HF's own `visual(...)` on grids that cover one window, partial windows, several
images in one call and a t=2 grid, all through ONE exported graph.
"""

from __future__ import annotations

import copy
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.export.fp16 import convert_to_fp16
from r1judge_train.export.graph import save_onnx
from r1judge_train.export.vision import ExportableVisionEncoder, export_vision_encoder
from r1judge_train.models.config import SpecialTokenIds, build_config

IDS = SpecialTokenIds(
    endoftext=500, im_start=501, im_end=502, vision_start=503, vision_end=504, image_pad=505, video_pad=506
)

# (t, h, w) in 14-px patches per image; 8 patches = one 112-px window side.
GRIDS: dict[str, list[list[int]]] = {
    "single_4x4": [[1, 4, 4]],
    "one_full_window_8x8": [[1, 8, 8]],
    "partial_4x10": [[1, 4, 10]],
    "partial_10x6": [[1, 10, 6]],
    "partial_6x14": [[1, 6, 14]],
    "three_images": [[1, 4, 10], [1, 6, 4], [1, 2, 2]],
    "video_t2": [[2, 6, 10]],
    "video_and_image": [[2, 8, 8], [1, 12, 18]],
    "big_16x20": [[1, 16, 20]],
}
MULTI_WINDOW = ("big_16x20", "video_and_image", "partial_6x14")


def _inputs(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.tensor(GRIDS[name], dtype=torch.long)  # [n, 3]
    generator = torch.Generator().manual_seed(sum(map(ord, name)))
    num_patches = int((grid[:, 0] * grid[:, 1] * grid[:, 2]).sum())
    return torch.randn(num_patches, 1176, generator=generator), grid  # [N, 1176], [n, 3]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration(build_config(512, IDS)).eval()


@pytest.fixture(scope="module")
def hf_features(model: torch.nn.Module) -> dict[str, np.ndarray]:
    out = {}
    with torch.no_grad():
        for name in GRIDS:
            pixel_values, grid = _inputs(name)
            out[name] = model.model.visual(pixel_values, grid).pooler_output.numpy()  # [N/4, 128]
    return out


@pytest.fixture(scope="module")
def encoder(model: torch.nn.Module) -> ExportableVisionEncoder:
    return ExportableVisionEncoder(model.model.visual).eval()


@pytest.fixture(scope="module")
def onnx_path(model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return export_vision_encoder(model, tmp_path_factory.mktemp("vision") / "vision_encoder.onnx")


@pytest.fixture(scope="module")
def fp32_session(onnx_path: pathlib.Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, name: str, dtype: type = np.float32) -> np.ndarray:
    pixel_values, grid = _inputs(name)
    feed = {"pixel_values": pixel_values.numpy().astype(dtype), "image_grid_thw": grid.numpy()}
    return session.run(["image_features"], feed)[0]


@pytest.mark.parametrize("name", list(GRIDS))
def test_rewrite_matches_hf(encoder: ExportableVisionEncoder, hf_features: dict, name: str) -> None:
    pixel_values, grid = _inputs(name)
    with torch.no_grad():
        ours = encoder(pixel_values, grid).numpy()
    assert ours.shape == hf_features[name].shape
    assert np.abs(ours - hf_features[name]).max() <= 1e-5


def test_all_full_attention_differs(encoder: ExportableVisionEncoder, hf_features: dict) -> None:
    # If window masks were accidentally no-ops the parity test above would still pass; this shows it
    # would not: full attention everywhere moves the output well beyond the parity tolerance.
    full = copy.copy(encoder)
    full.full_layers = frozenset(range(len(encoder.blocks)))
    worst = 0.0
    with torch.no_grad():
        for name in MULTI_WINDOW:
            pixel_values, grid = _inputs(name)
            worst = max(worst, float(np.abs(full(pixel_values, grid).numpy() - hf_features[name]).max()))
    assert worst > 1e-3


def test_onnx_signature_and_size(onnx_path: pathlib.Path) -> None:
    proto = onnx.load(str(onnx_path))
    inputs = {v.name: v.type.tensor_type for v in proto.graph.input}
    outputs = {v.name: v.type.tensor_type for v in proto.graph.output}
    assert list(inputs) == ["pixel_values", "image_grid_thw"]
    assert list(outputs) == ["image_features"]
    assert inputs["pixel_values"].elem_type == onnx.TensorProto.FLOAT
    assert inputs["image_grid_thw"].elem_type == onnx.TensorProto.INT64
    # Patch count and image count are symbolic, not frozen to the export example.
    assert inputs["pixel_values"].shape.dim[0].dim_param
    assert inputs["image_grid_thw"].shape.dim[0].dim_param
    assert not any(node.metadata_props or node.doc_string for node in proto.graph.node)
    assert not onnx_path.with_name(onnx_path.name + ".data").exists()
    assert onnx_path.stat().st_size < 2_000_000


@pytest.mark.parametrize("name", list(GRIDS))
def test_onnx_matches_hf(fp32_session: ort.InferenceSession, hf_features: dict, name: str) -> None:
    ours = _run(fp32_session, name)
    assert ours.shape == hf_features[name].shape
    assert np.abs(ours - hf_features[name]).max() <= 1e-4


def test_external_data_round_trip(onnx_path: pathlib.Path, fp32_session: ort.InferenceSession) -> None:
    path = save_onnx(onnx.load(str(onnx_path)), onnx_path.with_name("external.onnx"), external_data=True)
    assert path.with_name("external.onnx.data").stat().st_size > path.stat().st_size
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(_run(session, "three_images"), _run(fp32_session, "three_images"))


def test_saving_over_its_own_external_data(onnx_path: pathlib.Path, fp32_session: ort.InferenceSession) -> None:
    path = save_onnx(onnx.load(str(onnx_path)), onnx_path.with_name("resaved.onnx"), external_data=True)
    # Still pointing into resaved.onnx.data, which a save replaces: refused, and the file is intact.
    with pytest.raises(ValueError, match="still in their external data file"):
        save_onnx(onnx.load(str(path), load_external_data=False), path, external_data=True)
    # Loaded with its weights, the same graph saves over its own data file.
    save_onnx(onnx.load(str(path)), path, external_data=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(_run(session, "three_images"), _run(fp32_session, "three_images"))


def test_fp16_conversion(onnx_path: pathlib.Path, fp32_session: ort.InferenceSession) -> None:
    path = convert_to_fp16(onnx_path, onnx_path.with_name("vision_encoder_fp16.onnx"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    types = {v.name: v.type for v in (*session.get_inputs(), *session.get_outputs())}
    assert types == {
        "pixel_values": "tensor(float16)",
        "image_grid_thw": "tensor(int64)",
        "image_features": "tensor(float16)",
    }
    worst, scale = 0.0, 0.0
    for name in GRIDS:
        half = _run(session, name, np.float16)
        full = _run(fp32_session, name)
        assert half.dtype == np.float16
        assert np.isfinite(half).all()
        worst = max(worst, float(np.abs(half.astype(np.float32) - full).max()))
        scale = max(scale, float(np.abs(full).max()))
    print(f"fp16 vs fp32: max |d| {worst:.3g}, output scale {scale:.3g}")
    assert worst <= 2e-2 * scale
