"""visionfit: from a folder of images to an honestly validated model, its report and predictions.

>>> import visionfit
>>> cfg = visionfit.RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
>>> result = visionfit.fit(cfg)
>>> visionfit.load(result.run_dir).predict(["new.png"])
"""

from visionfit.config import RunConfig
from visionfit.engine.cv import CVResult, cross_validate
from visionfit.engine.fit import RunResult, fit
from visionfit.engine.predict import Predictor, load
from visionfit.errors import VisionfitError

__version__ = "0.1.0"


def predict(run_dir, inputs, *, backend: str = "torch", **kwargs):
    """Shortcut for `load(run_dir, backend=backend).predict(inputs, **kwargs)`."""
    return load(run_dir, backend=backend).predict(inputs, **kwargs)


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
