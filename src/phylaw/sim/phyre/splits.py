"""The named, versioned splits of the ``phyre`` scenario (issue 12; SPEC B.5, B.6.6).

A row is (template, task, trial). Every split is a union of product grids over the three (``sim.splits.Part``),
so the kinematic split machinery (keyed shuffle, slices, shards, resume) applies unchanged. Paper scale:

- ``train6`` / ``train30`` / ``train60``: the subset's templates x tasks 0-99 x trials 0-989 (594K / 2.97M /
  5.94M videos; the paper's 0.6M / 3M / 6M less the in-template evaluation trials);
- ``eval-in-template``: the 60 training templates x tasks 0-99 x trials 990-999 (the release's in-template pool,
  60K videos; the paper scores 600 of them), and ``eval-in-template-train6`` / ``-train30``: the pools of the
  smaller subsets' templates;
- ``eval-out-of-template``: the 10 held-out templates x tasks 0-99 x trial 0 (1,000; the paper scores 500);
- ``ambiguity``: templates 20000-20003 with their fixed actions (101 + 101 + 100 + 100 = 402 videos).

CPU sizes (``-small``): tasks 0-9, 10 trials per task for training (100 videos per template), trial 990 of
tasks 0-9 of every template in the in-template pool (600 videos for the 60 templates, the paper's count),
trial 0 of tasks 0-9 of the held-out templates (100). Small training and evaluation sets share the task
layouts and never a trial.

Table 2 (issue 14, experiments/table2.py):

- ``train6-tiny`` / ``train30-tiny`` / ``train60-tiny``: tasks 0-9 x trials 0-3 (40 videos per template, the
  same per template in every subset as in the paper: 240 / 1,200 / 2,400 videos);
- ``table2-eval-train6`` / ``-train30`` / ``-train60``: one evaluation file per training subset, the in-template
  pool (label ``id``: the subset's templates x tasks 0-99 x trial 990, as the release's test files) beside
  the out-of-template set (label ``ood``: the held-out templates x tasks 0-99 x trial 0); ``-small``: tasks 0-9
  of both (60 / 300 / 600 in-template + 100 out-of-template videos);
- ``ambiguity-train`` / ``ambiguity-eval`` (Fig. 10): the ambiguity rows split by the varied index (the action
  of 20000/20001, the task of 20002/20003), even indices to train, odd ones to evaluate (202 / 200 videos).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from phylaw.errors import PhylawError

SPLIT_VERSION = "1"
N_TASKS = 100  # tasks per template (PHYRE's default; templates.N_TASKS, checked by the tests)
N_TRAIN_TRIALS = 990  # trials 0-989 train, 990-999 the in-template evaluation pool (SPEC B.5)
N_TRIALS = 1000
SMALL_TASKS = 10
SMALL_TRAIN_TRIALS = 10
TINY_TRAIN_TRIALS = 4  # Table 2's tiny training sets: tasks 0-9 x trials 0-3 per template
PARAM_NAMES = ("template", "task", "trial")


def _ar(lo: int, hi: int) -> np.ndarray:
    return np.arange(lo, hi, dtype=np.float64)


def _subset(name: str) -> tuple[int, ...]:
    from phylaw.sim.phyre.templates import subset

    return subset(name)


def _split(name: str, parts: list) -> Callable[[str, int], object]:
    """A constructor ``(ranges, n_frames) -> SplitDef`` of the named split from (label, level, values)."""

    def build(ranges: str, n_frames: int):
        from phylaw.sim.splits import Part, SplitDef

        made = tuple(Part(s, lvl, tuple(vals())) for s, lvl, vals in parts)
        return SplitDef("phyre", name, SPLIT_VERSION, ranges, PARAM_NAMES, made, n_frames=n_frames)

    return build


def _train(subset: str, small: bool, tiny: bool = False):
    tasks, trials = (SMALL_TASKS, SMALL_TRAIN_TRIALS) if small else (N_TASKS, N_TRAIN_TRIALS)
    if tiny:
        tasks, trials = SMALL_TASKS, TINY_TRAIN_TRIALS
    name = subset + ("-tiny" if tiny else "-small" if small else "")
    return name, _split(
        name, [("train", "train", lambda: (np.array(_subset(subset), float), _ar(0, tasks), _ar(0, trials)))]
    )


def _in_template(subset: str, name: str, small: bool):
    tasks, trials = (
        (SMALL_TASKS, (N_TRAIN_TRIALS, N_TRAIN_TRIALS + 1))
        if small
        else (N_TASKS, (N_TRAIN_TRIALS, N_TRIALS))
    )
    return name, _split(
        name,
        [("id", "in-template", lambda: (np.array(_subset(subset), float), _ar(0, tasks), _ar(*trials)))],
    )


def _out_of_template(name: str, small: bool):
    tasks = SMALL_TASKS if small else N_TASKS
    return name, _split(
        name,
        [
            (
                "ood",
                "out-of-template",
                lambda: (np.array(_subset("held-out"), float), _ar(0, tasks), _ar(0, 1)),
            )
        ],
    )


def _table2_eval(subset: str, small: bool):
    """Table 2's evaluation file of a training subset: its in-template pool (trial 990) and the held-out set."""
    tasks = SMALL_TASKS if small else N_TASKS
    name = f"table2-eval-{subset}" + ("-small" if small else "")
    return name, _split(
        name,
        [
            ("id", "in-template", lambda: (np.array(_subset(subset), float), _ar(0, tasks), _ar(990, 991))),
            (
                "ood",
                "out-of-template",
                lambda: (np.array(_subset("held-out"), float), _ar(0, tasks), _ar(0, 1)),
            ),
        ],
    )


