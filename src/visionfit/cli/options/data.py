"""The data and segmentation option groups: where the images and labels are, how they split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionfit.cli.options.base import DATA, LABELS, SEGMENT, config_field, config_option, group
from visionfit.cli.options.base import keyed as _keyed
from visionfit.tasks.segmentation import config as _segment_section  # noqa: F401 (registers it)

DataArg = Annotated[
    Path | None,
    _keyed("data.path", typer.Argument(help=config_field("data.path")[0], show_default=False)),
]
Csv = Annotated[Path | None, config_option("data.csv", "--csv", panel=DATA)]
Root = Annotated[Path | None, config_option("data.root", "--root", panel=DATA)]
ImageCol = Annotated[str | None, config_option("data.image_col", "--image-col", panel=DATA)]
LabelCol = Annotated[str | None, config_option("data.label_col", "--label-col", panel=DATA)]
ImageExt = Annotated[str | None, config_option("data.image_ext", "--image-ext", panel=DATA)]
Task = Annotated[str | None, config_option("data.task", "--task", panel=DATA)]
DataFormat = Annotated[str | None, config_option("data.format", "--format", panel=DATA)]
LabelMode = Annotated[str | None, config_option("data.label_mode", "--label-mode", panel=DATA)]
InChans = Annotated[int | None, config_option("data.in_chans", "--in-chans", panel=DATA)]
MaxPixels = Annotated[int | None, config_option("data.max_pixels", "--max-pixels", panel=DATA)]
Window = Annotated[str | None, config_option("data.window", "--window", panel=DATA)]
LabelCols = Annotated[str | None, config_option("data.label_cols", "--label-cols", panel=LABELS)]
LabelDelim = Annotated[str | None, config_option("data.label_delim", "--label-delim", panel=LABELS)]
ConflictingLabels = Annotated[
    str | None, config_option("data.conflicting_labels", "--conflicting-labels", panel=LABELS)
]
LabelFromName = Annotated[
    str | None, config_option("data.label_from_name", "--label-from-name", panel=LABELS)
]
Exclude = Annotated[Path | None, config_option("data.exclude", "--exclude", panel=LABELS)]
Relabel = Annotated[Path | None, config_option("data.relabel", "--relabel", panel=LABELS)]
# the split
ValFraction = Annotated[
    float | None, config_option("data.val_fraction", "--val-fraction", panel=DATA)
]
TestFraction = Annotated[
    float | None, config_option("data.test_fraction", "--test-fraction", panel=DATA)
]
SplitCol = Annotated[str | None, config_option("data.split_col", "--split-col", panel=DATA)]
NearDuplicates = Annotated[
    bool | None,
    config_option("data.near_duplicates", "--near-duplicates/--no-near-duplicates", panel=DATA),
]
NearDuplicateDistance = Annotated[
    int | None,
    config_option("data.near_duplicate_distance", "--near-duplicate-distance", panel=DATA),
]
GroupNearDuplicates = Annotated[
    bool | None,
    config_option("data.group_near_duplicates", "--group-near-duplicates", panel=DATA),
]
# loading while training
Workers = Annotated[int | None, config_option("data.workers", "--workers", panel=DATA)]
Cache = Annotated[str | None, config_option("data.cache", "--cache", panel=DATA)]

# ---- segmentation ------------------------------------------------------------------------------
Arch = Annotated[str | None, config_option("segment.arch", "--arch", panel=SEGMENT)]
Encoder = Annotated[str | None, config_option("segment.encoder", "--encoder", panel=SEGMENT)]
EncoderWeights = Annotated[
    str | None, config_option("segment.encoder_weights", "--encoder-weights", panel=SEGMENT)
]
Width = Annotated[int | None, config_option("segment.width", "--width", panel=SEGMENT)]
Loss = Annotated[str | None, config_option("segment.loss", "--loss", panel=SEGMENT)]
NumClasses = Annotated[
    int | None, config_option("segment.num_classes", "--num-classes", panel=SEGMENT)
]
ClassNames = Annotated[
    str | None, config_option("segment.class_names", "--class-names", panel=SEGMENT)
]
MaskSuffix = Annotated[
    str | None, config_option("segment.mask_suffix", "--mask-suffix", panel=SEGMENT)
]
ColourMap = Annotated[
    str | None, config_option("segment.colour_map", "--colour-map", panel=SEGMENT)
]
MaskValues = Annotated[
    str | None, config_option("data.mask_values", "--mask-values", panel=SEGMENT)
]
IgnoreIndex = Annotated[
    int | None, config_option("data.ignore_index", "--ignore-index", panel=SEGMENT)
]
IdCol = Annotated[str | None, config_option("segment.id_col", "--id-col", panel=SEGMENT)]
RleCol = Annotated[str | None, config_option("segment.rle_col", "--rle-col", panel=SEGMENT)]
ClassCol = Annotated[str | None, config_option("segment.class_col", "--class-col", panel=SEGMENT)]
RleFormat = Annotated[
    str | None, config_option("segment.rle_format", "--rle-format", panel=SEGMENT)
]
RleOrder = Annotated[str | None, config_option("segment.rle_order", "--rle-order", panel=SEGMENT)]
TunePostprocess = Annotated[
    bool | None,
    config_option(
        "segment.tune_postprocess", "--tune-postprocess/--no-tune-postprocess", panel=SEGMENT
    ),
]
MaskThreshold = Annotated[
    float | None, config_option("segment.threshold", "--mask-threshold", panel=SEGMENT)
]
MinArea = Annotated[float | None, config_option("segment.min_area", "--min-area", panel=SEGMENT)]

# ---- the groups --------------------------------------------------------------------------------
DATA_GROUP = group(
    "data",
    data=DataArg,
    csv=Csv,
    root=Root,
    image_col=ImageCol,
    label_col=LabelCol,
    image_ext=ImageExt,
    task=Task,
    format=DataFormat,
    label_mode=LabelMode,
    label_cols=LabelCols,
    label_delim=LabelDelim,
    conflicting_labels=ConflictingLabels,
    label_from_name=LabelFromName,
    in_chans=InChans,
    max_pixels=MaxPixels,
    window=Window,
)
# Label edits handed back from `visionfit audit` (what train and baseline train on)
EDITS_GROUP = group("label edits", exclude=Exclude, relabel=Relabel)
SPLIT_GROUP = group(
    "split",
    val_fraction=ValFraction,
    test_fraction=TestFraction,
    split_col=SplitCol,
    near_duplicates=NearDuplicates,
    near_duplicate_distance=NearDuplicateDistance,
    group_near_duplicates=GroupNearDuplicates,
)
LOADING_GROUP = group("loading", workers=Workers, cache=Cache)
# What is read from the data: the masks and how they are labelled (check reads these too).
MASKS_GROUP = group(
    "masks",
    num_classes=NumClasses,
    class_names=ClassNames,
    mask_suffix=MaskSuffix,
    colour_map=ColourMap,
    mask_values=MaskValues,
    ignore_index=IgnoreIndex,
    id_col=IdCol,
    rle_col=RleCol,
    class_col=ClassCol,
    rle_format=RleFormat,
    rle_order=RleOrder,
)
# What is trained on them.
SEGMENT_GROUP = group(
    "segment",
    arch=Arch,
    encoder=Encoder,
    encoder_weights=EncoderWeights,
    width=Width,
    loss=Loss,
    tune_postprocess=TunePostprocess,
    mask_threshold=MaskThreshold,
    min_area=MinArea,
)
