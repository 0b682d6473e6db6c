"""visionfit: from a folder of images to an honestly validated model, its report and predictions.

>>> import visionfit
>>> cfg = visionfit.RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
>>> result = visionfit.fit(cfg)
>>> visionfit.load(result.run_dir).predict(["new.png"])

The names below are imported on first use, so that `import visionfit` (and the CLI's start-up)
does not pay for torch, Lightning and timm.
"""

from __future__ import annotations

import importlib

from visionfit.pandas_strings import install as _python_strings_in_pandas

__version__ = "0.1.0"

_python_strings_in_pandas()  # file names that are not UTF-8 stay readable (pandas_strings.py)

_EXPORTS = {
    "RunConfig": "visionfit.config",
    "VisionfitError": "visionfit.errors",
    "CVResult": "visionfit.engine.cv",
    "cross_validate": "visionfit.engine.cv",
    "RunResult": "visionfit.engine.fit",
    "fit": "visionfit.engine.fit",
    "Predictor": "visionfit.inference.predict",
    "load": "visionfit.inference.backends",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'visionfit' has no attribute {name!r}")


def predict(run_dir, inputs, *, backend: str = "torch", **kwargs):
    """Shortcut for `load(run_dir, backend=backend).predict(inputs, **kwargs)`."""
    from visionfit.inference.backends import load

    return load(run_dir, backend=backend).predict(inputs, **kwargs)


__all__ = [*_EXPORTS, "predict"]
