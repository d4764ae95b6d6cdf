"""The scenario registry: schemas, derived names, and parameter meaning taken from the schema, not the name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render import palette
from phylaw.sim import kinematics as km
from phylaw.sim import ranges as rg
from phylaw.sim import registry


def test_schema_of_the_kinematic_scenarios():
    assert tuple(registry.SCENARIOS) == km.SCENARIOS
    assert tuple(registry.SCENARIOS)[:4] == ("uniform_motion", "collision", "parabola", "phyre")
    assert "attribute_motion" in registry.SCENARIOS  # the attribute studies' scene (sim.attributes)
    assert registry.KINEMATIC_SCENARIOS == ("uniform_motion", "collision", "parabola")
    coll = registry.get_scenario("collision")
    assert [(p.name, p.kind, p.obj) for p in coll.params] == [
        ("r1", "radius", 0),
        ("r2", "radius", 1),
        ("v1", "speed", 0),
        ("v2", "speed", 1),
    ]
    assert (coll.n_objects, coll.has_contact_phase, coll.engine) == (2, True, "closed_form")
    for name in ("uniform_motion", "parabola"):
        sc = registry.get_scenario(name)
        assert [(p.name, p.kind, p.obj) for p in sc.params] == [("r", "radius", 0), ("v", "speed", 0)]
        assert (sc.n_objects, sc.has_contact_phase) == (1, False)
        assert all(p.unit for p in sc.params)
    for name in registry.KINEMATIC_SCENARIOS:
        sc = registry.SCENARIOS[name]
        assert km.PARAM_NAMES[name] == sc.param_names
        assert km.N_UNIFORMS[name] == sc.n_uniforms
        st = registry.simulate(name, np.array([[1.0] * len(sc.params)]), np.random.default_rng(0), 8)
        assert st.n_objects == sc.n_objects


def test_unknown_scenario_is_one_line_error():
    with pytest.raises(PhylawError, match="unknown scenario 'pendulum'"):
        registry.get_scenario("pendulum")
    with pytest.raises(PhylawError, match="has no parameter 'q'"):
        registry.get_scenario("collision").kind_of("q")


@pytest.fixture
def renamed(monkeypatch):
    """uniform motion registered again as 'renamed' with parameters 'a' (speed) and 'b' (radius): names that
    say nothing and a column order that a name-based guess would get wrong."""
    base = registry.get_scenario("uniform_motion")

    def simulate(params, u, n_frames):  # the closed form wants [r, v]
        return km.uniform_motion(params[:, ::-1].copy(), u, n_frames)

    sc = dataclasses.replace(
        base,
        name="renamed",
        params=(
            registry.Param("a", "world units/s", "speed", "speed", 0),
            registry.Param("b", "world units", "radius", "radius", 0),
        ),
        simulate=simulate,
    )
    monkeypatch.setitem(registry.SCENARIOS, "renamed", sc)
    return sc


def test_parameter_meaning_comes_from_the_schema(renamed):
    ok = registry.validate_params("renamed", [[0.0, 1.0]])  # speed 0 is fine, radius 1 is fine
    assert ok.shape == (1, 2)
    with pytest.raises(PhylawError, match="negative speed"):
        registry.validate_params("renamed", [[-1.0, 1.0]])
    with pytest.raises(PhylawError, match="radius <= 0"):
        registry.validate_params("renamed", [[1.0, 0.0]])
    with pytest.raises(PhylawError, match="too big"):
        registry.validate_params("renamed", [[1.0, 4.8]])
    rset = rg.get_ranges("paper", "uniform_motion")
    vals = rg.eval_values(rset, {"a": ("id", 3), "b": ("ood", 2)}, "renamed")
    assert (vals["a"] > 1.0).all()  # speeds from the speed ID range [1, 4]
    assert (vals["a"] < 4.0).all()
    np.testing.assert_allclose(vals["b"], [0.3, 2.0])  # radii from the radius OOD bands
    st = registry.simulate_uniforms("renamed", [[2.0, 0.9]], np.full((1, 3), 0.5), 4)
    np.testing.assert_allclose(st.radius, [[0.9]])
    np.testing.assert_allclose(st.velocity[0, :, 0, 0], 2.0)


def test_training_grids_follow_the_schema():
    vals = rg.train_values("collision", "train-3k", rg.get_ranges("paper", "collision"))
    np.testing.assert_allclose(vals["r2"], np.linspace(0.7, 1.5, 6))
    np.testing.assert_allclose(vals["v2"], np.linspace(1.0, 4.0, 9))


def test_one_palette():
    assert (
        (km.RED, km.BLUE)
        == (palette.RED, palette.BLUE)
        == (palette.color_id("red"), palette.color_id("blue"))
    )
    from phylaw.evaluate.parse import DEFAULT_PALETTE

    assert [(r.name, r.color_id, r.lo, r.hi) for r in DEFAULT_PALETTE.rules] == [
        (n, palette.COLOR_NAMES[n], lo, hi) for n, (lo, hi) in palette.PARSE_RULES.items()
    ]
    # SPEC I.4: red is R > 127, G < 127, B < 127; blue is R < 127, G < 127, B > 127
    assert palette.PARSE_RULES == {
        "red": ((128, 0, 0), (255, 126, 126)),
        "blue": ((0, 0, 128), (126, 126, 255)),
    }
    table = palette.rgb_table()
    # each rule matches its own colour's RGB and PHYRE's shade of it (the user ball is phyre-red), nothing else;
    # PHYRE's purple (75, 74, 164) is blue by SPEC I.4's rule: parse phyre scenes for red only
    own = {"red": {"red", "phyre-red"}, "blue": {"blue", "phyre-blue", "phyre-purple"}}
    for name, (lo, hi) in palette.PARSE_RULES.items():
        for cid in palette.COLORS:
            inside = all(a <= c <= b for a, c, b in zip(lo, table[cid], hi, strict=True))
            assert inside == (palette.color_name(cid) in own[name]), (name, cid)
    assert [palette.color_name(i) for i in palette.WAD_TO_PALETTE] == [
        "white", "phyre-red", "phyre-green", "phyre-blue", "phyre-purple", "phyre-gray", "black", "phyre-light-red"
    ]  # fmt: skip
