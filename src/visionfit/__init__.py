"""visionfit: from a folder of images to an honestly validated model, its report and predictions.

>>> import visionfit
>>> cfg = visionfit.RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
>>> result = visionfit.fit(cfg)
>>> visionfit.load(result.run_dir).predict(["new.png"])
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module defining it. Imported on first use (PEP 562), so that importing
# visionfit.cli (and `visionfit --help`) does not pay for torch, Lightning and timm.
_EXPORTS = {
    "CVResult": "visionfit.engine.cv",
    "cross_validate": "visionfit.engine.cv",
    "RunResult": "visionfit.engine.fit",
    "fit": "visionfit.engine.fit",
    "Predictor": "visionfit.engine.predict",
    "load": "visionfit.engine.predict",
    "RunConfig": "visionfit.config",
    "VisionfitError": "visionfit.errors",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'visionfit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def predict(run_dir, inputs, **kwargs):
    """Shortcut for `load(run_dir).predict(inputs, **kwargs)`."""
    from visionfit.engine.predict import load

    return load(run_dir).predict(inputs, **kwargs)


__all__ = [
    "CVResult",
    "Predictor",
    "RunConfig",
    "RunResult",
    "VisionfitError",
    "cross_validate",
    "fit",
    "load",
    "predict",
]
