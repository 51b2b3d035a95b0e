"""`r1judge-train`: build the demo checkpoint, train (SFT, StableReinforce), export, evaluate, write data."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .demo import DemoRecipe

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .checkpoint.manifest import DTYPES

VARIANT_CHOICES = sorted(DTYPES)

# DemoRecipe fields the `demo` command can change; their defaults live in DemoRecipe only.
RECIPE_OPTIONS: dict[str, tuple[type, str]] = {
    "seed": (int, "seed of the data, the initial weights and the data order"),
    "steps": (int, "optimizer steps"),
    "train_items": (int, "training items"),
    "test_items": (int, "held-out items for the accuracy report"),
    "image_fact_share": (float, "share of image items also trained as bare facts"),
    "image_min_pixels": (int, "images below this many pixels are upscaled"),
}


def demo_recipe(args: argparse.Namespace) -> DemoRecipe:
    """The recipe `demo` builds: options left out keep DemoRecipe's defaults, so `r1judge-train demo`
    alone is the documented build."""
    from .demo import DemoRecipe

    chosen = {name: getattr(args, name) for name in RECIPE_OPTIONS if getattr(args, name) is not None}
    return DemoRecipe(**chosen)


def _demo(args: argparse.Namespace) -> None:
    from .demo import build_demo, refine_demo

    if (args.refine is None) != (args.alpha is None):
        raise SystemExit("demo: --refine and --alpha go together (the RL policy and its weight, chosen on val)")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"demo: --alpha must be in [0, 1], got {args.alpha}")
    if args.refine is None:
        build_demo(demo_recipe(args), args.work_dir, args.out, args.fixtures)
    else:
        refine_demo(demo_recipe(args), args.work_dir, args.refine, args.alpha, args.out, args.fixtures)


def _export(args: argparse.Namespace) -> None:
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .export.checkpoint import export_checkpoint
    from .models.interpolate import RECORD
    from .paths import relative_path

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.model)
    # Relative to where the command ran: no absolute path of this machine in a shipped manifest.
    source = relative_path(args.model, Path.cwd())
    provenance: dict[str, object] = {"made_by": "r1judge-train export", "source": source}
    if (args.model / RECORD).is_file():  # written by `r1judge-train interpolate`, paths relative to `source`
        provenance["interpolation"] = json.loads((args.model / RECORD).read_text())
    # The image settings the model was trained with travel with it (a hub model directory has them).
    saved = args.model / "preprocessor_config.json"
    preprocessor = json.loads(saved.read_text()) if saved.is_file() else None
    tokenizer = args.tokenizer or args.model
    variants = tuple(args.variants)
    export_checkpoint(model, tokenizer, args.out, args.model_id, provenance, variants, preprocessor=preprocessor)
    print(f"exported -> {args.out}")


def _eval(args: argparse.Namespace) -> None:
    """The judge's accuracy as served: `r1judge eval` (repository root) through /judge, one definition."""
    import shutil
    import subprocess

    repo = Path(__file__).resolve().parents[3]
    node = shutil.which("node")
    if node is None or not (repo / "node_modules").is_dir():
        raise SystemExit("r1judge-train eval runs `r1judge eval` (the server's procedure): it needs node and npm ci")
    command = [node, "--import", "tsx", "src/cli.ts", "eval", "--data", str(args.data.resolve())]
    command += ["--model", str(args.checkpoint.resolve()), "--k", str(args.votes), "--seed", str(args.seed)]
    command += ["--out", str(args.out.resolve())]
    if args.limit:
        command += ["--limit", str(args.limit)]
    env = {**os.environ, "R1JUDGE_VARIANT": args.variant}
    raise SystemExit(subprocess.call(command, cwd=repo, env=env))


def _data(args: argparse.Namespace) -> None:
    from .data.records import write_dataset

    sizes = {"train": args.train, "val": args.val, "test": args.test}
    for split, path in write_dataset(args.out, sizes, args.seed, args.image_share).items():
        print(f"{split}: {sizes[split]} items -> {path}")


def _fixtures(args: argparse.Namespace) -> None:
    from .export.fixtures import write_fixtures

    for path in write_fixtures(args.checkpoint, args.out):
        print(f"wrote {path}")


def _add_new_kv(args: argparse.Namespace) -> None:
    from .export.new_kv import add_new_kv_to_checkpoint

    changed = add_new_kv_to_checkpoint(args.checkpoint)
    print("\n".join(f"added new_key_values outputs: {c}" for c in changed) or "nothing to do: already there")


