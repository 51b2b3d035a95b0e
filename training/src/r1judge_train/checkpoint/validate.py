"""Load-time checks of an r1-judge checkpoint; every error names the file and the field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLTextConfig

from ..data.verdict import VerdictSpec, VerdictSpecError
from ..models.config import UnsupportedConfigError, validate_config
from .manifest import DTYPES, FORMAT_NAME, FORMAT_VERSION, GRAPH_NAMES, MANIFEST_NAME, sha256_file

REQUIRED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


class CheckpointError(ValueError):
    """A checkpoint that cannot be served; `file` and `field` say where."""

    def __init__(self, file: str, field: str, message: str) -> None:
        super().__init__(f"{file}: field '{field}': {message}")
        self.file = file
        self.field = field


@dataclass(frozen=True)
class Checkpoint:
    root: Path
    manifest: dict[str, Any]
    config: Qwen2_5_VLConfig

    @property
    def verdict(self) -> VerdictSpec:
        """The manifest's verdict rule (checked at load): how this judge's samples state their verdict."""
        return VerdictSpec.from_manifest(self.manifest["verdict"])

    def graph_path(self, graph: str, variant: str = "fp32") -> Path:
        return self.root / self.manifest["variants"][variant][graph]

    @property
    def has_vision(self) -> bool:
        return all("vision_encoder" in v for v in self.manifest["variants"].values())


def _read_json(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    if not path.is_file():
        raise CheckpointError(name, "(file)", f"missing from {root}")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(name, "(file)", f"invalid JSON: {err}") from err
    if not isinstance(value, dict):
        raise CheckpointError(name, "(file)", "must hold a JSON object")
    return value


def _require(manifest: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = manifest
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise CheckpointError(MANIFEST_NAME, dotted, "missing")
        value = value[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise CheckpointError(MANIFEST_NAME, dotted, f"expected {getattr(kind, '__name__', kind)}")
    return value


def _check_manifest(manifest: dict[str, Any]) -> None:
    if _require(manifest, "format", str) != FORMAT_NAME:
        raise CheckpointError(MANIFEST_NAME, "format", f"expected {FORMAT_NAME!r}")
    version = _require(manifest, "format_version", int)
    if version != FORMAT_VERSION:
        raise CheckpointError(
            MANIFEST_NAME, "format_version", f"{version} is not supported (expected {FORMAT_VERSION})"
        )
    _require(manifest, "prompt_template", str)
    for field in ("eos_token_ids",):
        _require(manifest, f"tokens.{field}", list)
    for field in ("pad_token_id", "image_pad_token_id"):
        _require(manifest, f"tokens.{field}", int)
    for field in ("num_layers", "num_key_value_heads", "head_dim", "hidden_size", "vocab_size"):
        _require(manifest, f"decoder.{field}", int)
    if "verdict" not in manifest:
        raise CheckpointError(MANIFEST_NAME, "verdict", "missing")
    try:
        VerdictSpec.from_manifest(manifest["verdict"])
    except VerdictSpecError as err:
        raise CheckpointError(MANIFEST_NAME, err.field, err.message) from err
    _require(manifest, "files", dict)  # before the variants, which are looked up in it
    variants = _require(manifest, "variants", dict)
    if not variants:
        raise CheckpointError(MANIFEST_NAME, "variants", "no variant listed")
    for name, variant in variants.items():
        if name not in DTYPES:
            raise CheckpointError(MANIFEST_NAME, f"variants.{name}", f"unknown variant (known: {sorted(DTYPES)})")
        for graph in GRAPH_NAMES[1:]:
            _require(manifest, f"variants.{name}.{graph}", str)
        for graph, rel in variant.items():
            if graph not in GRAPH_NAMES:
                raise CheckpointError(MANIFEST_NAME, f"variants.{name}.{graph}", "unknown graph")
            if rel not in manifest["files"]:
                raise CheckpointError(MANIFEST_NAME, f"variants.{name}.{graph}", f"{rel} is not in 'files'")


def _check_files(root: Path, manifest: dict[str, Any], verify_hashes: bool) -> None:
    files: dict[str, Any] = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise CheckpointError(MANIFEST_NAME, f"files.{name}", "required file not listed")
    for name, entry in files.items():
        path = root / name
        if not path.is_file():
            raise CheckpointError(name, "(file)", f"listed in {MANIFEST_NAME} but missing")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise CheckpointError(MANIFEST_NAME, f"files.{name}.sha256", "missing")
        if path.stat().st_size != entry.get("bytes"):
            raise CheckpointError(name, "(file)", f"{path.stat().st_size} bytes, manifest says {entry.get('bytes')}")
        if verify_hashes and sha256_file(path) != entry["sha256"]:
            raise CheckpointError(name, "(file)", f"sha256 differs from {MANIFEST_NAME} files.{name}.sha256")


def load_checkpoint(root: Path, verify_hashes: bool = True) -> Checkpoint:
    """Validate manifest, files (size and sha256) and config; raise CheckpointError on the first problem."""
    if not root.is_dir():
        raise CheckpointError(str(root), "(directory)", "not a directory")
    manifest = _read_json(root, MANIFEST_NAME)
    _check_manifest(manifest)
    _check_files(root, manifest, verify_hashes)
    raw_config = _read_json(root, "config.json")
    if raw_config.get("model_type") != "qwen2_5_vl":
        raise CheckpointError(
            "config.json", "model_type", f"expected 'qwen2_5_vl', got {raw_config.get('model_type')!r}"
        )
    try:
        config = Qwen2_5_VLConfig.from_dict(raw_config)
        validate_config(config)
    except UnsupportedConfigError as err:
        raise CheckpointError("config.json", err.field, str(err).split(": ", 2)[-1]) from err
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError("config.json", "(file)", f"not a Qwen2.5-VL config: {err}") from err
    text = config.text_config
    if not isinstance(text, Qwen2_5_VLTextConfig):  # from_dict builds one from the dict or the defaults
        raise CheckpointError("config.json", "text_config", f"not a Qwen2.5-VL text config: {type(text).__name__}")
    for field, value in (
        ("num_layers", text.num_hidden_layers),
        ("vocab_size", text.vocab_size),
        ("hidden_size", text.hidden_size),
    ):
        if manifest["decoder"][field] != value:
            raise CheckpointError(
                MANIFEST_NAME,
                f"decoder.{field}",
                f"{manifest['decoder'][field]} but config.json says {value}",
            )
    return Checkpoint(root, manifest, config)
