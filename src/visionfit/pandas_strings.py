"""pandas keeps visionfit's text columns in Python strings, never in pyarrow.

pandas 3 stores a `str` column in pyarrow when pyarrow is installed (visionfit installs it to read
Parquet and `datasets` tables), and pyarrow refuses the surrogate-escaped text `os.fsdecode` makes
of a file name that is not valid UTF-8, so one such file name in a dataset would end `check` or
`train` with a UnicodeEncodeError instead of a clear line. `install()` (called by
`import visionfit`) sets `mode.string_storage` to "python" once pandas is imported, without
importing pandas itself: the CLI starts without it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys


def _python_storage(pandas) -> None:
    pandas.set_option("mode.string_storage", "python")


class _AfterPandasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when pandas is imported, it wraps pandas' loader so that the option
    is set right after the module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "pandas":
            return None
        sys.meta_path.remove(self)  # once; and the find_spec below must not find us again
        spec = importlib.util.find_spec("pandas")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            _python_storage(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if "pandas" in sys.modules:
        _python_storage(sys.modules["pandas"])
    elif not any(isinstance(f, _AfterPandasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterPandasImport())
