"""evaluate.tracks_metrics (issue 13): zero on ground truth, the right value on a shifted red trajectory, and
missing detections counted at the cap."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate import objects as ob
from phylaw.evaluate import tracks_metrics as tm
from phylaw.render.phyre_raster import render_phyre
from phylaw.sim.phyre.engine import simulate_rows
from phylaw.sim.phyre.splits import get_split


@pytest.fixture(scope="module")
def gt():
    states, _ = simulate_rows(get_split("eval-in-template-small").params(20, 28), 0, 24)
    return states, ob.parse_objects(render_phyre(states, 128))


def test_zero_on_ground_truth(gt):
    states, tracks = gt
    assert (tm.red_position_error(tracks, states) < 1.0).all()  # scene units: 1/4 pixel at 128² (max 0.64)
    assert (tm.red_detection_rate(tracks, states) == 1).all()
    assert np.nanmean(tm.final_state_agreement(tracks, states)) > 0.85  # blobs of touching bodies aside


def test_shifted_red_trajectory_and_missing_frames(gt):
    states, _ = gt
    red = tm._red_slot(states)
    pos = states.position.copy()
    rows = np.arange(len(states))
    pos[rows, 5:, red, 0] += 20.0  # the red ball 20 units to the right from frame 5 on
    shifted = ob.parse_objects(render_phyre(replace(states, position=pos), 128))
    err = tm.red_position_error(shifted, states, cond_frames=5)
    np.testing.assert_allclose(err, 20.0, atol=0.5)
    np.testing.assert_allclose(
        tm.red_position_error(shifted, states, cond_frames=1), 20.0 * 19 / 23, atol=0.5
    )
    gone = pos.copy()
    gone[rows, 12:, red] = np.nan  # the red ball vanishes from frame 12 on
    missing = ob.parse_objects(render_phyre(replace(states, position=gone), 128))
    np.testing.assert_allclose(tm.red_detection_rate(missing, states, 12), 0.0)
    cap = 512 * np.sqrt(2)
    np.testing.assert_allclose(tm.red_position_error(missing, states, 12), cap)
    assert np.isnan(tm.red_position_error_detected(missing, states, 12)).all()


def test_bad_input(gt):
    states, tracks = gt
    with pytest.raises(PhylawError, match="do not match"):
        tm.red_position_error(tracks, states.subset(slice(0, 2)))
