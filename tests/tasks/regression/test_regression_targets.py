"""Regression targets: invalid values rejected with their lines, bins, the scaling round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from visionfit.errors import DataError
from visionfit.tasks.regression.layouts import load_regression_data
from visionfit.tasks.regression.module import ScaledRegressor
from visionfit.tasks.regression.targets import TargetScaling, parse_targets, quantile_bins


def _csv_with(regress_cfg, disc_dir, tmp_path, values: list[str]):
    rows = [f"{disc_dir / 'images' / f'img_{i:03d}.png'},{v}" for i, v in enumerate(values)]
    path = tmp_path / "bad.csv"
    path.write_text("image,y\n" + "\n".join(rows) + "\n")
    return regress_cfg(disc_dir, tmp_path / "runs", {"data.csv": str(path)})


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "1,5"])
def test_non_numeric_targets_are_a_data_error_naming_the_line(regress_cfg, disc_dir, tmp_path, bad):
    values = ["1.0", "2.5", bad if bad != "1,5" else '"1,5"', "4"]
    cfg = _csv_with(regress_cfg, disc_dir, tmp_path, values)
    with pytest.raises(DataError, match=r"line 4") as e:
        load_regression_data(cfg, progress=False)
    assert "'y'" in str(e.value)


def test_empty_target_is_a_data_error_naming_the_line(regress_cfg, disc_dir, tmp_path):
    cfg = _csv_with(regress_cfg, disc_dir, tmp_path, ["1.0", "", "3"])
    with pytest.raises(DataError, match=r"line 3 \(''\)"):
        load_regression_data(cfg, progress=False)


def test_missing_file_rows_do_not_shift_line_numbers(regress_cfg, disc_dir, tmp_path):
    rows = [f"{disc_dir / 'images' / 'img_000.png'},1", "nowhere.png,2"]
    rows += [f"{disc_dir / 'images' / 'img_001.png'},x"]
    path = tmp_path / "t.csv"
    path.write_text("image,y\n" + "\n".join(rows) + "\n")
    cfg = regress_cfg(disc_dir, tmp_path / "runs", {"data.csv": str(path)})
    with pytest.raises(DataError, match=r"line 4 \('x'\)"):
        load_regression_data(cfg, progress=False)


def test_parse_targets_reads_numbers_as_float32():
    out = parse_targets(pd.Series([" 1.5", "2", "-3e1"]), [2, 3, 4], "y")
    assert out.dtype == np.float32 and out.tolist() == [1.5, 2.0, -30.0]


def test_constant_target_is_refused(regress_cfg, disc_dir, tmp_path):
    cfg = _csv_with(regress_cfg, disc_dir, tmp_path, ["7", "7", "7"])
    with pytest.raises(DataError, match="same 'y'"):
        load_regression_data(cfg, progress=False)


def test_loaded_table_has_values_bins_and_one_named_output(regress_cfg, disc_dir, tmp_path):
    data = load_regression_data(regress_cfg(disc_dir, tmp_path / "runs"), progress=False)
    df = data.df
    assert data.classes == ["y"] and data.label_mode == "regress"
    assert df["value"].dtype == np.float32 and len(df) == 80
    assert sorted(df["target"].unique()) == [0, 1, 2, 3, 4]  # quantile bins, stratified on
    assert df["value"].min() >= 3 and df["value"].max() <= 13


def test_quantile_bins_are_balanced_and_follow_the_value():
    values = np.linspace(0, 1, 100)
    bins = quantile_bins(values)
    assert np.bincount(bins).tolist() == [20] * 5
    assert (np.diff(bins) >= 0).all()
    assert quantile_bins(np.arange(5.0)).tolist() == [0] * 5  # too few rows: one bin


def test_scaling_round_trip_and_meta():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    s = TargetScaling.fit(y)
    assert s.mean == 25.0 and s.std == pytest.approx(np.std(y))
    assert np.allclose(s.unscale(s.scale(y)), y)
    assert TargetScaling.from_meta(s.to_json()) == s
    assert TargetScaling.fit(np.array([5.0, 5.0])).std == 1.0  # constant: no division by 0


def test_scaled_regressor_outputs_the_original_scale():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 1))
    model = ScaledRegressor(net, TargetScaling(mean=100.0, std=10.0))
    x = torch.randn(5, 3, 4, 4)
    z = model.scaled(x)
    assert torch.allclose(model(x), z * 10.0 + 100.0)
    state = model.state_dict()  # the scaling travels with the weights (safetensors)
    assert state["target_mean"].item() == 100.0 and state["target_std"].item() == 10.0
