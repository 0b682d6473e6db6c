"""Named training recipes per network family, resolved into concrete config values.

`--recipe fast|default|best` (config key `train.recipe`) fills the optimizer, schedule, label
smoothing, weight EMA, mixup / cutmix, augmentation preset, test-time flips and whether the LR
finder picks the learning rate. The resolved values are written to the run's config.yaml, so it
states what ran; rerunning that file gives the same run. An option the user set to something
other than its default is kept (a recipe never overrides what was asked for), and the LR finder
runs only when no learning rate was given.

Where the values come from: fastai's `fit_one_cycle` (one-cycle, AdamW, label smoothing 0.1:
the DAWNBench / CIFAR-10 speed-run recipes), timm's fine-tuning recipes (AdamW, cosine with
warm-up, EMA of the weights, mixup 0.2 + cutmix 1.0 switched per batch, TrivialAugment-like
augmentation) and TrivialAugment (Müller & Hutter 2021). Mixup and cutmix are turned off below
`MIN_MIX_IMAGES` training images: on tiny data they slow learning more than they regularise.
`benchmarks/bench_accuracy.py` measures them against each other.

The tables live with their task (tasks/<task>/recipes.py, `Task.recipes()`); this module keeps
the mechanism. The network family comes from the task (`Task.recipe_family`): "scratch"
(from-scratch classifiers), "pretrained" (classifiers with pretrained or given weights),
"segmentation". A task registered later has its recipes added on first use.
"""

from __future__ import annotations

from visionfit.config import RunConfig
from visionfit.config.recipes import RECIPE_NAMES, Recipe
from visionfit.errors import VisionfitError
from visionfit.tasks.registry import get_task, list_tasks

__all__ = ["RECIPE_NAMES", "Recipe", "get_recipe", "list_recipes", "register_recipe"]

MIN_MIX_IMAGES = 1000

_RECIPES: dict[tuple[str, str], Recipe] = {}
_TASKS_SEEN: set[str] = set()


def _add_task_recipes() -> None:
    """Register the recipe tables of every task not seen yet (`Task.recipes()`)."""
    for name in list_tasks():
        if name not in _TASKS_SEEN:
            _TASKS_SEEN.add(name)
            for recipe in get_task(name).recipes():
                register_recipe(recipe)


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe; a second one with the same name and family is refused."""
    _add_task_recipes()
    key = (recipe.name, recipe.family)
    if key in _RECIPES:
        raise VisionfitError(f"recipe {recipe.name!r} for {recipe.family} is already registered")
    RunConfig().with_overrides(recipe.overrides)  # every key must exist and validate
    _RECIPES[key] = recipe
    return recipe


def list_recipes(family: str | None = None) -> list[Recipe]:
    _add_task_recipes()
    return [r for (_, fam), r in _RECIPES.items() if family in (None, fam)]


def get_recipe(name: str, family: str) -> Recipe:
    _add_task_recipes()
    if (name, family) not in _RECIPES:
        names = sorted({n for n, fam in _RECIPES if fam == family})
        raise VisionfitError(
            f"no recipe {name!r} for {family} networks; choose from {', '.join(names)} or none"
        )
    return _RECIPES[(name, family)]


def resolve_recipe(cfg: RunConfig, family: str, n_train: int) -> tuple[RunConfig, list[str]]:
    """`cfg` with its recipe's values filled in (options the user changed are kept), and notes
    on what was adapted. `train.recipe: none` returns `cfg` unchanged."""
    if cfg.train.recipe == "none":
        return cfg, []
    recipe = get_recipe(cfg.train.recipe, family)
    given, defaults = cfg.model_dump(mode="json"), RunConfig().model_dump(mode="json")
    overrides, kept = {}, []
    for key, value in recipe.overrides.items():
        if _get(given, key) != _get(defaults, key) and _get(given, key) != value:
            kept.append(key)
        else:
            overrides[key] = value
    if _get(given, "train.lr") != _get(defaults, "train.lr"):
        overrides["train.lr_find"] = False  # a learning rate was given
    notes = [f"recipe {recipe.name} ({family}): kept the given {', '.join(kept)}"] if kept else []
    if n_train < MIN_MIX_IMAGES and (overrides.get("train.mixup") or overrides.get("train.cutmix")):
        overrides.update({"train.mixup": 0.0, "train.cutmix": 0.0})
        notes.append(f"recipe {recipe.name}: mixup/cutmix off below {MIN_MIX_IMAGES} images")
    if not cfg.augment.hflip and overrides.get("train.tta", "none") != "none":
        overrides["train.tta"] = "none"  # a network trained without mirrors is not shown them
        notes.append(f"recipe {recipe.name}: no test-time flips without training flips")
    return cfg.with_overrides(overrides), notes


def _get(tree: dict, key: str):
    for part in key.split("."):
        tree = tree[part]
    return tree