def _ambiguity_half(template: int, parity: int):
    """The rows of an ambiguity template whose varied index (action of 20000/20001, task of 20002/20003) has
    ``parity``."""
    from phylaw.sim.phyre.templates import n_fixed_actions, n_tasks

    tasks, actions = _ar(0, n_tasks(template)), _ar(0, n_fixed_actions(template))
    if len(actions) > 1:
        actions = actions[parity::2]
    else:
        tasks = tasks[parity::2]
    return (np.array([template], float), tasks, actions)


def _ambiguity_split(name: str, label: str, parity: int):
    parts = [
        (label, f"ambiguity-{t}", (lambda t=t: _ambiguity_half(t, parity)))
        for t in (20000, 20001, 20002, 20003)
    ]
    return name, _split(name, parts)


def _ambiguity_part(template: int):
    """Every task of an ambiguity template with each of its fixed actions (SPEC_COMBINATORIAL B.3)."""
    from phylaw.sim.phyre.templates import n_fixed_actions, n_tasks

    return (np.array([template], float), _ar(0, n_tasks(template)), _ar(0, n_fixed_actions(template)))


def _ambiguity():
    parts = [
        ("ood", f"ambiguity-{t}", (lambda t=t: _ambiguity_part(t))) for t in (20000, 20001, 20002, 20003)
    ]
    return "ambiguity", _split("ambiguity", parts)


SPLITS: dict[str, Callable[[str, int], object]] = dict(
    [
        _train("train6", False),
        _train("train30", False),
        _train("train60", False),
        _in_template("train60", "eval-in-template", False),
        _in_template("train6", "eval-in-template-train6", False),
        _in_template("train30", "eval-in-template-train30", False),
        _out_of_template("eval-out-of-template", False),
        _ambiguity(),
        _train("train6", True),
        _train("train30", True),
        _train("train60", True),
        _in_template("train60", "eval-in-template-small", True),
        _in_template("train6", "eval-in-template-train6-small", True),
        _in_template("train30", "eval-in-template-train30-small", True),
        _out_of_template("eval-out-of-template-small", True),
        _train("train6", True, tiny=True),
        _train("train30", True, tiny=True),
        _train("train60", True, tiny=True),
        *(_table2_eval(s, small) for small in (False, True) for s in ("train6", "train30", "train60")),
        _ambiguity_split("ambiguity-train", "train", 0),
        _ambiguity_split("ambiguity-eval", "ood", 1),
    ]
)
TRAIN_SPLITS = (
    "train6", "train30", "train60", "train6-small", "train30-small", "train60-small", "train6-tiny", "train30-tiny",
    "train60-tiny", "ambiguity-train",
)  # fmt: skip


def get_split(name: str, ranges: str = "paper", n_frames: int = 32):
    """The named phyre split (PhylawError naming the known ones otherwise)."""
    if name not in SPLITS:
        raise PhylawError(f"unknown split {name!r} for phyre; choose one of {', '.join(SPLITS)}")
    if ranges != "paper":
        raise PhylawError(
            f"phyre has no range sets (got --ranges {ranges!r}); its splits are fixed templates"
        )
    return SPLITS[name](ranges, int(n_frames))
