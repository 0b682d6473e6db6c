"""Segmentation predictions (`MaskPredictions`): masks at each image's original size, mask PNGs,
overlays, the RLE CSV in the training data's own format, the server's JSON, and scores against
true masks."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from visionfit.data.highbit import display_rgb
from visionfit.data.io import decode_image
from visionfit.data.masks import MaskSpec
from visionfit.data.rle import rle_encode
from visionfit.errors import DataError
from visionfit.fileio import create_exclusive
from visionfit.plots.palette import PALETTE
from visionfit.tasks.base import Predictions, PredictOutputs, ProbBatch
from visionfit.tasks.segmentation.formats_out import check_format, rle_table, write_voc_pngs
from visionfit.tasks.segmentation.metrics import image_stats, scored_pixels, summarise
from visionfit.tasks.segmentation.postprocess import postprocess_binary
from visionfit.tasks.segmentation.scoring import image_scores, truth_reader
from visionfit.tasks.segmentation.sources import RleInfo


@dataclass
class MaskHead:
    """How a segmentation run turns probabilities into masks and writes them (from model.json)."""

    num_classes: int
    threshold: float
    min_area: float
    rle: RleInfo
    spec: MaskSpec | None
    mask_suffix: str = ""
    padded: bool = False  # --resize pad: the image sat in a centred square (data/preprocess.py)
    source: dict = field(default_factory=dict)  # the annotation format trained on (COCO ids)

    @classmethod
    def from_meta(cls, meta: dict) -> MaskHead:
        return cls(
            num_classes=int(meta["num_classes"]),
            threshold=float(meta.get("threshold", 0.5)),
            min_area=float(meta.get("min_area", 0.0)),
            rle=RleInfo.from_json(meta.get("rle")),
            spec=MaskSpec.from_json(meta["mask_spec"]) if meta.get("mask_spec") else None,
            mask_suffix=meta.get("mask_suffix", ""),
            padded=meta.get("resize") == "pad",
            source=dict(meta.get("source") or {}),
        )

    def png_values(self, mask: np.ndarray) -> np.ndarray:
        """A class-index mask as its PNG holds it: binary foreground 255 (1 when 255 is the
        masks' ignore value, so that a written mask never holds the ignore value), class
        indices otherwise."""
        if self.num_classes != 2:
            return mask.astype(np.uint8)
        fg = 1 if self.spec is not None and self.spec.ignore_value == 255 else 255
        return (mask * fg).astype(np.uint8)

    def to_mask(self, probs: torch.Tensor, h: int, w: int) -> tuple[np.ndarray, float]:
        """Class-index mask at (h, w) from one image's (K, h', w') probabilities, and its largest
        foreground probability (binary; NaN otherwise)."""
        if self.padded:
            probs = unpad(probs, h, w)
        up = F.interpolate(probs[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        if self.num_classes == 2:
            fg = up[1].numpy()
            return postprocess_binary(fg, self.threshold, self.min_area), float(probs[1].max())
        return up.argmax(0).numpy().astype(np.uint8), float("nan")


def unpad(probs: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The part of (K, s, s) model-size maps an (h, w) image filled after `--resize pad` put it
    in a centred square (the maps may be smaller than the input: valid convolutions)."""
    s = probs.shape[-1]
    nh, nw = max(1, round(s * h / max(h, w))), max(1, round(s * w / max(h, w)))
    top, left = (s - nh) // 2, (s - nw) // 2
    return probs[:, top : top + nh, left : left + nw]


@dataclass
class MaskPredictions(Predictions):
    """Class-index masks at each image's original size (uint8; None for an unreadable input),
    their largest foreground probability (binary; NaN otherwise) and the RLE of every
    foreground class in the training data's format. `light()` drops the masks once their files
    are written; the RLE rows stay."""

    view = "mask"
    batch_size = 8
    score_note = "dice: mean over images of 2|P&T|/(|P|+|T|), empty/empty = 1"

    shared_fields = ("head", "classes")
    coco_ids: ClassVar[int] = 0  # --format coco: entries given their annotation file's image id

    items: list
    names: list[str]  # file stems: mask and overlay file names
    ids: list[str]  # the RLE CSV's image ids
    errors: list[str]
    max_prob: list[float]
    rles: list[list[str]]  # per input, one RLE per foreground class (class 1 for binary)
    head: MaskHead
    classes: list[str]
    masks: list[np.ndarray | None] | None = None  # None once `light()`
    coco: list[list[dict]] | None = None  # --format coco: each input's results entries

    @classmethod
    def from_batch(cls, predictor, batch: ProbBatch) -> MaskPredictions:
        head: MaskHead = predictor.head
        info = head.rle
        masks: list[np.ndarray | None] = []
        max_prob: list[float] = []
        for j, err in enumerate(batch.errors):
            if err:
                masks.append(None)
                max_prob.append(float("nan"))
                continue
            m, mp = head.to_mask(batch.probs[j], *batch.sizes[j])
            masks.append(m)
            max_prob.append(mp)
        fg = [1] if head.num_classes == 2 else list(range(1, head.num_classes))
        rles = [
            [
                info.empty
                if m is None
                else rle_encode(m == c, fmt=info.fmt, order=info.order, empty=info.empty)
                for c in fg
            ]
            for m in masks
        ]
        idx = range(batch.start, batch.start + len(batch.items))
        return cls(
            items=list(batch.items),
            names=[_stem(x, i) for x, i in zip(batch.items, idx, strict=True)],
            ids=[_image_id(x, i, info.id_with_ext) for x, i in zip(batch.items, idx, strict=True)],
            errors=list(batch.errors),
            max_prob=max_prob,
            rles=rles,
            head=head,
            classes=list(predictor.classes),
            masks=masks,
        )

    @classmethod
    def prepare(cls, outputs: PredictOutputs, items: Sequence, where: str) -> PredictOutputs:
        """The CLI writes mask PNGs by default (next to the CSV); folders must be new or empty
        and input names distinct; the scores file is never overwritten."""
        if outputs.format in ("coco", "yolo"):  # the format's files instead of CSV + PNGs
            from visionfit.tasks.segmentation.write_formats import check_format_out

            check_format_out(
                outputs.format, outputs.out, [_stem(x, i) for i, x in enumerate(items)]
            )
        elif outputs.format is not None:
            check_format(outputs.format)
        elif outputs.masks_dir is None and outputs.out is not None:
            outputs = replace(outputs, masks_dir=outputs.out.with_name(outputs.out.stem + "_masks"))
        scores = outputs.scores_csv
        if scores is not None and scores.exists():
            raise DataError(f"{scores} exists; choose another --out")
        if outputs.truth is not None and not Path(outputs.truth).exists():
            raise DataError(f"truth not found: {outputs.truth} (an RLE CSV or a folder of masks)")
        if outputs.masks_dir is not None and outputs.overlays_dir is not None:
            if Path(outputs.masks_dir).resolve() == Path(outputs.overlays_dir).resolve():
                raise DataError(
                    f"--masks-dir and --overlays-dir are both {outputs.overlays_dir}: the "
                    "overlays would replace the masks; give them different folders"
                )
        names = [_stem(x, i) for i, x in enumerate(items)]
        voc_dir = outputs.out if outputs.format == "voc" else None
        for folder in (outputs.masks_dir, outputs.overlays_dir, voc_dir):
            if folder is not None:
                _prepare_out_dir(Path(folder), names)
        return outputs

    def light(self) -> MaskPredictions:
        return replace(self, masks=None)

    def write_files(self, outputs: PredictOutputs) -> None:
        """Mask PNGs (MaskHead.png_values) and overlays of this batch."""
        if outputs.masks_dir is not None:
            self.write_masks(outputs.masks_dir)
        if outputs.overlays_dir is not None:
            self.write_overlays(outputs.overlays_dir)
        if outputs.format == "voc" and outputs.out is not None:
            write_voc_pngs(outputs.out, self.names, self._masks())
        if outputs.format == "yolo":
            from visionfit.tasks.segmentation.write_formats import write_yolo_files

            write_yolo_files(outputs.out, self.names, self._masks(), self.head.num_classes)
        elif outputs.format == "coco":  # kept (light() keeps them) for `table`
            from visionfit.tasks.segmentation.write_formats import coco_entries

            self.coco = [
                [] if m is None else coco_entries(x, m, self.head, p if np.isfinite(p) else 1.0)
                for x, m, p in zip(self.items, self._masks(), self.max_prob, strict=True)
            ]

    def table(self, outputs: PredictOutputs) -> pd.DataFrame | None:
        """--format voc, yolo: None (the files are written batch by batch); coco: None once the
        results JSON is written; rle: one row per image and predicted class
        (tasks/segmentation/formats_out.py); else `to_frame()`."""
        if outputs.format in ("voc", "yolo"):
            return None
        if outputs.format == "coco":
            from visionfit.tasks.segmentation.write_formats import write_coco

            entries = [e for per_image in self.coco or [] for e in per_image]
            self.coco_ids = write_coco(outputs.out, entries, self.head.source)
            return None
        if outputs.format == "rle":
            return rle_table(self.ids, self.rles, self.errors, self.head.rle)
        return self.to_frame()

    def write_masks(self, folder: str | Path) -> None:
        for name, mask in zip(self.names, self._masks(), strict=True):
            if mask is not None:
                _write_png(Path(folder) / f"{name}.png", self.head.png_values(mask), "--masks-dir")

    def write_overlays(self, folder: str | Path) -> None:
        for item, name, mask in zip(self.items, self.names, self._masks(), strict=True):
            if mask is not None:
                _write_png(Path(folder) / f"{name}.png", overlay(item, mask), "--overlays-dir")

    def to_frame(self) -> pd.DataFrame:
        """The RLE table in the training data's format.

        Binary: columns `<id_col>, <rle_col>` (ImageId, EncodedPixels by default), one row per
        image, the id being the file name without extension (with it when the training CSV's
        ids had one). Multi-class: `<id_col>, ClassId, <rle_col>`, one row per image and
        foreground class. An unreadable input gets an empty mask and its reason in an `error`
        column."""
        info, k = self.head.rle, self.head.num_classes
        with_errors = any(self.errors)
        rows = []
        for image_id, rles, err in zip(self.ids, self.rles, self.errors, strict=True):
            for c, rle in enumerate(rles, start=1):
                row: dict = {info.id_col: image_id}
                if k > 2:
                    row[info.class_col or "ClassId"] = c
                row[info.rle_col] = rle
                if with_errors:
                    row["error"] = err
                rows.append(row)
        return pd.DataFrame(rows)

    def to_json(self, i: int) -> dict:
        """/predict's answer: the mask as RLE, PNG and tinted overlay, and its pixel counts."""
        mask = np.asarray(self._masks()[i]).astype(np.uint8)
        info = self.head.rle
        counts = np.bincount(mask.reshape(-1), minlength=len(self.classes))
        mp = self.max_prob[i]
        return {
            "view": self.view,
            "size": [int(mask.shape[1]), int(mask.shape[0])],
            "rle": rle_encode(mask, fmt=info.fmt, order=info.order, empty=info.empty),
            "foreground_share": float((mask > 0).mean()),
            "pixels_per_class": {c: int(n) for c, n in zip(self.classes, counts, strict=False)},
            "max_prob": None if not np.isfinite(mp) else float(mp),
            "mask_png": _png_b64(self.head.png_values(mask)),
            "overlay_png": _png_b64(_overlay_rgba(mask)),
        }

    def console_lines(self, outputs: PredictOutputs) -> list[str]:
        if outputs.format == "voc":
            return [f"wrote {len(self) - self.n_failed} palette PNGs (VOC) to {outputs.out}"]
        if outputs.format == "rle":
            n = len(self.table(outputs))
            return [f"wrote {n} RLE rows (one per image and predicted class) to {outputs.out}"]
        if outputs.format == "coco":
            n = sum(len(e) for e in self.coco or [])
            known = self.coco_ids
            return [
                f"wrote {n} COCO results ({len(self) - self.n_failed} images; {known} with the "
                f"image id of the run's annotation file, the rest by file name) to {outputs.out}"
            ]
        if outputs.format == "yolo":
            return [f"wrote {len(self) - self.n_failed} YOLO label files to {outputs.out}"]
        frame = self.to_frame()
        info = self.head.rle
        n_empty = int((frame[info.rle_col].astype(str) == info.empty).sum()) if len(frame) else 0
        where = f"{len(self) - self.n_failed} masks to {outputs.masks_dir} and "
        return [
            f"wrote {where if outputs.masks_dir else ''}{len(frame)} RLE rows to {outputs.out} "
            f"({n_empty} empty)"
            + (f"; overlays in {outputs.overlays_dir}" if outputs.overlays_dir else "")
        ]

    def score(self, truth: str | Path) -> tuple[dict[str, float], pd.DataFrame]:
        """Score the masks against true ones: an RLE CSV in the run's format (its id and RLE
        columns; ids matched by file name without extension) or a folder of mask files
        (`<stem><mask suffix>.*`, read with the run's mask convention).

        Returns the metrics of tasks/segmentation/metrics.py and one row per scored image.
        Inputs without a true mask are left out and counted in `unmatched`."""
        truth = Path(truth)
        true_mask = truth_reader(truth, self.head)
        k = self.head.num_classes
        masks = self._masks()
        stats, table, correct, pixels, max_prob = [], [], 0, 0, []
        for item, stem, mask, mp in zip(self.items, self.names, masks, self.max_prob, strict=True):
            t = None if mask is None else true_mask(stem, mask.shape)
            if t is None:
                continue
            if t.shape != mask.shape:
                raise DataError(
                    f"true mask of {stem} is {t.shape[::-1]}, the image {mask.shape[::-1]}"
                )
            ignore = self.head.spec.class_ignore if self.head.spec else None
            s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(t)[None], k, ignore)
            stats.append(s)
            right, scored = scored_pixels(mask, t, ignore)
            correct, pixels = correct + right, pixels + scored
            max_prob.append(mp)
            table.append({"image": str(item), **image_scores(s)})
        if not stats:
            raise DataError(f"no predicted image has a true mask in {truth} (matched by file stem)")
        scores = summarise(
            np.concatenate(stats),
            correct,
            pixels,
            self.classes,
            np.asarray(max_prob) if k == 2 else None,
        )
        scores["scored"] = float(len(stats))
        scores["unmatched"] = float(sum(m is not None for m in masks) - len(stats))
        return scores, pd.DataFrame(table)

    def _masks(self) -> list[np.ndarray | None]:
        if self.masks is None:
            raise DataError("these predictions kept no masks (predict with keep=True)")
        return self.masks


