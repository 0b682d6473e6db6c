"""Options are declared once, take help and defaults from the config, and build one config."""

from __future__ import annotations

import sys
import types
import typing

import pytest
import typer

from visionfit.cli import options as o
from visionfit.cli.app import app
from visionfit.cli.configure import option_keys
from visionfit.cli.options import config_field
from visionfit.config import AUTO_DEFAULTS, BaselineConfig, RunConfig
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
    ("--min-lr", "lr-find"),  # where the sweep starts; the schedule's floor is train.min_lr there
    ("--format", "predict"),  # the format predictions are written in, not the data's
    ("--format", "export"),  # the model file's format (onnx | torchscript)
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
            if name == "auto":  # auto starts from its own defaults, and --help says so
                default = AUTO_DEFAULTS.get(meta.config_key, default)
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

    def install(module: str, function: str, **extra):
        def record(cfg, *args, **kwargs):
            seen["cfg"], seen["kwargs"] = cfg, kwargs
            raise typer.Exit(0)

        fake = types.ModuleType(module)
        setattr(fake, function, record)
        for name, value in extra.items():
            setattr(fake, name, value)
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


# ---- commands built from option groups --------------------------------------------------------
GROUPS_OF = {
    "train": (*o.TRAINING_GROUPS, o.CV_GROUP),
    "auto": o.TRAINING_GROUPS,
    "tune": o.TRAINING_GROUPS,
    "lr-find": o.TRAINING_GROUPS,
    "check": o.CHECK_GROUPS,
    "baseline": o.BASELINE_GROUPS,
}