def _rl(args: argparse.Namespace) -> None:
    from .rl_run import load_run, read_yaml, run_rl

    overrides: dict[str, Any] = {}
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE, e.g. trainer.learning_rate=1e-4")
        overrides[key] = read_yaml(value)
    if args.max_steps is not None:
        overrides["trainer.max_steps"] = args.max_steps
    summary = run_rl(load_run(args.config, overrides), resume=not args.fresh)
    print(json.dumps(summary, indent=2))


def _sft(args: argparse.Namespace) -> None:
    from .sft_run import load_sft_run, run_sft

    print(json.dumps(run_sft(load_sft_run(args.config)), indent=2))


def _stability(args: argparse.Namespace) -> None:
    from .rl_run import load_run
    from .stability import VARIANTS, plot_stability, read_metrics, run_stability, variant_run

    if args.plot_only:
        run = load_run(args.config)
        metrics = {name: variant_run(run, name).output_dir / "metrics.jsonl" for name in VARIANTS}
    else:
        metrics = run_stability(args.config)
    summary = plot_stability({k: v for k, v in metrics.items() if v.is_file() and read_metrics(v)}, args.plot)
    print(json.dumps(summary, indent=2))


def _select_hard(args: argparse.Namespace) -> None:
    from .checkpoint.validate import load_checkpoint
    from .data.records import read_dataset
    from .eval.accuracy import hard_items
    from .export.ort_model import OnnxJudgeModel

    model = OnnxJudgeModel(load_checkpoint(args.checkpoint))
    items = read_dataset(args.data)[: args.limit or None]
    ids = hard_items(model, items, args.data.parent, k=args.votes, temperature=args.temperature, seed=args.seed)
    args.out.write_text(json.dumps(ids) + "\n")
    print(f"{len(ids)} of {len(items)} items wrong in at least one of {args.votes} samples -> {args.out}")


def _quantize(args: argparse.Namespace) -> None:
    from .export.quantize import add_quantized_variants

    block = {} if args.block_size is None else {"block_size": args.block_size}
    checkpoint = add_quantized_variants(args.checkpoint, tuple(args.variants), **block)
    print(f"{', '.join(args.variants)} decoder variants -> {checkpoint.root}")


def _interpolate(args: argparse.Namespace) -> None:
    from .models.interpolate import interpolate_models

    out = interpolate_models(args.base, args.tuned, args.alpha, args.out, args.preprocessor)
    print(f"(1 - {args.alpha}) * {args.base} + {args.alpha} * {args.tuned} -> {out}")


