"""The scenario registry: each scenario's parameter schema, engine, objects, render kinds and simulator.

A parameter's meaning comes from its ``Param`` entry (``kind``: what the value is; ``obj``: the object slot it
belongs to); no code guesses it from the parameter's name. A new scenario is one ``Scenario`` entry here plus
its simulator (closed forms live in ``sim.kinematics``; a rigid-body engine would live in its own module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from phylaw.errors import PhylawError
from phylaw.sim import kinematics as km
from phylaw.sim.states import WORLD_SIZE, States

PARAM_KINDS: tuple[str, ...] = ("radius", "speed")  # the kinds the kinematic ranges (sim.ranges) know
# categorical kinds (scenario attribute_motion): a palette id / a shape id, checked by validate_params
ATTRIBUTE_KINDS: tuple[str, ...] = ("color", "shape")


@dataclass(frozen=True)
class Param:
    """One scenario parameter: ``kind`` is what the value is ("radius", "speed", ...), ``obj`` its object slot."""

    name: str
    unit: str
    meaning: str
    kind: str
    obj: int


@dataclass(frozen=True)
class Scenario:
    """A scenario: its parameters (one row of a split = one value per parameter, in this order), the engine
    that simulates it, the number of object slots of its videos, the shape kinds its renderer draws, the number
    of uniform placement draws per video, and its simulator ``simulate(params (n, P), u (n, U), n_frames)``.

    ``has_contact_phase``: the scenario's videos are scored after their first contact event (collision); a
    video of such a scenario without a contact has no post-contact frames.

    ``world_size``: side of the square world in the states' length unit (10 world units for the kinematic
    scenes, 512 PHYRE scene units for ``phyre``); ``renderer``: "soft" (render.raster) or "phyre"
    (render.phyre_raster). ``simulate_seeded(params, seed, n_frames) -> (States, extras)``: a simulator that
    derives its own randomness from the dataset seed per row (e.g. one layout shared by every trial of a
    task) instead of per-row uniforms; ``extras`` maps a name to a per-video array stored beside the states.
    ``check_params(params) -> (row, problem) | None``: the scenario's own validity rule (default: the
    kinematic radius/speed checks). ``max_frames``: the longest video the engine records (None: any).
    """

    name: str
    params: tuple[Param, ...]
    engine: str
    n_objects: int
    render_kinds: tuple[str, ...]
    n_uniforms: int
    simulate: Callable[[np.ndarray, np.ndarray, int], States] | None
    has_contact_phase: bool = False
    world_size: float = WORLD_SIZE
    renderer: str = "soft"
    simulate_seeded: Callable[[np.ndarray, int, int], tuple[States, dict[str, np.ndarray]]] | None = None
    check_params: Callable[[np.ndarray], tuple[int, str] | None] | None = None
    max_frames: int | None = None
    default_frames: int = 32
    time_offset: float = 0.0  # time of frame 0 in seconds (phyre: frame k is after 20k + 1 steps, 1/60 s)
    cond_frames: int = 3  # c: frames that condition a model (kinematic: 3, SPEC I.2; phyre: 1, SPEC B.5)
    # check_resolution(split, resolution): a one-line PhylawError when the split cannot be drawn at that
    # resolution (attribute_motion: a ring thinner than a pixel); called before a dataset is generated
    check_resolution: Callable[[object, int], None] | None = None

    @property
    def seeded(self) -> bool:
        return self.simulate_seeded is not None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def columns(self, kind: str) -> list[int]:
        """Column indices of the parameters of one kind (in schema order)."""
        return [i for i, p in enumerate(self.params) if p.kind == kind]

    def kind_of(self, name: str) -> str:
        """The kind of parameter ``name`` (PhylawError if the scenario has no such parameter)."""
        for p in self.params:
            if p.name == name:
                return p.kind
        raise PhylawError(f"{self.name} has no parameter {name!r}; its parameters are {self.param_names}")


_LEN, _SPEED = "world units", "world units/s"


def _phyre_simulate(params: np.ndarray, seed: int, n_frames: int) -> tuple[States, dict[str, np.ndarray]]:
    from phylaw.sim.phyre.engine import simulate_rows  # Box2D is imported only when phyre is simulated

    return simulate_rows(params, seed, n_frames)


def _attribute_simulate(params: np.ndarray, u: np.ndarray, n_frames: int) -> States:
    from phylaw.sim.attributes import attribute_motion

    return attribute_motion(params, u, n_frames)


def _attribute_resolution(split, resolution: int) -> None:
    from phylaw.sim.attributes import check_ring_resolution

    check_ring_resolution(split, resolution)


def _walls(name: str):
    """A function of sim.walls, imported at call time (sim.walls imports the kinematics this module does)."""

    def call(*args):
        from phylaw.sim import walls

        return getattr(walls, name)(*args)

    return call


def _phyre_check(params: np.ndarray) -> tuple[int, str] | None:
    from phylaw.sim.phyre.templates import check_rows

    return check_rows(params)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "uniform_motion",
            (
                Param("r", _LEN, "radius of the red ball", "radius", 0),
                Param("v", _SPEED, "speed of the red ball (moving +x)", "speed", 0),
            ),
            engine="closed_form",
            n_objects=1,
            render_kinds=("disc",),
            n_uniforms=3,
            simulate=km.uniform_motion,
        ),
        Scenario(
            "collision",
            (
                Param("r1", _LEN, "radius of the red ball (left)", "radius", 0),
                Param("r2", _LEN, "radius of the blue ball (right)", "radius", 1),
                Param("v1", _SPEED, "speed of the red ball (moving +x)", "speed", 0),
                Param("v2", _SPEED, "speed of the blue ball (moving -x, stored positive)", "speed", 1),
            ),
            engine="closed_form",
            n_objects=2,
            render_kinds=("disc",),
            n_uniforms=3,
            simulate=km.collision,
            has_contact_phase=True,
        ),
        Scenario(
            "parabola",
            (
                Param("r", _LEN, "radius of the red ball", "radius", 0),
                Param("v", _SPEED, "horizontal launch speed of the red ball (+x)", "speed", 0),
            ),
            engine="closed_form",
            n_objects=1,
            render_kinds=("disc",),
            n_uniforms=3,
            simulate=km.parabola,
        ),
        Scenario(
            "phyre",
            (
                Param(
                    "template", "id", "PHYRE template (10000-10069, ambiguity 20000-20003)", "template", -1
                ),
                Param("task", "index", "task of the template (its layout; 0-99)", "task", -1),
                Param("trial", "index", "trial of the task (the red ball's action)", "trial", -1),
            ),
            engine="box2d",
            n_objects=14,
            render_kinds=("disc", "box", "jar", "sticks"),
            n_uniforms=0,
            simulate=None,
            world_size=512.0,
            renderer="phyre",
            simulate_seeded=_phyre_simulate,
            check_params=_phyre_check,
            max_frames=50,
            default_frames=32,
            time_offset=1.0 / 60.0,
            cond_frames=1,
        ),
        Scenario(
            "attribute_motion",
            (
                Param("r", _LEN, "radius of the disc / ring, half side of the square", "radius", 0),
                Param("v", _SPEED, "speed of the object (moving +x)", "speed", 0),
                Param("color", "palette id", "colour of the object (1 red, 2 blue)", "color", 0),
                Param("shape", "shape id", "shape of the object (0 disc, 1 square, 2 ring)", "shape", 0),
            ),
            engine="closed_form",
            n_objects=1,
            render_kinds=("disc", "square", "ring"),
            n_uniforms=3,
            simulate=_attribute_simulate,
            check_resolution=_attribute_resolution,
        ),
        Scenario(  # spatial composition (sim.walls): red ball to the wall and back, blue square, the wall
            "wall_bounce",
            (
                Param("r", _LEN, "radius of the red ball (lower half)", "radius", 0),
                Param("v", _SPEED, "speed of the red ball toward the wall (+x; 0: at rest)", "speed", 0),
                Param("s", _LEN, "half side of the blue square (upper half)", "radius", 1),
                Param("w", _SPEED, "speed of the blue square (moving -x; 0: at rest)", "speed", 1),
            ),
            engine="closed_form_events",
            n_objects=3,
            render_kinds=("disc", "square", "box"),
            n_uniforms=4,
            simulate=_walls("wall_bounce"),
            check_params=_walls("check_wall_bounce"),
        ),
        Scenario(  # temporal composition (sim.walls): two balls collide, a ball bounces off the wall, or both
            "wall_collision",
            (
                Param("r1", _LEN, "radius of the red ball (left; 0: no red ball)", "radius", 0),
                Param("r2", _LEN, "radius of the blue ball (right; 0: no blue ball)", "radius", 1),
                Param("u1", _SPEED, "x velocity of the red ball (signed, +x toward the wall)", "velocity", 0),
                Param("u2", _SPEED, "x velocity of the blue ball (signed, +x toward the wall)", "velocity", 1),
                Param("wall", "flag", "1: the wall stands at the right edge, 0: no wall", "flag", 2),
            ),
            engine="closed_form_events",
            n_objects=3,
            render_kinds=("disc", "box"),
            n_uniforms=3,
            simulate=_walls("wall_collision"),
            has_contact_phase=True,
            check_params=_walls("check_wall_collision"),
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The registered scenario ``name`` (one-line PhylawError naming the known ones otherwise)."""
    if name not in SCENARIOS:
        raise PhylawError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def check_scenario(scenario: str) -> str:
    """``scenario`` if it is registered, else a one-line PhylawError."""
    get_scenario(scenario)
    return scenario


