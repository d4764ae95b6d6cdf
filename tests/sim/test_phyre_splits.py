"""The named phyre splits (issue 12): sizes, pools, disjointness, labels, seeds, and their bad input."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw import sim
from phylaw.errors import PhylawError
from phylaw.sim.phyre import templates as tp
from phylaw.sim.phyre.splits import N_TASKS, N_TRAIN_TRIALS

CONTRACT = ("train6", "train30", "train60", "eval-in-template", "eval-out-of-template", "ambiguity")


def rows(split: str) -> set[tuple[int, int, int]]:
    """Every (template, task, trial) of a split (its parts' product grids, without simulating)."""
    out = set()
    for part in sim.get_split("phyre", split).parts:
        for t in part.values[0]:
            for k in part.values[1]:
                out.update((int(t), int(k), int(j)) for j in part.values[2])
    return out


def test_the_contract_names_and_paper_sizes():
    names = sim.list_splits("phyre")
    assert set(CONTRACT) <= set(names)
    assert N_TASKS == tp.N_TASKS
    sizes = {n: len(sim.get_split("phyre", n)) for n in names}
    assert sizes["train6"] == 6 * 100 * 990  # the paper's 0.6M less the 10 evaluation trials per task
    assert sizes["train30"] == 30 * 100 * 990
    assert sizes["train60"] == 60 * 100 * 990
    assert sizes["eval-in-template"] == 60 * 100 * 10
    assert sizes["eval-out-of-template"] == 10 * 100  # the release's 1K out-of-template set
    assert sizes["ambiguity"] == 101 + 101 + 100 + 100
    assert sizes["eval-in-template-small"] == 600  # the paper scores 600 in-template videos
    assert sizes["train6-small"] == 600
    assert sizes["train60-small"] == 6000


def test_pools_are_disjoint_and_templates_as_the_subsets():
    train60, in_t, out_t = rows("train60-small"), rows("eval-in-template-small"), rows("eval-out-of-template")
    assert not train60 & in_t
    assert not train60 & out_t
    assert not in_t & out_t
    assert {t for t, _, _ in train60} == set(tp.SUBSETS["train60"])
    assert {t for t, _, _ in out_t} == set(tp.SUBSETS["held-out"])
    assert {j for _, _, j in rows("eval-in-template")} == set(range(N_TRAIN_TRIALS, 1000))
    # small training and evaluation sets share task layouts (tasks 0-9), never a trial
    assert {(t, k) for t, k, _ in in_t} <= {(t, k) for t, k, _ in train60}
    assert {t for t, _, _ in rows("train6")} == set(tp.SUBSETS["train6"])
    assert {t for t, _, _ in rows("eval-in-template-train6")} == set(tp.SUBSETS["train6"])


def test_labels_and_levels():
    s = sim.get_split("phyre", "eval-out-of-template")
    lab = s.labels(0, 5)
    assert set(lab.split) == {"ood"}
    assert set(lab.level) == {"out-of-template"}
    assert set(sim.get_split("phyre", "eval-in-template").labels(0, 5).split) == {"id"}
    amb = sim.get_split("phyre", "ambiguity")
    assert amb.levels == ("ambiguity-20000", "ambiguity-20001", "ambiguity-20002", "ambiguity-20003")


def test_rows_simulate_from_the_dataset_seed_with_shared_layouts():
    s = sim.get_split("phyre", "train6-small", n_frames=2)
    b = s.generate(0, 12, seed=4)
    assert b.states.scenario == "phyre"
    assert b.states.n_frames == 2
    assert b.extras["action"].shape == (12, 3)
    again = s.generate(5, 9, seed=4)  # a slice computes the same rows
    np.testing.assert_array_equal(again.extras["action"], b.extras["action"][5:9])
    np.testing.assert_array_equal(again.states.position, b.states.position[5:9])
    # a task's layout is the same in another split (the trial differs): the in-template pool holds trial 990
    # of the very scenes the model trained on
    ev = sim.get_split("phyre", "eval-in-template-small", n_frames=1)
    params = ev.params(0, len(ev))
    t, k = b.params[0, :2]
    j = int(np.flatnonzero((params[:, 0] == t) & (params[:, 1] == k))[0])
    e = ev.generate(j, j + 1, seed=4).states
    scene = b.states.present[0].copy()
    scene[np.flatnonzero(scene)[-1]] = False  # the last present slot is the red ball
    np.testing.assert_array_equal(e.position[0, 0][scene], b.states.position[0, 0][scene])
    other = s.generate(0, 1, seed=5)
    assert not np.array_equal(other.states.position[0, 0], b.states.position[0, 0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sim.get_split("phyre", "train7"), "unknown split 'train7' for phyre"),
        (lambda: sim.get_split("phyre", "train6", ranges="phyworld"), "phyre has no range sets"),
        (lambda: sim.get_split("phyre", "train6", n_frames=51), "at most 50 frames"),
        (lambda: sim.get_split("uniform_motion", "train6"), "unknown split 'train6' for uniform_motion"),
        (
            lambda: sim.union_split("phyre", "x", [sim.Part("train", "t", ([10070.0], [0.0], [0.0]))]),
            "unknown template 10070",
        ),
        (
            lambda: sim.union_split("phyre", "x", [sim.Part("train", "t", ([10001.0], [100.0], [0.0]))]),
            "task 100 outside 0-99",
        ),
        (
            lambda: sim.union_split("phyre", "x", [sim.Part("ood", "a", ([20000.0], [0.0], [101.0]))]),
            "trial 101 outside 0-100",
        ),
    ],
)
def test_bad_input_is_one_line(call, message):
    with pytest.raises(PhylawError, match=message) as exc:
        call()
    assert "\n" not in str(exc.value)