def _stem(item, i: int) -> str:
    return Path(item).stem if isinstance(item, (str, Path)) else f"input_{i:05d}"


def _image_id(item, i: int, with_ext: bool) -> str:
    if isinstance(item, (str, Path)):
        return Path(item).name if with_ext else Path(item).stem
    return f"input_{i:05d}"


def _prepare_out_dir(folder: Path, names: list[str]) -> None:
    """Refuse to overwrite: the folder must be new or empty, and output names unique."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dup = [n for n, c in seen.items() if c > 1]
    if dup:
        raise DataError(
            f"{len(dup)} input names occur twice (e.g. {dup[0]!r}); mask files are named after "
            "the input file name, so give inputs with distinct names"
        )
    if folder.exists() and any(folder.iterdir()):
        raise DataError(f"{folder} is not empty; choose a new folder (files are never overwritten)")
    folder.mkdir(parents=True, exist_ok=True)


def _write_png(path: Path, arr: np.ndarray, flag: str) -> None:
    """A new file only: a second `predict` writing into the same folder cannot replace it."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    create_exclusive(path, buf.getvalue(), flag=flag)


_PALETTE = np.array(
    [
        [0, 0, 0],
        [255, 40, 40],
        [40, 200, 60],
        [50, 120, 255],
        [255, 200, 0],
        [200, 60, 255],
        [0, 220, 220],
        [255, 120, 180],
    ],
    dtype=np.float32,
)


def overlay(item, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image (RGB) with each foreground class tinted in its own colour."""
    img = display_rgb(decode_image(item, in_chans=None)).astype(np.float32)
    colours = _PALETTE[np.minimum(mask, len(_PALETTE) - 1)]
    colours[mask >= len(_PALETTE)] = _PALETTE[-1]
    fg = (mask > 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * img + alpha * colours, img)
    return np.clip(out, 0, 255).astype(np.uint8)


def _overlay_rgba(mask: np.ndarray) -> np.ndarray:
    """The mask as an RGBA layer: each class in its report colour, background transparent."""
    colours = PALETTE[np.clip(mask, 0, len(PALETTE) - 1)]
    alpha = np.where(mask > 0, 150, 0).astype(np.uint8)[..., None]
    return np.concatenate([colours, alpha], axis=2)


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