def validate_params(scenario: str, params: np.ndarray) -> np.ndarray:
    """Return params as (n, P) float64, or raise PhylawError naming the first bad row."""
    sc = get_scenario(scenario)
    names = sc.param_names
    p = np.asarray(params, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(names):
        raise PhylawError(f"{scenario} params must have shape (n, {len(names)}) for {names}, got {p.shape}")
    if sc.check_params is not None:
        finite = np.isfinite(p).all(axis=1)
        bad = sc.check_params(p) if finite.all() else (int(np.flatnonzero(~finite)[0]), "is not finite")
        if bad is not None:
            i, what = bad
            row = dict(zip(names, p[i].tolist(), strict=True))
            raise PhylawError(f"{scenario} parameter row {i} {row} {what}")
        return p
    radii = p[:, sc.columns("radius")]
    speeds = p[:, sc.columns("speed")]
    checks = [
        (~np.isfinite(p).all(axis=1), "is not finite"),
        ((radii <= 0).any(axis=1), "has a radius <= 0"),
        ((speeds < 0).any(axis=1), "has a negative speed (speeds are magnitudes; direction is fixed)"),
        (
            radii.max(axis=1, initial=0.0) > WORLD_SIZE / 2 - km.EDGE_MARGIN,
            "has a radius too big for the 10x10 world (> 4.5)",
        ),
        (radii.sum(axis=1) > WORLD_SIZE / 2, "has radii too big for two balls side by side (sum > 5)"),
    ]
    checks += _attribute_checks(sc, p)
    for bad, what in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row = dict(zip(names, p[i].tolist(), strict=True))
            raise PhylawError(f"{scenario} parameter row {i} {row} {what}")
    return p


def _attribute_checks(sc: Scenario, p: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """(bad rows, problem) of the categorical parameters: a colour that is not red / blue, a shape that is
    not a disc / square / ring (the ids the soft renderer draws and the parser tells apart)."""
    from phylaw.render.palette import BLUE, RED
    from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE

    out = []
    for kind, known, what in (("color", (RED, BLUE), "colour id (1 red, 2 blue)"),
                              ("shape", (SHAPE_DISC, SHAPE_SQUARE, SHAPE_RING), "shape id (0 disc, 1 square, 2 ring)")):  # fmt: skip
        cols = sc.columns(kind)
        if cols:
            bad = ~np.isin(p[:, cols], np.asarray(known, np.float64)).all(axis=1)
            out.append((bad, f"has an unknown {what}"))
    return out


def simulate_uniforms(scenario: str, params: np.ndarray, u: np.ndarray, n_frames: int = 32) -> States:
    """States from params (n, P) and pre-drawn uniforms u (n, n_uniforms of the scenario)."""
    sc = get_scenario(scenario)
    p = validate_params(scenario, params)
    if sc.simulate is None:
        raise PhylawError(f"{scenario} is simulated from a seed (simulate_seeded), not from uniforms")
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (p.shape[0], sc.n_uniforms):
        raise PhylawError(f"{scenario} needs uniforms of shape {(p.shape[0], sc.n_uniforms)}, got {u.shape}")
    return sc.simulate(p, u, n_frames)


def simulate(scenario: str, params: np.ndarray, rng: np.random.Generator, n_frames: int = 32) -> States:
    """Place the objects with draws from ``rng`` and simulate a batch.

    params: (n, P) float64 in the order of the scenario's parameters. Draws exactly n * n_uniforms uniforms
    from rng (row-major), so the result for row i depends only on params[i] and its own draws.
    """
    sc = get_scenario(scenario)
    p = validate_params(scenario, params)
    if sc.simulate_seeded is not None:  # one seed drawn from rng for the whole batch
        return sc.simulate_seeded(p, int(rng.integers(2**63 - 1)), n_frames)[0]
    u = rng.random((p.shape[0], sc.n_uniforms))  # (n, U)
    return sc.simulate(p, u, n_frames)


# derived views kept for callers written before the registry
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)
# the closed-form scenes of the paper's section 3 (Fig. 3): uniform motion, collision, parabola
KINEMATIC_SCENARIOS: tuple[str, ...] = ("uniform_motion", "collision", "parabola")
# every closed-form scene (also attribute_motion, the attribute studies' scene): what phylaw's metrics score
CLOSED_FORM_SCENARIOS: tuple[str, ...] = tuple(n for n, s in SCENARIOS.items() if s.engine == "closed_form")
PARAM_NAMES: dict[str, tuple[str, ...]] = {n: s.param_names for n, s in SCENARIOS.items()}
N_UNIFORMS: dict[str, int] = {n: s.n_uniforms for n, s in SCENARIOS.items()}
