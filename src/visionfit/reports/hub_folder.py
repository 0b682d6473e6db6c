"""`visionfit export RUN --format hf`: a folder `huggingface-cli upload` can push as a model repo.

It holds README.md (the model card: the Hugging Face Hub shows a repo's README.md as its card),
the bundle visionfit loads (model.json, model.safetensors, config.yaml, classes.json; a k-fold
run's fold models in their fold folders), and an ONNX export with its export.json under onnx/
(checked as `visionfit export` checks every export), so the card's snippets work from the folder.
Nothing is overwritten: an existing, non-empty target folder is an error.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from visionfit.errors import RunError
from visionfit.fileio import atomic_write_text
from visionfit.inference.export import export_run
from visionfit.reports.model_card import card_run_path, has_network, model_card_text
from visionfit.runs import files
from visionfit.runs.view import RunView

_EXPORT_FIRST = " (after `visionfit export .`, which writes them)"  # the folder has onnx/ already
BUNDLE_FILES = (files.MODEL_META, files.WEIGHTS, files.CONFIG, files.CLASSES)


@dataclass
class HubFolder:
    path: Path
    files: list[str]
    card_from_run: bool  # README.md is the run's (possibly edited) MODEL_CARD.md

    def summary(self) -> str:
        card = (
            "README.md is the run's MODEL_CARD.md"
            if self.card_from_run
            else "README.md is a new model card"
        )
        return (
            f"wrote {self.path}: {len(self.files)} files ({card}; fill in its intended use "
            f"before you publish it)\n  push it: huggingface-cli upload USER/NAME {self.path} ."
        )


def write_hub_folder(run_dir: str | Path, out: Path | None = None, **export_options) -> HubFolder:
    run = RunView.open(run_dir)
    if not has_network(run):
        raise RunError(f"{run.path} has no network to publish (a pixel baseline keeps none)")
    target = Path(out) if out is not None else run.path / "export" / "hf"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RunError(f"{target} exists and is never overwritten: remove it or pass --out")
    copied = _bundle_names(run)
    for name in copied:
        _copy(run.path / name, target / name)
    export_run(run.path, "onnx", target / "onnx", **export_options)
    copied += [f"onnx/{p.name}" for p in sorted((target / "onnx").iterdir())]
    card = run.file(files.MODEL_CARD)
    if card.is_file():  # the user may have filled in its gaps: keep them, point it at "."
        named = card_run_path(run)
        text = files.read_text(card).replace(f"{named}/export/onnx", "onnx")
        text = text.replace(named, ".").replace(_EXPORT_FIRST, "")
    else:
        text = model_card_text(run, model_path=".", onnx_dir="onnx")
    atomic_write_text(target / "README.md", text)
    return HubFolder(target, [*copied, "README.md"], card.is_file())


def _bundle_names(run: RunView) -> list[str]:
    names = [n for n in BUNDLE_FILES if run.file(n).is_file()]
    for member in run.meta.get("members") or []:  # a k-fold run: its fold bundles
        names += [f"{member}/{n}" for n in (files.MODEL_META, files.WEIGHTS)]
    return names


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise RunError(f"{src} is missing: the run's bundle is incomplete")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
