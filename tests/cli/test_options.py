"""Options are declared once, take help and defaults from the config, and build one config."""

from __future__ import annotations

import sys
import types
import typing

import pytest
import typer

from visionfit.cli.app import app
from visionfit.cli.configure import option_keys
from visionfit.cli.options import config_field
from visionfit.config import RunConfig
from visionfit.data.masks import parse_colour_map

# Flags that mean something else in one command; every other flag has one help text everywhere.
SPELLED_ALIKE = {
    ("--out", "predict"),  # each command writes a different file
    ("--out", "check"),
    ("--out", "lr-find"),
    ("--out", "tune"),
    ("--out", "report"),
    ("--csv", "runs"),  # runs writes its table; elsewhere --csv is the input
    ("--task", "demo"),  # which demo, not the label mode
    ("--model", "baseline"),  # a scikit-learn model
    ("--folds", "baseline"),  # default 5 rather than 0
    ("--folds", "tune"),  # folds per trial, not cross-validation of one model
    ("--out", "export"),  # a folder for the model file and export.json
    ("--resume", "auto"),  # an AUTO_DIR of stages, not one run
}


def _commands() -> dict[str, typer.core.TyperCommand]:
    return typer.main.get_command(app).commands


def test_an_option_has_one_help_text_in_every_command():
    helps: dict[str, dict[str, set[str]]] = {}
    for name, command in _commands().items():
        for param in command.params:
            if param.param_type_name == "option" and (param.opts[0], name) not in SPELLED_ALIKE:
                helps.setdefault(param.opts[0], {}).setdefault(param.help, set()).add(name)
    differing = {flag: texts for flag, texts in helps.items() if len(texts) > 1}
    assert not differing, differing
    # the check is not vacuous: shared options are shared by several commands
    assert len(next(iter(helps["--seed"].values()))) >= 4


def _config_metadata(callback) -> dict[str, object]:
    hints = typing.get_type_hints(callback, include_extras=True)
    return {
        name: meta
        for name, hint in hints.items()
        for meta in getattr(hint, "__metadata__", ())
        if getattr(meta, "config_key", None)
    }


def test_config_options_show_the_config_description_and_default():
    checked = 0
    for name, command in _commands().items():
        metadata = _config_metadata(command.callback.__wrapped__)
        assert {n: m.config_key for n, m in metadata.items()} == option_keys(
            command.callback.__wrapped__
        )
        for param in command.params:
            meta = metadata.get(param.name)
            if meta is None or (param.opts[0], name) in SPELLED_ALIKE:
                continue
            description, default = config_field(meta.config_key, meta.config_model)
            assert param.help == description, (name, param.opts)
            assert param.default is None  # "not typed": the config's default applies
            if default not in (None, "") and not isinstance(default, bool):
                assert param.show_default == str(default), (name, param.opts)
            checked += 1
    assert checked > 100


@pytest.fixture
def captured(monkeypatch):
    """Replace an engine module by one whose function records the config it was given."""
    seen = {}

    def install(module: str, function: str):
        def record(cfg, *args, **kwargs):
            seen["cfg"] = cfg
            raise typer.Exit(0)

        fake = types.ModuleType(module)
        setattr(fake, function, record)
        monkeypatch.setitem(sys.modules, module, fake)
        return seen

    return install


CONVERTED = [
    ("--patience", "0", "train.patience", None),
    ("--checkpoint-minutes", "0", "train.checkpoint_minutes", None),
    ("--class-names", "background, cat,dog", "segment.class_names", ["background", "cat", "dog"]),
    ("--label-cols", "a, b,c", "data.label_cols", ["a", "b", "c"]),
    (
        "--colour-map",
        "0,0,0=0;255,0,0=1",
        "segment.colour_map",
        parse_colour_map("0,0,0=0;255,0,0=1"),
    ),
]


def _value(cfg: RunConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize("flag, text, key, expected", CONVERTED)
def test_flag_set_and_config_file_give_the_same_value(
    flag, text, key, expected, tmp_path, run_cli, captured
):
    seen = captured("visionfit.engine.fit", "fit")
    config_file = tmp_path / "config.yaml"
    section, leaf = key.split(".")
    config_file.write_text(f"{section}:\n  {leaf}: {text}\n")  # as a user writes it
    ways = {
        "flag": ["train", tmp_path, flag, text],
        "--set": ["train", tmp_path, "--set", f"{key}={text}"],
        "--config": ["train", tmp_path, "--config", config_file],
    }
    for way, args in ways.items():
        code, _, err = run_cli(args)
        assert code == 0, (way, err)
        assert _value(seen.pop("cfg"), key) == expected, way


def test_only_typed_options_override_the_config_file_and_set_comes_last(
    tmp_path, run_cli, captured
):
    seen = captured("visionfit.engine.fit", "fit")
    base = RunConfig.from_dict({"data": {"path": str(tmp_path)}, "train": {"lr": 0.05}})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(base.with_overrides({"train.epochs": 3}).to_yaml())
    args = ["train", "--config", config_file, "--epochs", "2", "--set", "train.epochs=4"]
    assert run_cli(args)[0] == 0
    assert seen["cfg"].train.epochs == 4 and seen["cfg"].train.lr == 0.05
    assert run_cli(["train", "--config", config_file, "--epochs", "2"])[0] == 0
    cfg = seen["cfg"]
    assert cfg.train.epochs == 2 and cfg.train.lr == 0.05 and cfg.data.path == str(tmp_path)


def test_conversion_errors_are_one_line(tmp_path, run_cli, captured):
    captured("visionfit.engine.fit", "fit")
    for args, message in [
        (["--label-cols", ","], "needs column names"),
        (["--set", "train.nope=1"], "unknown config key 'train.nope'"),
        (["--set", "train.epochs"], "expected KEY=VALUE"),
        (["--colour-map", "255,0,0"], "colour"),
    ]:
        code, out, err = run_cli(["train", tmp_path, *args])
        assert code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err


def test_baseline_builds_its_config_the_same_way(tmp_path, run_cli, captured):
    seen = captured("visionfit.engine.baseline", "run_baseline")
    args = ["baseline", tmp_path, "--seed", "3", "--class-weights", "auto", "--threshold", "f1"]
    assert run_cli([*args, "--model", "svm", "--label-cols", "a,b", "--set", "size=16"])[0] == 0
    cfg = seen["cfg"]
    assert (cfg.seed, cfg.class_weights, cfg.threshold, cfg.model) == (3, "auto", "f1", "svm")
    assert cfg.data.label_cols == ["a", "b"] and cfg.size == 16 and cfg.cv.folds == 5
    folds_csv = tmp_path / "folds.csv"
    assert run_cli(["baseline", tmp_path, "--folds-file", folds_csv])[0] == 0
    assert seen["cfg"].cv.folds == 0 and seen["cfg"].cv.folds_file == str(folds_csv)
    code, _, err = run_cli(["baseline"])
    assert code == 2 and "no data given" in err


def test_resume_refuses_other_options_by_their_spelling(tmp_path, run_cli):
    code, _, err = run_cli(["train", "--resume", tmp_path, tmp_path, "--img-size", "32"])
    assert code == 2 and "drop DATA, --img-size" in " ".join(err.split())
