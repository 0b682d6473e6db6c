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
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


def _python_strings(pandas) -> None:
    # pandas 3 keeps strings in pyarrow arrays when pyarrow is installed (a dependency: Parquet
    # and `datasets` input), and pyarrow refuses the surrogate-escaped file names that are not
    # UTF-8; plain Python strings keep them byte for byte, as before.
    pandas.options.mode.string_storage = "python"


class _AfterPandas(importlib.abc.MetaPathFinder):
    """Sets `_python_strings` as pandas is imported, so the CLI's start-up need not import it."""

    def find_spec(self, name, path=None, target=None):
        if name != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("pandas")
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _python_strings(module)

        spec.loader.exec_module = exec_module  # this spec's own loader object
        return spec


if "pandas" in sys.modules:
    _python_strings(sys.modules["pandas"])
elif not any(isinstance(f, _AfterPandas) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterPandas())

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
