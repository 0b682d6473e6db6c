"""Options of one command, not config values: predict, serve, export, check, demo, lr-find, tune,
auto, runs and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionfit.cli.options.base import OUTPUT, config_field

Resume = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        help="Continue a killed run in its own directory, from its newest valid checkpoint; "
        "takes no other options.",
        rich_help_panel=OUTPUT,
    ),
]
# predict and serve
RunDir = Annotated[Path, typer.Argument(help="A finished run directory.", show_default=False)]
Inputs = Annotated[
    list[Path], typer.Argument(help="Image files, folders (searched recursively) or CSVs.")
]
PredictOut = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="CSV to write (with --format: a new folder for voc and yolo, a .json for coco).",
    ),
]
PredictFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Segmentation runs: write --out in a dataset format: voc (a new folder of palette "
        "PNGs, <stem>.png, VOC's colours) | rle (ImageId,ClassId,EncodedPixels, one row per "
        "image and predicted class, the run's RLE format: trainable as given) | coco (a COCO "
        "results JSON: compressed RLE per image and class, --out preds.json) | yolo (a new "
        "folder of YOLO polygon label files, one <stem>.txt per image).",
        show_default=False,
    ),
]
PredictBatchSize = Annotated[
    int, typer.Option("--batch-size", help=config_field("train.batch_size")[0])
]
Tta = Annotated[
    bool | None,
    typer.Option(
        "--tta/--no-tta",
        help="Average with the horizontally flipped image (default: as the run says, train.tta).",
        show_default=False,
    ),
]
Budget = Annotated[
    str, typer.Option("--budget", help="Wall-clock budget of the whole command: 90s, 30m, 2h.")
]
Candidates = Annotated[
    str | None,
    typer.Option(
        "--candidates",
        help="Only these candidate networks (name prefixes, comma-separated), e.g. "
        "simple_cnn,efficientnet_lite0.",
    ),
]
AutoResume = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        help="Continue a killed AUTO_DIR: finished stages are kept (--budget: this call's "
        "budget; default: what was left).",
    ),
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="torch, or onnx: onnxruntime on RUN/export/onnx/model.onnx (exported, with its "
        "parity check, when missing).",
    ),
]
ExportFormat = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="onnx, torchscript, or hf: a folder to push to the Hugging Face Hub (README.md = "
        "the model card, the bundle, an ONNX export under onnx/).",
        show_default=True,
    ),
]
ExportOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Folder for the model file and export.json.",
        show_default="RUN/export/<format>",
    ),
]
Opset = Annotated[int | None, typer.Option("--opset", help="ONNX opset (default 17).")]
ParityCheck = Annotated[
    bool,
    typer.Option(
        "--check/--no-check",
        help="Compare the export with PyTorch on sample inputs (max abs difference <= 1e-4).",
    ),
]
CheckImages = Annotated[
    int,
    typer.Option(
        "--check-images",
        help="Also run up to N of the run's validation images (splits.csv val rows; a CV run: "
        "folds.csv) through the exported graph as predict --backend feeds it and through "
        "PyTorch, and print their agreement (0: skip).",
    ),
]
MinAgreement = Annotated[
    float,
    typer.Option(
        "--min-agreement",
        help="Refuse the export (nothing written, exit 2) when the real-image agreement is "
        "below this share: top-1 (binary, multi-label: the decisions per label), mask "
        "pixels, or for regression 1 - largest difference / target std.",
    ),
]
EmbedPreprocessing = Annotated[
    bool,
    typer.Option(
        "--embed-preprocessing",
        help="ONNX: a graph that takes one decoded image, uint8 (height, width, channels) of any "
        "size, with the resize and normalisation inside (default out: RUN/export/onnx-uint8).",
    ),
]
ExportVerify = Annotated[
    Path | None,
    typer.Option(
        "--verify",
        help="Check an existing export folder (export.json + its model file) against the run on "
        "its validation images, as at export time (--check-images, --min-agreement); nothing is "
        "written, exit 2 below the threshold.",
    ),
]
RunMaxPixels = Annotated[
    int | None,
    typer.Option("--max-pixels", help=config_field("data.max_pixels")[0], show_default="the run's"),
]
MasksDir = Annotated[
    Path | None,
    typer.Option(
        "--masks-dir",
        help="Segmentation: folder for the mask PNGs (default: <out>_masks next to --out).",
    ),
]
OverlaysDir = Annotated[
    Path | None,
    typer.Option(
        "--overlays-dir",
        help="Segmentation: also write the images with their masks drawn over them.",
    ),
]
EvaluateOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Folder to write (new, or empty).",
        show_default="RUN/evaluate, then RUN/evaluate-2, ...",
    ),
]
Truth = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="Segmentation: score against true masks (an RLE CSV in the training format, or a "
        "masks folder); prints dice and writes <out>_scores.csv.",
    ),
]
# check
CheckOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the full report as JSON (never overwrites a file)."),
]
Threads = Annotated[
    int | None, typer.Option("--threads", help="Decoding threads (default: up to 8).")
]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache", help="Decode every file again instead of reusing the scan cache."),
]
# demo and models
DemoEpochs = Annotated[int, typer.Option("--epochs", help=config_field("train.epochs")[0])]
DemoTask = Annotated[
    str,
    typer.Option(
        "--task",
        help="classify (handwritten digits) | segment (generated shapes on textured backgrounds).",
    ),
]
Pattern = Annotated[str, typer.Argument(help="Glob, e.g. 'resnet*'.")]
# lr-find
PlotOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the plot here (.png; never overwritten) instead."),
]
MinLr = Annotated[float, typer.Option("--min-lr", help="Smallest learning rate tried.")]
MaxLr = Annotated[float, typer.Option("--max-lr", help="Largest learning rate tried.")]
NumTraining = Annotated[int, typer.Option("--num-training", help="Batches in the sweep.")]
# tune
Trials = Annotated[
    int,
    typer.Option(
        "--trials",
        help="The study's total of finished trials, across processes and invocations: the same "
        "command resumes; a larger number adds trials.",
    ),
]
Storage = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL, e.g. sqlite:///study.db (default: RUNS_DIR/tune-STUDY/study.db).",
    ),
]
Study = Annotated[str, typer.Option("--study", help="Study name; several processes may share it.")]
Space = Annotated[
    Path | None,
    typer.Option(
        "--space",
        help="Search space YAML (default: lr, weight decay, augment, batch size). Keys: lr, "
        "weight_decay, model, img_size, augment, batch_size, epochs or any dotted config key.",
    ),
]
TuneFolds = Annotated[
    int | None,
    typer.Option(
        "--folds",
        help="Score each trial by the mean over K stratified folds instead of one hold-out.",
    ),
]
Pruning = Annotated[
    bool,
    typer.Option("--pruning/--no-pruning", help="Stop poor trials early (median rule)."),
]
SamplerSeed = Annotated[
    int | None, typer.Option("--sampler-seed", help="Seed the TPE sampler (one worker only).")
]
StudyOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder for best.yaml, trials.csv and plots (default: RUNS_DIR/tune-STUDY).",
    ),
]
# runs, report, serve
RunsFolder = Annotated[Path, typer.Argument(help="Folder of run directories.")]
Sort = Annotated[
    str | None,
    typer.Option(
        "--sort",
        help="A column (score, low: the 95 % interval's lower bound, seconds, model, ...) or a "
        "metric (val_auroc, val_loss, ...): best first.",
    ),
]
TableCsv = Annotated[Path | None, typer.Option("--csv", help="Also write the table to this CSV.")]
TableHtml = Annotated[
    Path | None,
    typer.Option("--html", help="Also write an HTML comparison of the runs to this file."),
]
ReportTarget = Annotated[
    Path,
    typer.Argument(help="A run directory, or with --compare a folder of runs.", show_default=False),
]
Compare = Annotated[
    bool, typer.Option("--compare", help="Compare the runs in a folder instead of one run.")
]
AuditOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Folder to write (new, or empty).",
        show_default="RUN/audit, then RUN/audit-2, ...",
    ),
]
AuditTop = Annotated[
    int,
    typer.Option("--top", min=0, help="Issues shown in the grid (label_issues.png)."),
]
ReportOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="HTML file to write (default: inside the run or folder)."),
]
Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")
]
MaxUploadMb = Annotated[
    float, typer.Option("--max-upload-mb", min=0.001, help="Refuse uploads larger than this (MB).")
]
WorkersQueue = Annotated[
    int | None,
    typer.Option(
        "--workers-queue",
        min=1,
        help="Requests that may wait (being decoded, or for the next batch) beyond the "
        "--max-batch in the model; more are refused at once with 503 (default: the server's).",
    ),
]
MaxBatch = Annotated[
    int,
    typer.Option(
        "--max-batch",
        min=1,
        help="Predict up to N concurrent requests in one forward pass (1: one image at a time).",
    ),
]
MaxWaitMs = Annotated[
    float,
    typer.Option(
        "--max-wait-ms",
        min=0,
        help="Milliseconds a request may wait for others to fill its batch (0: no wait; a "
        "full batch never waits).",
    ),
]