def _flags(command) -> set[str]:
    return {f for p in command.params for f in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("name", sorted(GROUPS_OF))
def test_a_command_takes_every_option_of_its_groups(name):
    command = _commands()[name]
    flags = _flags(command)
    assert {"--config", "--set"} <= flags
    for group in GROUPS_OF[name]:
        for alias in group.options.values():
            assert set(o.flags_of(alias)) <= flags, (name, group.name, o.flags_of(alias))


def test_every_command_that_trains_takes_the_same_data_model_train_and_segment_options():
    shared = [
        o.CONFIG,
        o.DATA_GROUP,
        o.SPLIT_GROUP,
        o.MASKS_GROUP,
        o.MODEL_GROUP,
        o.TRAIN_GROUP,
        o.SEGMENT_GROUP,
    ]
    wanted = {f for g in shared for alias in g.options.values() for f in o.flags_of(alias)}
    wanted |= {"--config", "--set"}
    for name in ("train", "auto", "tune", "lr-find"):
        assert wanted <= _flags(_commands()[name]), (name, wanted - _flags(_commands()[name]))
    assert {"--rle-col", "--rle-format", "--config", "--set"} <= _flags(_commands()["auto"])
    assert "--task" in _flags(_commands()["tune"])


def test_every_readme_example_uses_options_its_command_takes():
    """README.md and every page of docs/."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[2]
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    readme = "\n".join(p.read_text() for p in pages).replace("\\\n", " ")
    commands = _commands()
    checked = 0
    for name, rest in re.findall(r"visionfit ([a-z][a-z-]*)([^`\n]*)", readme):
        if name not in commands:
            continue
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest.split("#")[0]))
        missing = flags - _flags(commands[name]) - {"--help"}
        assert not missing, (name, rest, missing)
        checked += len(flags)
    assert checked > 50


def test_compose_appends_groups_and_passes_the_function_its_own_parameters():
    got = {}

    def cmd(ctx, folds: o.TuneFolds = None):
        got.update(ctx=ctx, folds=folds)

    composed = o.compose(cmd, [o.CV_GROUP, o.OUTPUT_GROUP])
    import inspect

    params = inspect.signature(composed).parameters
    assert list(params)[:2] == ["ctx", "folds"] and "folds_file" in params and "runs_dir" in params
    assert params["folds"].annotation is o.TuneFolds  # the command's own declaration wins
    composed(ctx="c", folds=3, folds_file=None, runs_dir=None)
    assert got == {"ctx": "c", "folds": 3}
    assert option_keys(composed)["runs_dir"] == "runs_dir" and "folds" not in option_keys(composed)

    def clash(ctx, other: o.Folds = None):
        pass

    with pytest.raises(TypeError, match="--folds"):
        o.compose(clash, [o.CV_GROUP])


def test_auto_takes_config_set_and_the_rle_options(tmp_path, run_cli, captured):
    seen = captured("visionfit.automl.auto", "run_auto")
    args = ["auto", tmp_path, "--task", "segment", "--rle-col", "EncodedPixels", "--rle-format"]
    assert run_cli([*args, "siim", "--set", "train.opt=sgd", "--budget", "1m"])[0] == 0
    cfg, typed = seen["cfg"], seen["kwargs"]["typed"]
    assert (cfg.segment.rle_col, cfg.segment.rle_format, cfg.train.opt) == (
        "EncodedPixels",
        "siim",
        "sgd",
    )
    assert {"segment.rle_col", "segment.rle_format", "train.opt", "data.task"} <= typed
    # auto's own starting point, from config.py
    assert cfg.data.test_fraction == 0.1 and cfg.train.recipe == "default"
    assert "data.test_fraction" not in typed


def test_a_default_comes_from_the_config_file_when_the_option_is_not_typed(
    tmp_path, run_cli, captured
):
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"data:\n  path: {tmp_path}\n  test_fraction: 0.0\ntrain:\n  epochs: 3\n  lr: 0.05\n"
    )
    seen = captured("visionfit.automl.auto", "run_auto")
    assert run_cli(["auto", "--config", config_file])[0] == 0
    cfg = seen["cfg"]
    # the file's 0.0 is not overridden by auto's 0.1; what the file does not say still is
    assert cfg.data.test_fraction == 0.0 and cfg.train.recipe == "default"
    assert {"data.test_fraction", "train.epochs", "data.path"} <= seen["kwargs"]["typed"]

    seen = captured("visionfit.automl.tune", "tune", TuneOptions=lambda **kw: kw)
    assert run_cli(["tune", "--config", config_file, "--task", "segment", "--trials", "2"])[0] == 0
    cfg = seen["cfg"]
    assert (cfg.train.epochs, cfg.train.lr, cfg.data.task) == (3, 0.05, "segment")

    seen = captured("visionfit.engine.lr_find", "find_lr")
    assert run_cli(["lr-find", "--config", config_file, "--set", "train.lr=0.1"])[0] == 0
    assert (seen["cfg"].train.epochs, seen["cfg"].train.lr) == (3, 0.1)


def test_auto_refuses_what_it_chooses_itself(tmp_path, run_cli, captured):
    captured("visionfit.automl.auto", "run_auto")
    for flag, value, instead in (
        ("--model", "resnet18", "--candidates"),
        ("--epochs", "3", "--budget"),
    ):
        code, _, err = run_cli(["auto", tmp_path, flag, value])
        assert code == 2 and instead in err, err
    code, _, err = run_cli(["auto", "--resume", tmp_path, "--set", "train.lr=0.1"])
    assert code == 2 and "drop the others" in err


def test_baseline_starts_from_a_baseline_config_file(tmp_path, run_cli, captured):
    seen = captured("visionfit.engine.baseline", "run_baseline")
    base = BaselineConfig.from_dict({"data": {"path": str(tmp_path)}, "size": 16, "pca": 8})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(base.to_yaml())
    assert run_cli(["baseline", "--config", config_file, "--pca", "4", "--seed", "7"])[0] == 0
    cfg = seen["cfg"]
    assert (cfg.size, cfg.pca, cfg.seed, cfg.data.path) == (16, 4, 7, str(tmp_path))
    code, _, err = run_cli(["baseline", tmp_path, "--refit"])
    assert code == 2 and "--refit" in err  # the baseline has no refit
