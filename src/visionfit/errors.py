"""User-facing errors: each says what was wrong, where, and how to fix it."""

from __future__ import annotations


class VisionfitError(Exception):
    """An error caused by user input. The CLI prints it on one line, without a traceback."""


class DataError(VisionfitError):
    """The dataset (folders, CSV, images) cannot be used as given."""


class ModelError(VisionfitError):
    """The model name, weights or architecture options cannot be used."""


class RunError(VisionfitError):
    """A run directory is missing, incomplete or inconsistent."""


class DivergedError(RunError):
    """Training stopped: the loss or the weights stopped being finite numbers (a learning rate
    too high, most often). The run directory is left unfinished, without a model."""


class ExportError(ModelError):
    """A model cannot be exported (ONNX / TorchScript), or the export does not match PyTorch."""


class OutputExistsError(VisionfitError):
    """An output file exists already: visionfit never overwrites one; choose another name."""
