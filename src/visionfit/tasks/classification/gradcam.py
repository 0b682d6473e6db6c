"""plots/gradcam.png: where the network looks (Grad-CAM, the `grad-cam` package) for a few
validation images it gets right and a few it gets wrong, for the class it predicted.

The target layer is found for any network by running it once: the last module (in execution
order) whose output is a feature map with more than one pixel, i.e. the last convolutional stage
before global pooling. That holds for timm backbones, the built-in nets and fold ensembles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from visionfit.data.io import ImageDecodeError, decode_image
from visionfit.data.transforms import eval_transforms
from visionfit.plots import figure as _plot
from visionfit.plots.sections import ReportContext
from visionfit.plots.tiles import grid
from visionfit.tasks.classification.report_data import shown_predictions

N_RIGHT = 4
N_WRONG = 4


def find_target_layer(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The last module whose output is an (N, C, H, W) map with H * W > 1."""
    seen: list[tuple[nn.Module, tuple]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: seen.append((mod, tuple(out.shape))))
        for m in model.modules()
        if m is not model
    ]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    maps = [m for m, shape in seen if len(shape) == 4 and shape[2] * shape[3] > 1]
    maps = maps or [m for m, shape in seen if len(shape) == 4]
    if not maps:
        raise ValueError("no convolutional feature map found for Grad-CAM in this network")
    return maps[-1]


class _ClassTarget:
    """Grad-CAM target: the score of class `index`; a single-logit binary net's logit counts
    for class 1 and its negation for class 0."""

    def __init__(self, index: int):
        self.index = index

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        flat = output.reshape(-1)
        if flat.numel() == 1:
            return flat[0] if self.index == 1 else -flat[0]
        return flat[self.index]


def _choose(df, n_right: int, n_wrong: int):
    right = df[df["pred"] == df["label"]]
    wrong = df[df["pred"] != df["label"]]
    return list(right.head(n_right).itertuples()) + list(wrong.head(n_wrong).itertuples())


def plot_gradcam(ctx: ReportContext) -> Path | None:
    run = ctx.run
    df = shown_predictions(ctx)
    if df is None or not run.has_model():
        return None
    if run.meta.get("kind") == "baseline":  # a scikit-learn pipeline: no network to look into
        return None
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image

    predictor = ctx.predictor()
    meta = predictor.meta
    # resize + normalise exactly as prediction does
    transform = eval_transforms(meta)
    in_chans = int(meta.get("in_chans", 3))
    model = predictor.model.eval()
    index = {c: i for i, c in enumerate(predictor.classes)}
    tiles = []
    with GradCAM(model=model, target_layers=[_target(model, meta)]) as cam:
        for r in _choose(df, N_RIGHT, N_WRONG):
            try:  # fed to the model as predict does (16-bit data: its values)
                img = decode_image(r.image, in_chans=in_chans)
            except ImageDecodeError:
                continue
            x = transform(image=img)["image"]
            x = x.unsqueeze(0) if x.ndim == 3 else x[None, None]
            heat = cam(input_tensor=x.float(), targets=[_ClassTarget(index[r.pred])])[0]
            shown = _plot.denormalise(x[0], meta["mean"], meta["std"])
            shown = _plot.to_rgb(shown).astype(np.float32) / 255
            overlay = show_cam_on_image(shown, heat, use_rgb=True, image_weight=0.55)
            mark = "right" if r.pred == r.label else "WRONG"
            tiles += [(shown, f"true {r.label}"), (overlay, f"{mark}: pred {r.pred}")]
    rows = [tiles[i : i + 8] for i in range(0, len(tiles), 8)]
    title = "Grad-CAM for the predicted class (left: input, right: heat map; red = most evidence)"
    return grid(rows, ctx.plots_dir, "gradcam.png", tile=1.8, title=title, caption_lines=1)


def _target(model: nn.Module, meta: dict) -> nn.Module:
    size, chans = int(meta["img_size"]), int(meta.get("in_chans", 3))
    return find_target_layer(model, torch.zeros(1, chans, size, size))
