"""`import visionfit` keeps pandas' text columns in Python strings (pandas_strings.py), so a file
name that is not UTF-8 (surrogate-escaped by os.fsdecode) fits in a table even with pyarrow
installed, and the CLI's start-up still does not import pandas."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import visionfit
assert "pandas" not in sys.modules
import pandas as pd
df = pd.DataFrame([["bad\\udcffname.png", "cat"]], columns=["image", "label"])
name = df["image"].astype(str).iloc[0]
print(pd.get_option("mode.string_storage"), name.encode("utf-8", "surrogateescape"))
"""


def test_pandas_imported_after_visionfit_stores_strings_in_python() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "python"
    assert "bad\\xffname.png" in out.stdout


def test_pandas_imported_before_visionfit_too() -> None:
    code = "import pandas as pd\n" + CODE.replace('assert "pandas" not in sys.modules', "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "python"
