"""States v2: v1 construction, shapes of every field, padding, concatenate, subset, appearance."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render import render
from phylaw.sim import States, Trajectories, get_split, simulate
from phylaw.sim.states import ARRAY_FIELDS, SHAPE_BOX, SHAPE_POLYGON, SHAPE_SQUARE


def _v1(n=3, t=5, k=2, contact=(0.4, np.nan, 1.0)):
    rng = np.random.default_rng(0)
    return {
        "scenario": "collision",
        "position": rng.uniform(2, 8, (n, t, k, 2)),
        "velocity": rng.normal(size=(n, t, k, 2)),
        "radius": rng.uniform(0.5, 1.0, (n, k)),
        "color": np.tile(np.array([1, 2][:k], np.uint8), (n, 1)),
        "shape": np.zeros((n, k), np.uint8),
        "in_view": np.ones((n, t, k), bool),
        "contact_time": np.asarray(contact, np.float64),
        "contact_frame": np.where(np.isnan(contact), -1, np.ceil(np.asarray(contact) * 10)).astype(np.int32),
    }


def test_trajectories_is_states():
    assert Trajectories is States


def test_v1_arguments_fill_the_v2_fields():
    kw = _v1()
    st = States(**kw)
    n, t, k = 3, 5, 2
    np.testing.assert_array_equal(st.angle, np.zeros((n, t, k)))
    assert st.present.all()
    assert not st.static.any()
    np.testing.assert_array_equal(st.half_size, np.stack([kw["radius"], kw["radius"]], -1))
    assert st.vertices.shape == (n, k, 0, 2)
    assert st.n_events == 1
    np.testing.assert_array_equal(st.contact_time, kw["contact_time"])
    np.testing.assert_array_equal(st.contact_frame, kw["contact_frame"])
    np.testing.assert_array_equal(st.event_a[:, 0], [0, -1, 0])
    np.testing.assert_array_equal(st.event_b[:, 0], [1, -1, 1])
    assert st.event_frame.dtype == np.int32
    assert st.event_a.dtype == np.int16


def test_closed_forms_fill_events():
    coll = get_split("collision", "eval").generate(0, 200, seed=0).trajectories
    assert coll.n_events == 1
    has = np.isfinite(coll.contact_time)
    assert has.any()
    assert (~has).any()  # eval holds pairs that never meet
    np.testing.assert_array_equal(coll.event_a[:, 0], np.where(has, 0, -1))
    np.testing.assert_array_equal(coll.event_b[:, 0], np.where(has, 1, -1))
    assert ((coll.contact_frame >= 0) == has).all()
    np.testing.assert_array_equal(coll.half_size[..., 0], coll.radius)
    assert coll.present.all()
    uni = simulate("uniform_motion", np.array([[1.0, 2.0]]), np.random.default_rng(0), 8)
    assert uni.n_events == 0
    assert np.isnan(uni.contact_time).all()
    assert (uni.contact_frame == -1).all()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("color", np.ones((3, 3), np.uint8), "number of objects K: color has 3, position has 2"),
        ("in_view", np.ones((3, 4, 2), bool), "number of frames T: in_view has 4, position has 5"),
        ("radius", np.ones((2, 2)), "number of videos N: radius has 2, half_size has 2, position has 3"),
        ("angle", np.zeros((3, 5)), "angle must have 3 dimensions"),
    ],
)
def test_disagreeing_fields_are_one_line_errors(field, value, words):
    kw = _v1()
    kw[field] = value
    with pytest.raises(PhylawError, match=r"states: ") as err:
        States(**kw)
    assert words in str(err.value)
    assert field in str(err.value)
    assert "\n" not in str(err.value)


def test_events_are_all_or_none():
    kw = _v1()
    with pytest.raises(PhylawError, match="not both"):
        States(**kw, event_time=np.zeros((3, 1)), event_frame=np.zeros((3, 1), np.int32),
               event_a=np.zeros((3, 1), np.int16), event_b=np.ones((3, 1), np.int16))  # fmt: skip
    del kw["contact_time"], kw["contact_frame"]
    with pytest.raises(PhylawError, match="all of event_time"):
        States(**kw, event_time=np.zeros((3, 1)))


def _polygons(n=2, k=3, v=4, e=2):
    rng = np.random.default_rng(1)
    kw = _v1(n=n, t=5, k=k, contact=(0.2, 0.3)[:n])
    del kw["contact_time"], kw["contact_frame"]
    kw["color"] = np.full((n, k), 3, np.uint8)
    square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1.0]])[:v] * 0.5
    return States(
        **kw,
        angle=rng.uniform(0, 1, (n, 5, k)),
        static=np.tile(np.array([True] + [False] * (k - 1)), (n, 1)),
        half_size=np.full((n, k, 2), 0.5),
        vertices=np.broadcast_to(square, (n, k, v, 2)).copy(),
        event_time=np.tile(np.array([0.2, 0.5])[:e], (n, 1)),
        event_frame=np.tile(np.array([2, 5], np.int32)[:e], (n, 1)),
        event_a=np.tile(np.array([0, 1], np.int16)[:e], (n, 1)),
        event_b=np.tile(np.array([1, 2], np.int16)[:e], (n, 1)),
    )


def test_concatenate_pads_objects_events_and_vertices():
    small = States(**_v1(n=2, k=1, contact=(np.nan, np.nan)))  # K 1, E 1, V 0
    big = _polygons()  # K 3, E 2, V 4
    joined = States.concatenate([small, big])
    assert len(joined) == 4
    assert (joined.n_objects, joined.n_events, joined.n_vertices) == (3, 2, 4)
    for name in ARRAY_FIELDS:  # the second part comes through unchanged
        np.testing.assert_array_equal(getattr(joined, name)[2:], getattr(big, name))
    head = joined.subset(slice(0, 2))
    np.testing.assert_array_equal(head.present, [[True, False, False]] * 2)
    assert np.isnan(head.position[:, :, 1:]).all()
    assert np.isnan(head.radius[:, 1:]).all()
    assert (head.color[:, 1:] == 0).all()
    assert not head.in_view[:, :, 1:].any()
    assert np.isnan(head.vertices).all()
    assert np.isnan(head.event_time).all()
    assert (head.event_frame == -1).all()
    assert (head.event_a == -1).all()
    np.testing.assert_array_equal(head.position[:, :, :1], small.position)
    # a padded slot draws nothing
    np.testing.assert_array_equal(render(head, 16), render(small, 16))
    with pytest.raises(PhylawError, match="pad"):
        big.padded(2, 2, 4)


def test_concatenate_refuses_other_frame_counts():
    with pytest.raises(PhylawError, match="cannot concatenate"):
        States.concatenate([States(**_v1(t=5)), States(**_v1(t=6))])
    with pytest.raises(PhylawError, match="nothing"):
        States.concatenate([])


def test_subset_selects_every_field():
    st = _polygons(n=2)
    one = st.subset(np.array([1]))
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(one, name), getattr(st, name)[[1]])
    assert one.dt == st.dt


def test_with_appearance_keeps_v2_fields():
    st = _polygons(n=2)
    new = st.with_appearance(color=2, shape=SHAPE_SQUARE)
    assert (new.color == 2).all()
    assert (new.shape == SHAPE_SQUARE).all()
    np.testing.assert_array_equal(new.angle, st.angle)
    np.testing.assert_array_equal(new.vertices, st.vertices)
    np.testing.assert_array_equal(new.event_b, st.event_b)


@pytest.mark.parametrize("shape", [SHAPE_BOX, SHAPE_POLYGON])
def test_raster_refuses_shapes_it_cannot_draw(shape):
    st = _polygons(n=1).with_appearance(shape=shape)
    with pytest.raises(PhylawError, match="draws shape ids"):
        render(st, 16)
