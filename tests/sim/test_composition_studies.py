"""Composition splits (SPEC B.6.5): subsets, sizes, labels, no test configuration in training."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.sim import get_split, list_splits
from phylaw.sim.composition_studies import (
    COMPOSITION_SPLITS,
    TEST_LEVEL,
    TRAIN_LEVELS,
    composition_split,
)

TRAIN = [s for s in COMPOSITION_SPLITS.values() if s.role == "train"]
EVAL = [s for s in COMPOSITION_SPLITS.values() if s.role == "eval"]
AUTOENCODER = [s for s in COMPOSITION_SPLITS.values() if s.role == "autoencoder"]


def _eval_for(study: str) -> list[str]:
    return [s.name for s in EVAL if s.study == study]


def test_paper_sizes():
    assert len(get_split("wall_collision", "compose-temporal")) == 237_300  # SPEC B.6.5: 237.3K
    assert len(get_split("wall_collision", "compose-temporal-nored")) == 237_300
    test = get_split("wall_collision", "compose-temporal-eval")
    assert (test.labels().level == "collision_bounce").sum() == 54  # SPEC B.6.5: 54 eval videos
    levels = test.labels().level
    assert ((levels == "collision").sum(), (levels == "bounce").sum(), len(test)) == (
        108,
        18,
        180,
    )  # docstring
    nored = get_split("wall_collision", "compose-temporal-nored-eval")
    same = nored.params()[nored.labels().level == "collision_bounce"]
    assert (
        np.sort(same, axis=0) == np.sort(test.params()[test.labels().level == "collision_bounce"], axis=0)
    ).all()
    for name in ("compose-temporal-tiny", "compose-temporal-nored-tiny", "compose-spatial-tiny"):
        assert 1_000 <= len(get_split(composition_split(name).scenario, name)) <= 5_000


@pytest.mark.parametrize("entry", TRAIN, ids=lambda e: e.name)
def test_training_sets_hold_only_their_subsets_and_no_test_configuration(entry):
    split = get_split(entry.scenario, entry.name)
    params = split.params()
    assert set(split.labels().level.tolist()) == set(TRAIN_LEVELS[entry.study])
    train_rows = {tuple(r) for r in params.round(12).tolist()}
    for name in _eval_for(entry.study):
        ev = get_split(entry.scenario, name)
        test = ev.params()[ev.labels().level == TEST_LEVEL[entry.study]]
        assert len(test)
        assert not any(tuple(r) in train_rows for r in test.round(12).tolist())
        # held-out controls are new parameter vectors too
        assert not any(tuple(r) in train_rows for r in ev.params().round(12).tolist())
    if entry.study == "spatial":  # r, v, s, w: exactly one of the two objects moves in training
        assert ((params[:, 1] > 0) ^ (params[:, 3] > 0)).all()
    else:  # r1, r2, u1, u2, wall: two balls without a wall, or one ball with it
        both = (params[:, 0] > 0) & (params[:, 1] > 0)
        assert (both == (params[:, 4] == 0)).all()
    if entry.study == "temporal-nored":  # the bounce subset has no red ball (Fig. 17)
        assert (params[params[:, 4] == 1, 0] == 0).all()
    if entry.study == "temporal":
        assert (params[params[:, 4] == 1, 1] == 0).all()


@pytest.mark.parametrize("entry", AUTOENCODER, ids=lambda e: e.name)
def test_autoencoder_frames_show_every_layout_and_no_evaluation_video(entry):
    """The -all frames of a scenario's shared VAE: every training subset of every study of the scenario and the
    composition test's layout, each at parameter vectors that no evaluation split holds."""
    split = get_split(entry.scenario, entry.name)
    studies = [st for st in TRAIN_LEVELS if composition_split(f"compose-{st}-tiny").scenario == entry.scenario]
    want = {lvl for st in studies for lvl in (*TRAIN_LEVELS[st], TEST_LEVEL[st])}
    assert set(split.labels().level.tolist()) == want
    rows = {tuple(r) for r in split.params().round(12).tolist()}
    evals = [s for s in EVAL if s.scenario == entry.scenario]
    assert len(evals) >= 2
    for ev in evals:
        assert not any(tuple(r) in rows for r in get_split(ev.scenario, ev.name).params().round(12).tolist())


def test_autoencoder_frame_sizes():
    sizes = {s.name: len(get_split(s.scenario, s.name)) for s in AUTOENCODER}
    assert sizes["compose-spatial-all-tiny"] == 2_160
    assert sizes["compose-temporal-all-tiny"] == 1_920
    assert all(200_000 <= sizes[n] <= 300_000 for n in ("compose-spatial-all", "compose-temporal-all"))


@pytest.mark.parametrize("entry", EVAL, ids=lambda e: e.name)
def test_every_evaluation_video_is_labelled(entry):
    split = get_split(entry.scenario, entry.name)
    labels = split.labels()
    assert set(labels.split.tolist()) == {"id", "ood"}
    assert ((labels.level == TEST_LEVEL[entry.study]) == (labels.split == "ood")).all()
    # the controls are the study's own training subsets
    assert set(labels.level[labels.split == "id"].tolist()) == set(TRAIN_LEVELS[entry.study])


@pytest.mark.parametrize("n_frames", [16, 32])
@pytest.mark.parametrize(
    "name",
    ["compose-temporal-eval", "compose-spatial-eval", "compose-temporal-nored-tiny", "compose-temporal-all-tiny"],
)
def test_splits_simulate_with_events_in_the_window(name, n_frames):
    from phylaw.sim.kinematics import contact_window

    entry = composition_split(name)
    split = get_split(entry.scenario, name, n_frames=n_frames)
    b = split.generate(0, min(len(split), 600), seed=0)
    st = b.states
    first, last = contact_window(n_frames)
    moving_ball = (b.params[:, 1] > 0) if entry.scenario == "wall_bounce" else np.ones(len(b.params), bool)
    f0 = st.event_frame[:, 0]
    assert ((f0[moving_ball] >= first) & (f0[moving_ball] <= last)).all()
    assert st.in_view[:, 0][st.present].all()  # everything starts in view
    if entry.scenario == "wall_collision":
        test = b.labels.level == "collision_bounce"
        hits = (st.event_a == 1) & (st.event_b == 2)  # the blue ball meets the wall
        assert hits[test].any(axis=1).all()


def test_generation_is_deterministic_and_sliceable():
    split = get_split("wall_collision", "compose-temporal-tiny")
    whole = split.generate(0, 300, seed=5)
    part = split.generate(100, 200, seed=5)
    assert whole.states.position[100:200].tobytes() == part.states.position.tobytes()


def test_unknown_composition_split():
    with pytest.raises(PhylawError, match="not a composition split"):
        composition_split("compose-nothing")
    with pytest.raises(PhylawError, match="unknown split"):
        get_split("wall_bounce", "train-30k")
    assert "compose-spatial-tiny" in list_splits("wall_bounce")
