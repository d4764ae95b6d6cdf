"""The composition studies' datasets (SPEC B.6.5, §5.4, Figs. 11, 17): named, versioned splits of the wall scenes.

* **spatial** (scenario ``wall_bounce``): train ``square_moves`` (the blue square moves -x at w, the red ball
  rests) and ``ball_bounces`` (the red ball moves toward the wall at v and bounces back, the square rests);
  test ``both_move`` (both move). Splits ``compose-spatial`` (200,000 videos: 100,000 per subset; the paper
  gives no size), ``-small`` (20,000), ``-tiny`` (2,400).
* **temporal** (scenario ``wall_collision``): train ``collision`` (two balls collide, no wall; the collision
  scene's placement) and ``bounce`` (the red ball alone bounces off the wall); test ``collision_bounce``: the
  red ball strikes the blue ball at rest near the wall, the blue ball bounces off the wall and must come back
  with unchanged speed. ``compose-temporal`` has the paper's 237,300 training videos (230,400 collisions,
  12 r1 x 12 r2 x 40 u1 x 40 u2, + 6,900 bounces, 30 r x 230 v); ``-small`` 15,400, ``-tiny`` 2,400.
* **failure variant** (Fig. 17): ``compose-temporal-nored``: the same collisions, but the bounce subset
  ``bounce_blue`` has only the blue ball (no red ball), same sizes.

Evaluation splits label every video by its subset: the test scene (split "ood") beside held-out controls of
each training subset at new parameter values (split "id"). ``compose-temporal-eval`` holds the paper's 54
test videos (3 r1 x 3 r2 x 6 u1) plus controls of its collisions (108) and red bounces (18): 180 videos;
``compose-temporal-nored-eval`` the same 54 test configurations with controls of its collisions and blue
bounces; ``-eval-small`` are smaller (16 test videos, 56 in all). ``compose-spatial-eval``
/ ``-eval-small`` likewise. Evaluation values are interval midpoints (``ranges.id_midpoints``); a test vector
never occurs in training in any case, because its subset's defining zeros / wall flag differ (checked by the
tests).

Autoencoder frames (role "autoencoder"): ``compose-spatial-all`` and ``compose-temporal-all`` (+ ``-small``,
``-tiny``) hold every subset of their scenario on training grids, the composition test's layout included
(both objects moving; the red ball striking the blue one at rest near the wall), and both bounce subsets.
No DiT trains on them: they are the frames of the one VideoVAE a scale's cells share (``experiments.fig11``),
which, like the paper's pretrained VAE, has seen every layout it must draw. The VAE is frame-wise, so it sees
appearance, never motion: a per-cell VAE fitted to the two training subsets alone breaks the law in its own
reconstructions of the test videos (docs/composition.md). No evaluation parameter vector occurs in them.

Ranges (chosen; the paper does not give them): spatial r in [0.7, 1.5] (the paper's ID radii), square half
side s in [0.5, 1.0], speeds v, w in [1, 4]. Temporal: r1, r2 in [0.4, 0.9] and red speed u1 in [1, 3], the
blue ball's speed in collisions u2 in [-2, 0] (toward the red ball or at rest): smaller and slower than
the collision scene's, so that the test's collision and the blue ball's bounce both fit in the contact
window (frames 8-24 of 32) with the red ball starting in view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim import ranges as rg
from phylaw.sim.registry import PARAM_NAMES
from phylaw.sim.splits import Part, SplitDef

COMPOSITION_VERSION = "1"
SPATIAL, TEMPORAL, NORED = "spatial", "temporal", "temporal-nored"
SCENARIO_OF = {SPATIAL: "wall_bounce", TEMPORAL: "wall_collision", NORED: "wall_collision"}
# the subset (level) of each video kind, and which are the composition tests
TEST_LEVEL = {SPATIAL: "both_move", TEMPORAL: "collision_bounce", NORED: "collision_bounce"}
TRAIN_LEVELS = {SPATIAL: ("square_moves", "ball_bounces"), TEMPORAL: ("collision", "bounce"),
                NORED: ("collision", "bounce_blue")}  # fmt: skip

S_R, S_S, S_V = (0.7, 1.5), (0.5, 1.0), (1.0, 4.0)  # spatial: ball radius, square half side, speeds
T_R, T_U1, T_U2 = (0.4, 0.9), (1.0, 3.0), (-2.0, 0.0)  # temporal: radii, red speed, blue speed

# spatial train: (n_r, n_s, n_speed) per subset; eval: (n_r, n_s, n_speed) of the midpoint grids
SPATIAL_SIZES: dict[str, tuple[int, int, int]] = {
    "": (10, 10, 1000),
    "-small": (5, 4, 500),
    "-tiny": (4, 3, 100),
}
SPATIAL_EVAL: dict[str, tuple[int, int, int]] = {"-eval": (3, 3, 6), "-eval-small": (2, 2, 4)}
# temporal train: collisions (n_r1, n_r2, n_u1, n_u2), bounces (n_r, n_v)
TEMPORAL_SIZES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int]]] = {
    "": ((12, 12, 40, 40), (30, 230)),
    "-small": ((6, 6, 20, 20), (10, 100)),
    "-tiny": ((4, 4, 15, 8), (8, 60)),
}
# temporal eval: (n_r, n_u1) of the test (r1 x r2 x u1, blue at rest) and of the controls; n_u2 of collisions
TEMPORAL_EVAL: dict[str, tuple[int, int, int]] = {"-eval": (3, 6, 2), "-eval-small": (2, 4, 2)}


# autoencoder frames (``-all``): spatial (n_r, n_s, n_speed of a one-mover subset, n_speed of each object in
# both_move); temporal (collision n_r1, n_r2, n_u1, n_u2), (bounce n_r, n_v, for red and for blue), (test layout
# n_r1, n_r2, n_u1)
ALL = "-all"
SPATIAL_ALL_SIZES: dict[str, tuple[int, int, int, int]] = {
    "": (10, 10, 1000, 30),
    "-small": (5, 4, 500, 30),
    "-tiny": (4, 3, 40, 10),
}
TEMPORAL_ALL_SIZES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int, int]]] = {
    "": ((12, 12, 40, 40), (30, 230), (12, 12, 300)),
    "-small": ((6, 6, 20, 10), (10, 100), (6, 6, 100)),
    "-tiny": ((4, 4, 10, 4), (8, 40), (4, 4, 40)),
}


def _lin(lo_hi: tuple[float, float], n: int) -> np.ndarray:
    return np.linspace(*lo_hi, n)


def _mid(lo_hi: tuple[float, float], n: int) -> np.ndarray:
    return rg.id_midpoints(*lo_hi, n)


def _make(study: str, name: str, ranges: str, parts: list[Part], n_frames: int) -> SplitDef:
    scenario = SCENARIO_OF[study]
    return SplitDef(scenario, name, COMPOSITION_VERSION, ranges, PARAM_NAMES[scenario], tuple(parts),
                    n_frames=n_frames)  # fmt: skip


Z = np.zeros(1)
ONE = np.ones(1)


def spatial_parts(split: str, n: tuple[int, int, int], values) -> list[Part]:
    """The three spatial subsets as product grids [r, v, s, w] (``values``: _lin for training, _mid for eval)."""
    r, s, sp = values(S_R, n[0]), values(S_S, n[1]), values(S_V, n[2])
    a, b = TRAIN_LEVELS[SPATIAL]
    parts = [Part(split, a, (r, Z, s, sp)), Part(split, b, (r, sp, s, Z))]
    return parts


def spatial_train(size: str, ranges: str, n_frames: int) -> SplitDef:
    return _make(
        SPATIAL, f"compose-spatial{size}", ranges, spatial_parts("train", SPATIAL_SIZES[size], _lin), n_frames
    )


def spatial_eval(size: str, ranges: str, n_frames: int) -> SplitDef:
    n = SPATIAL_EVAL[size]
    r, s, sp = _mid(S_R, n[0]), _mid(S_S, n[1]), _mid(S_V, n[2])
    test = Part("ood", TEST_LEVEL[SPATIAL], (r, sp, s, sp))
    return _make(SPATIAL, f"compose-spatial{size}", ranges, [test, *spatial_parts("id", n, _mid)], n_frames)


def temporal_train(study: str, size: str, ranges: str, n_frames: int) -> SplitDef:
    (n1, n2, nu1, nu2), (nr, nv) = TEMPORAL_SIZES[size]
    coll = Part("train", "collision", (_lin(T_R, n1), _lin(T_R, n2), _lin(T_U1, nu1), _lin(T_U2, nu2), Z))
    r, v = _lin(T_R, nr), _lin(T_U1, nv)
    if study == TEMPORAL:
        bounce = Part("train", "bounce", (r, Z, v, Z, ONE))
    else:  # the failure variant: the bounce subset has the blue ball only
        bounce = Part("train", "bounce_blue", (Z, r, Z, v, ONE))
    suffix = "" if study == TEMPORAL else "-nored"
    return _make(study, f"compose-temporal{suffix}{size}", ranges, [coll, bounce], n_frames)


def temporal_eval(study: str, size: str, ranges: str, n_frames: int) -> SplitDef:
    """The test scene (blue ball at rest near the wall) and a held-out control of each of the study's two
    training subsets (collision; bounce, or bounce_blue for the failure variant)."""
    nr, nu, nu2 = TEMPORAL_EVAL[size]
    r, u1 = _mid(T_R, nr), _mid(T_U1, nu)
    bounce = (
        Part("id", "bounce", (r, Z, u1, Z, ONE))
        if study == TEMPORAL
        else Part("id", "bounce_blue", (Z, r, Z, u1, ONE))
    )
    parts = [
        Part("ood", TEST_LEVEL[study], (r, r, u1, Z, ONE)),
        Part("id", "collision", (r, r, u1, _mid(T_U2, nu2), Z)),
        bounce,
    ]
    suffix = "" if study == TEMPORAL else "-nored"
    return _make(study, f"compose-temporal{suffix}{size}", ranges, parts, n_frames)


def spatial_all(size: str, ranges: str, n_frames: int) -> SplitDef:
    """``compose-spatial-all<size>``: both one-mover subsets and the both-move layout, on training grids."""
    n_r, n_s, n_v, n_b = SPATIAL_ALL_SIZES[size]
    r, s, sp, both = _lin(S_R, n_r), _lin(S_S, n_s), _lin(S_V, n_v), _lin(S_V, n_b)
    a, b = TRAIN_LEVELS[SPATIAL]
    parts = [Part("train", a, (r, Z, s, sp)), Part("train", b, (r, sp, s, Z)),
             Part("train", TEST_LEVEL[SPATIAL], (r, both, s, both))]  # fmt: skip
    return _make(SPATIAL, f"compose-spatial{ALL}{size}", ranges, parts, n_frames)


def temporal_all(size: str, ranges: str, n_frames: int) -> SplitDef:
    """``compose-temporal-all<size>``: collisions, red and blue bounces, and the test layout (the red ball
    strikes the blue one at rest near the wall), on training grids: the frames of the VAE shared by the
    temporal and temporal-nored cells (one scenario, one autoencoder)."""
    (n1, n2, nu1, nu2), (nr, nv), (t1, t2, tu) = TEMPORAL_ALL_SIZES[size]
    r, v = _lin(T_R, nr), _lin(T_U1, nv)
    parts = [
        Part("train", "collision", (_lin(T_R, n1), _lin(T_R, n2), _lin(T_U1, nu1), _lin(T_U2, nu2), Z)),
        Part("train", "bounce", (r, Z, v, Z, ONE)),
        Part("train", "bounce_blue", (Z, r, Z, v, ONE)),
        Part("train", TEST_LEVEL[TEMPORAL], (_lin(T_R, t1), _lin(T_R, t2), _lin(T_U1, tu), Z, ONE)),
    ]
    return _make(TEMPORAL, f"compose-temporal{ALL}{size}", ranges, parts, n_frames)


# ----------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class CompositionSplit:
    """A registered composition split: its study (spatial / temporal / temporal-nored), role ("train" /
    "eval") and size suffix."""

    name: str
    scenario: str
    study: str
    role: str  # "train", "eval" or "autoencoder" (the -all frames of a scenario's shared VAE)
    size: str
    build: Callable[[str, int], SplitDef]


def _registry() -> dict[str, CompositionSplit]:
    out: dict[str, CompositionSplit] = {}

    def add(name, study, role, size, build):
        out[name] = CompositionSplit(name, SCENARIO_OF[study], study, role, size, build)

    for size in SPATIAL_SIZES:
        add(f"compose-spatial{size}", SPATIAL, "train", size, lambda r, n, s=size: spatial_train(s, r, n))
    for size in SPATIAL_EVAL:
        add(f"compose-spatial{size}", SPATIAL, "eval", size, lambda r, n, s=size: spatial_eval(s, r, n))
    for size in TEMPORAL_SIZES:
        add(f"compose-temporal{size}", TEMPORAL, "train", size,
            lambda r, n, s=size: temporal_train(TEMPORAL, s, r, n))  # fmt: skip
        add(f"compose-temporal-nored{size}", NORED, "train", size,
            lambda r, n, s=size: temporal_train(NORED, s, r, n))  # fmt: skip
    for size in TEMPORAL_EVAL:
        add(
            f"compose-temporal{size}",
            TEMPORAL,
            "eval",
            size,
            lambda r, n, s=size: temporal_eval(TEMPORAL, s, r, n),
        )
        add(f"compose-temporal-nored{size}", NORED, "eval", size,
            lambda r, n, s=size: temporal_eval(NORED, s, r, n))  # fmt: skip
    for size in SPATIAL_ALL_SIZES:
        add(f"compose-spatial{ALL}{size}", SPATIAL, "autoencoder", size,
            lambda r, n, s=size: spatial_all(s, r, n))  # fmt: skip
    for size in TEMPORAL_ALL_SIZES:
        add(f"compose-temporal{ALL}{size}", TEMPORAL, "autoencoder", size,
            lambda r, n, s=size: temporal_all(s, r, n))  # fmt: skip
    return out


COMPOSITION_SPLITS: dict[str, CompositionSplit] = _registry()
COMPOSITION_SCENARIOS: tuple[str, ...] = tuple(sorted(set(SCENARIO_OF.values())))


def composition_splits(scenario: str) -> dict[str, Callable[[str, int], SplitDef]]:
    """name -> constructor(ranges, n_frames) of the composition splits of ``scenario`` (none for the others)."""
    return {s.name: s.build for s in COMPOSITION_SPLITS.values() if s.scenario == scenario}


def composition_split(name: str) -> CompositionSplit:
    """The registry entry of a composition split (PhylawError naming them otherwise)."""
    if name not in COMPOSITION_SPLITS:
        raise PhylawError(f"{name!r} is not a composition split; they are: {', '.join(COMPOSITION_SPLITS)}")
    return COMPOSITION_SPLITS[name]
