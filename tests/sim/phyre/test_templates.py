"""Templates, subsets, task layouts and the row check (SPEC B.5, SPEC_COMBINATORIAL A.3)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.sim.phyre import objects as ob
from phylaw.sim.phyre import templates as tp

# SPEC B.5, "Templates 10000-10069" (the release's order, computed there by re-running the shuffle)
SPEC_TABLE = {
    10000: "dball2, dstandbars, djar, dsticks",
    10001: "dbar, sbar, djar, dsticks",
    10002: "dball1, dbar, sbar, djar",
    10003: "dstandbars, sbar, djar, dsticks",
    10004: "dball2, sball, dstandbars, djar",
    10005: "sball, dbar, dstandbars, sbar",
    10006: "dball1, dbar, dstandbars, dsticks",
    10007: "dball2, sball, djar, dsticks",
    10008: "dball2, sball, dbar, sbar",
    10009: "dball2, sball, dstandbars, sbar",
    10010: "sball, dstandbars, sbar, dsticks",
    10011: "dball2, sbar, djar, dsticks",
    10012: "dball1, dbar, dstandbars, djar",
    10013: "dball1, dbar, sbar, dsticks",
    10014: "sball, dbar, dstandbars, djar",
    10015: "dball1, sball, dstandbars, djar",
    10016: "sball, dbar, djar, dsticks",
    10017: "dball2, dbar, dstandbars, sbar",
    10018: "dball2, dbar, dstandbars, dsticks",
    10019: "dball2, sball, sbar, djar",
    10020: "dball1, sball, sbar, djar",
    10021: "dball2, sball, dbar, djar",
    10022: "dball2, dstandbars, sbar, dsticks",
    10023: "dball1, dball2, sball, dbar",
    10024: "dball1, dball2, dstandbars, sbar",
    10025: "dball2, sball, sbar, dsticks",
    10026: "dball1, dball2, sball, sbar",
    10027: "dball1, dball2, dbar, dsticks",
    10028: "dball1, dstandbars, sbar, djar",
    10029: "dball1, dball2, dbar, djar",
    10030: "sball, dbar, sbar, dsticks",
    10031: "dball1, sball, dbar, dstandbars",
    10032: "dball1, dstandbars, sbar, dsticks",
    10033: "dball1, sball, djar, dsticks",
    10034: "dball1, sball, dstandbars, dsticks",
    10035: "dball1, dball2, dbar, dstandbars",
    10036: "dbar, dstandbars, sbar, dsticks",
    10037: "sball, dbar, dstandbars, dsticks",
    10038: "sball, sbar, djar, dsticks",
    10039: "dball1, dball2, dstandbars, djar",
    10040: "dball1, dball2, sbar, djar",
    10041: "dball2, dbar, sbar, dsticks",
    10042: "dball2, dbar, dstandbars, djar",
    10043: "dball2, sball, dstandbars, dsticks",
    10044: "dbar, dstandbars, sbar, djar",
    10045: "dbar, dstandbars, djar, dsticks",
    10046: "dball1, sball, dbar, sbar",
    10047: "dball1, dball2, dbar, sbar",
    10048: "sball, dstandbars, djar, dsticks",
    10049: "dball1, sball, dbar, djar",
    10050: "dball1, sball, sbar, dsticks",
    10051: "dball1, sbar, djar, dsticks",
    10052: "dball1, dstandbars, djar, dsticks",
    10053: "dball1, dball2, djar, dsticks",
    10054: "dball1, dball2, sball, djar",
    10055: "dball2, dbar, sbar, djar",
    10056: "dball2, dstandbars, sbar, djar",
    10057: "dball1, sball, dbar, dsticks",
    10058: "sball, dbar, sbar, djar",
    10059: "dball2, sball, dbar, dstandbars",
    10060: "dball1, dbar, dstandbars, sbar",
    10061: "dball1, dball2, sball, dstandbars",
    10062: "dball1, dball2, sball, dsticks",
    10063: "dball1, dball2, dstandbars, dsticks",
    10064: "dball1, sball, dstandbars, sbar",
    10065: "sball, dstandbars, sbar, djar",
    10066: "dball2, dbar, djar, dsticks",
    10067: "dball1, dball2, sbar, dsticks",
    10068: "dball2, sball, dbar, dsticks",
    10069: "dball1, dbar, djar, dsticks",
}


def test_templates_match_the_spec_table():
    assert len(tp.TEMPLATES) == 70
    assert {t: ", ".join(objs) for t, objs in tp.TEMPLATES.items()} == SPEC_TABLE
    assert tp.OBJECT_TYPES == ("dball1", "dball2", "sball", "dbar", "dstandbars", "sbar", "djar", "dsticks")


def test_subsets():
    s = tp.SUBSETS
    assert set(s) == {"train6", "train30", "train60", "held-out"}
    assert s["train60"] == tuple(range(10000, 10060))
    assert s["held-out"] == tuple(range(10060, 10070))
    assert not set(s["held-out"]) & set(s["train60"])
    assert s["train30"] == tuple(t for t in range(10000, 10060) if t % 2 == 0)
    assert s["train6"] == (10003, 10005, 10016, 10023, 10024, 10053)
    assert set(s["train6"]) <= set(s["train60"])
    assert set(s["train30"]) <= set(s["train60"])
    # train6 covers every pair of object types (the paper's minimal set of two-object interactions)
    covered = {frozenset(p) for t in s["train6"] for p in itertools.combinations(tp.TEMPLATES[t], 2)}
    assert covered == {frozenset(p) for p in itertools.combinations(tp.OBJECT_TYPES, 2)}
    # ... as the 6 unions of two of the four pairs
    pairs = [{"dball1", "dball2"}, {"sball", "dbar"}, {"dstandbars", "sbar"}, {"djar", "dsticks"}]
    unions = {frozenset(a | b) for a, b in itertools.combinations(pairs, 2)}
    assert {frozenset(tp.TEMPLATES[t]) for t in s["train6"]} == unions
    assert tp.subset("train6") == s["train6"]
    with pytest.raises(PhylawError, match="unknown PHYRE template subset 'train7'"):
        tp.subset("train7")


def test_md5_seed_order():
    assert tp.md5_seed_order(100)[:7] == [27, 63, 60, 59, 69, 6, 43]
    assert sorted(tp.md5_seed_order(100)) == list(range(100))


def _fingerprint(bodies: list[ob.Body]) -> bytes:
    parts = []
    for b in bodies:
        parts.append(np.array([*b.position, b.angle, b.radius, b.diameter, b.dynamic, b.color]).tobytes())
        parts.extend(p.tobytes() for p in b.polygons)
        parts.append(b.kind.encode())
    return b"|".join(parts)


def test_build_task_is_deterministic_and_seeded():
    a = tp.build_task(10016, 3, seed=11)
    assert _fingerprint(a) == _fingerprint(tp.build_task(10016, 3, seed=11))
    assert _fingerprint(a) != _fingerprint(tp.build_task(10016, 3, seed=12))
    assert _fingerprint(a) != _fingerprint(tp.build_task(10016, 4, seed=11))
    assert _fingerprint(a) != _fingerprint(tp.build_task(10017, 3, seed=11))


def test_build_task_holds_the_template_objects_in_order_without_walls():
    kinds_of = {
        "dball1": ("ball", True), "dball2": ("ball", True), "sball": ("ball", False), "dbar": ("bar", True),
        "dstandbars": ("bar", True), "sbar": ("bar", False), "djar": ("jar", True), "dsticks": ("sticks", True),
    }  # fmt: skip
    for t in (10000, 10005, 10023, 10065):
        bodies = tp.build_task(t, 0, seed=0)
        assert all(b.kind in ob.KINDS for b in bodies)
        seen = []
        for b in bodies:
            if not seen or seen[-1] != (b.kind, b.dynamic):
                seen.append((b.kind, b.dynamic))
        expected = []
        for name in tp.TEMPLATES[t]:
            if not expected or expected[-1] != kinds_of[name]:
                expected.append(kinds_of[name])
        assert seen == expected


def test_ambiguity_tasks_use_the_md5_seed_order():
    b0 = tp.build_task(20002, 0, seed=123)
    assert b0[2].position[0] == pytest.approx(228.608)  # seed 27
    assert _fingerprint(b0) == _fingerprint(tp.build_task(20002, 0, seed=0))  # fixed layouts
    order = tp.md5_seed_order(100)
    blk = tp.build_task(20003, 5, seed=0)[2]
    assert blk.position[0] == pytest.approx(512 * (0.4 + (order[5] - 50) * 0.0001))
    assert tp.n_tasks(20000) == tp.n_tasks(20001) == 1
    assert tp.n_tasks(20002) == 100
    assert tp.n_fixed_actions(20000) == 101
    assert tp.n_fixed_actions(20003) == 1
    assert tp.n_fixed_actions(10000) is None


@pytest.mark.parametrize(
    ("template", "task", "match"),
    [
        (10070, 0, "unknown PHYRE template 10070"),
        (9999, 0, "unknown PHYRE template 9999"),
        (20004, 0, "unknown PHYRE template 20004"),
        (10000.5, 0, "unknown PHYRE template 10000.5"),
        (10000, 100, "tasks 0-99"),
        (10000, -1, "tasks 0-99"),
        (20000, 1, "tasks 0-0"),
    ],
)
def test_build_task_bad_input(template, task, match):
    with pytest.raises(PhylawError, match=match):
        tp.build_task(template, task, seed=0)


def test_template_objects_bad_input():
    assert tp.template_objects(10000) == tp.TEMPLATES[10000]
    with pytest.raises(PhylawError, match="ambiguity"):
        tp.template_objects(20000)
    with pytest.raises(PhylawError, match="unknown PHYRE template"):
        tp.template_objects(1)


def test_check_rows():
    good = np.array([[10000, 0, 0], [10069, 99, 999], [20000, 0, 100], [20003, 99, 0]], float)
    assert tp.check_rows(good) is None
    cases = [
        ([10000, 0, 0.5], "integers"),
        ([10070, 0, 0], "unknown template 10070"),
        ([10000, 100, 0], "task 100 outside 0-99"),
        ([20001, 1, 0], "task 1 outside 0-0"),
        ([10000, 0, -1], "negative trial"),
        ([20000, 0, 101], "trial 101 outside 0-100"),
        ([20002, 3, 1], "trial 1 outside 0-0"),
        ([np.nan, 0, 0], "integers"),
    ]
    for row, what in cases:
        bad = tp.check_rows(np.array([[10001, 1, 1], row], float))
        assert bad is not None
        assert bad[0] == 1
        assert what in bad[1]
    assert tp.check_rows(np.zeros((2, 2)))[0] == 0


def test_registry_uses_check_rows():
    from phylaw.sim.registry import validate_params

    assert validate_params("phyre", [[10000, 0, 0]]).shape == (1, 3)
    with pytest.raises(PhylawError, match="unknown template 10070"):
        validate_params("phyre", [[10070, 0, 0]])


def test_package_import_does_not_load_box2d():
    import subprocess
    import sys

    code = "import sys, phylaw.sim.phyre as p; p.build_task(10000, 0, 0); assert 'Box2D' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