def _random(args: argparse.Namespace) -> None:
    from .random_model import build_random_checkpoint

    build_random_checkpoint(args.shape, args.tokenizer, args.out, args.seed, tuple(args.variants))
    print(f"random {args.shape} checkpoint -> {args.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r1judge-train", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build models/demo: data, tokenizer, SFT, export, accuracy")
    demo.add_argument("--out", type=Path, default=Path("../models/demo"))
    demo.add_argument("--work-dir", type=Path, default=Path("runs/demo"))
    demo.add_argument("--fixtures", type=Path, default=Path("../test/fixtures/golden"))
    for name, (kind, text) in RECIPE_OPTIONS.items():
        demo.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{text} (default: the recipe's)")
    demo.add_argument(
        "--refine",
        type=Path,
        metavar="TUNED",
        help="ship WORK_DIR's SFT judge interpolated with this RL policy (a run's final/) instead of training one",
    )
    demo.add_argument("--alpha", type=float, help="with --refine: the weight of TUNED, chosen on the val split")
    demo.set_defaults(run=_demo)

    export = sub.add_parser("export", help="export a saved Qwen2.5-VL model into an r1-judge checkpoint")
    export.add_argument("model", type=Path, help="directory written by save_pretrained")
    export.add_argument("out", type=Path)
    export.add_argument("--tokenizer", type=Path, help="directory with tokenizer.json (default: the model's)")
    export.add_argument("--model-id", default="r1judge-model")
    export.add_argument("--variants", nargs="+", default=["fp32", "fp16"], choices=VARIANT_CHOICES)
    export.set_defaults(run=_export)

    interp = sub.add_parser(
        "interpolate", help="weights (1 - alpha) * BASE + alpha * TUNED: an RL policy pulled back toward its SFT start"
    )
    interp.add_argument("base", type=Path, help="save_pretrained directory of the starting model (e.g. the SFT policy)")
    interp.add_argument("tuned", type=Path, help="save_pretrained directory of its fine-tuned descendant (e.g. RL)")
    interp.add_argument("out", type=Path)
    interp.add_argument("--alpha", type=float, required=True, help="weight of TUNED, in [0, 1]; choose it on val")
    interp.add_argument("--preprocessor", type=Path, help="preprocessor_config.json to carry (export reads it)")
    interp.set_defaults(run=_interpolate)

    quant = sub.add_parser("quantize", help="add int4/int8 weight-only quantized decoder variants to a checkpoint")
    quant.add_argument("checkpoint", type=Path)
    quant.add_argument("--variants", nargs="+", default=["int4", "int8"], choices=["int4", "int8"])
    quant.add_argument("--block-size", type=int, help="input rows sharing one scale (default: export/quantize.py's)")
    quant.set_defaults(run=_quantize)

    ev = sub.add_parser(
        "eval", help="accuracy of a checkpoint as served: runs `r1judge eval` (Voting@K through /judge)"
    )
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("data", type=Path)
    ev.add_argument("--variant", default="fp32", choices=VARIANT_CHOICES)
    ev.add_argument("--votes", type=int, default=15, help="samples per item (Voting@K for every K up to it)")
    ev.add_argument("--limit", type=int, default=0)
    ev.add_argument("--seed", type=int, default=1)
    ev.add_argument("--out", type=Path, default=Path("eval-out"))
    ev.set_defaults(run=_eval)

    data = sub.add_parser("data", help="write the demo judging dataset (JSONL + PNG)")
    data.add_argument("out", type=Path)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--image-share", type=float, default=0.5)
    data.add_argument("--train", type=int, default=4000)
    data.add_argument("--val", type=int, default=400)
    data.add_argument("--test", type=int, default=400)
    data.set_defaults(run=_data)

    rl = sub.add_parser("rl", help="StableReinforce (or REINFORCE++) from a YAML run file")
    rl.add_argument("--config", type=Path, required=True, help="the run file (see rl_run.py and configs/)")
    rl.add_argument("--max-steps", type=int, help="override trainer.max_steps")
    rl.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a run-file key (dotted, YAML value): trainer.pre_clip=false, output_dir=../runs/x",
    )
    rl.add_argument("--fresh", action="store_true", help="do not resume from the newest checkpoint in output_dir")
    rl.set_defaults(run=_rl)

    sft = sub.add_parser("sft", help="the SFT cold start from a YAML run file")
    sft.add_argument("--config", type=Path, required=True)
    sft.set_defaults(run=_sft)

    stab = sub.add_parser("stability", help="REINFORCE++ vs StableReinforce from one run file, plotted")
    stab.add_argument("--config", type=Path, required=True)
    stab.add_argument("--plot", type=Path, default=Path("../docs/stability.png"))
    stab.add_argument("--plot-only", action="store_true", help="plot the metrics of an earlier run")
    stab.set_defaults(run=_stability)

    hard = sub.add_parser("select-hard", help="ids of the items a checkpoint gets wrong in some of K samples")
    hard.add_argument("checkpoint", type=Path)
    hard.add_argument("data", type=Path)
    hard.add_argument("out", type=Path, help="JSON list of ids (the run file's hard_items)")
    hard.add_argument("--votes", type=int, default=8)
    hard.add_argument("--temperature", type=float, default=1.0)
    hard.add_argument("--limit", type=int, default=0)
    hard.add_argument("--seed", type=int, default=0)
    hard.set_defaults(run=_select_hard)

    rnd = sub.add_parser("random", help="a random-weight checkpoint of a real model shape, for benchmarks")
    rnd.add_argument("out", type=Path)
    rnd.add_argument("--shape", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b"])
    rnd.add_argument("--tokenizer", type=Path, required=True, help="directory with a Qwen tokenizer.json")
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument("--variants", nargs="+", default=["fp32"], choices=VARIANT_CHOICES)
    rnd.set_defaults(run=_random)

    fx = sub.add_parser("fixtures", help="golden fixtures for the TypeScript engine from a checkpoint")
    fx.add_argument("checkpoint", type=Path)
    fx.add_argument("out", type=Path)
    fx.set_defaults(run=_fixtures)

    nk = sub.add_parser("add-new-kv", help="give a checkpoint's decoder graphs the new_key_values outputs, in place")
    nk.add_argument("checkpoint", type=Path)
    nk.set_defaults(run=_add_new_kv)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
