"""Predict digits: a model file's predictor on the fastest runtime, and the command line
``python -m mnist_helpers.predict IMAGE... [--model M] [--json]``, which prints each image's
three most likely digits with their probabilities. Taught in 06.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mnist_helpers.console import quiet_tensorflow
from mnist_helpers.export import export_and_check, export_matches, exported_path
from mnist_helpers.model_file import (
    ModelFileError,
    ModelOutputError,
    check_model_file,
    load_model_safely,
)
from mnist_helpers.paths import runs_dir
from mnist_helpers.preprocess import ImageError, mnist_like
from mnist_helpers.runtimes import PREDICTORS, RUNTIMES, Predictor, choose_runtime, import_runtime


def load_predictor(
    model_path: str | Path, runtime: str = "auto", check_images: np.ndarray | None = None
) -> Predictor:
    """A predictor for the ``.keras`` file ``model_path`` on ``runtime`` (``"auto"``: the
    fastest installed, falling back to the next), with attributes ``runtime`` and ``reason``.
    LiteRT and ONNX read an export made from this very file, else export and check it first
    (on ``check_images``, default: MNIST's test images). Taught in 06."""
    chosen, reason = choose_runtime(runtime)
    model_path = check_model_file(model_path)  # whatever export lies beside it
    candidates = [chosen] if runtime != "auto" else list(RUNTIMES[RUNTIMES.index(chosen) :])
    notes = []
    for candidate in candidates:
        try:
            predictor, how = _load(model_path, candidate, check_images)
            break
        except ModelFileError:  # the model itself cannot be used: no runtime can help
            raise
        except (ImportError, OSError, ValueError, RuntimeError, AssertionError) as err:
            if candidate == candidates[-1]:
                raise
            notes.append(f"{candidate}: {err}")
    predictor.reason = "; ".join([reason if not notes else "fallback", *notes, how])
    return predictor


def _load(model_path: Path, runtime: str, check_images) -> tuple[Predictor, str]:
    """One runtime's predictor, exporting first if needed, and how it was made."""
    if runtime == "keras":
        return Predictor(load_model_safely(model_path), model_path), f"reads {model_path.name}"
    import_runtime(runtime)  # a clear error before any export
    exported = exported_path(model_path, runtime)
    how = f"reads {exported.name}"
    if not export_matches(model_path, runtime):
        check = export_and_check(model_path, runtime, x=check_images)
        how = (
            f"exported {exported.name} now, checked: {check.n_different} of "
            f"{check.n_images:,} predictions differ from {model_path.name}"
        )
    return PREDICTORS[runtime](exported), how


def top_k(probabilities: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The ``k`` most likely digits and their probabilities, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(d), float(probabilities[d])) for d in order]


def main(argv: list[str] | None = None) -> int:
    """The command line. Exit status 0: every image predicted; 1: some image unreadable (the
    others still predicted); 2: no image, or a model or runtime that cannot be used."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.predict",
        description="Print the top-3 digits, with probabilities, for each image.",
    )
    parser.add_argument("images", nargs="*", type=Path, help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--model", type=Path, help="a .keras file (default: runs/default/model.keras)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--top", type=int, default=3, help="how many digits to show (1-10)")
    parser.add_argument(
        "--runtime",
        choices=("auto", *RUNTIMES),
        default="auto",
        help="the engine that runs the model (default: the fastest installed; litert and onnx "
        "export the model beside it first if needed, see python -m mnist_helpers.export)",
    )
    parser.add_argument("--verbose", action="store_true", help="say which runtime runs, and why")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 10:
        parser.error(f"--top must be from 1 to 10, got {args.top}")
    if not args.images:
        print(
            "predict: no image files given, nothing to predict; name one or more, e.g. "
            "`python -m mnist_helpers.predict samples/pen_3.png`",
            file=sys.stderr,
        )
        if args.json:
            print("[]")
        return 2
    model_path = args.model or runs_dir() / "default" / "model.keras"
    try:
        with quiet_tensorflow():
            predictor = load_predictor(model_path, args.runtime)
    except (OSError, ValueError, ImportError, RuntimeError, AssertionError) as err:
        print(f"predict: {err}", file=sys.stderr)  # a model, runtime or export that cannot be used
        return 2
    if args.verbose:
        print(f"predict: runtime {predictor.runtime} ({predictor.reason})", file=sys.stderr)
    results, failed = [], 0
    for path in args.images:
        try:
            probabilities = predictor(mnist_like(path))[0]
        except ImageError as err:
            print(f"predict: {err}", file=sys.stderr)
            failed += 1
            results.append({"image": str(path), "error": str(err)})
            continue
        except ModelOutputError as err:  # the model, not the image: no answer can be trusted
            print(f"predict: {err}", file=sys.stderr)
            return 2
        best = top_k(probabilities, args.top)
        top = [{"digit": d, "probability": p} for d, p in best]
        results.append({"image": str(path), "top": top})
        if not args.json:
            print(f"{path}: " + "  ".join(f"{d}: {p:6.2%}" for d, p in best))
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
