"""States (v2): per-frame ground-truth states of a batch of videos, any number of objects, generic events.

The testbed's central data type. Every simulator fills it, the renderer draws it, the dataset format
stores every field (docs/formats.md), and the metrics compare parsed states against it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from phylaw.errors import PhylawError

WORLD_SIZE = 10.0  # the world is [0, 10] x [0, 10] world units, y up
FRAME_DT = 0.1  # seconds between frames; frame k is at t = 0.1 * k

# shape kind ids (render.raster draws disc/square/ring; evaluate.parse recognises them)
SHAPE_DISC = 0  # extent: radius
SHAPE_SQUARE = 1  # axis-aligned square of half side ``radius`` (the attribute studies' squares)
SHAPE_RING = 2  # annulus of outer radius ``radius``
SHAPE_BOX = 3  # rectangle of half sizes ``half_size`` (rotated by ``angle``)
SHAPE_POLYGON = 4  # convex polygon(s) ``vertices`` in the body frame (rotated by ``angle``)
SHAPE_JAR = 5  # PHYRE jar: three convex polygons in ``vertices`` (docs/phyre.md)
SHAPE_STICKS = 6  # PHYRE standing sticks: two convex polygons in ``vertices``
SHAPE_IDS: dict[str, int] = {
    "disc": SHAPE_DISC,
    "square": SHAPE_SQUARE,
    "ring": SHAPE_RING,
    "box": SHAPE_BOX,
    "polygon": SHAPE_POLYGON,
    "jar": SHAPE_JAR,
    "sticks": SHAPE_STICKS,
}
# the kinds whose outline is ``vertices``: one or more convex polygons, each followed by one NaN row
# (a separator), NaN-padded at the end
POLYGON_SHAPES: tuple[int, ...] = (SHAPE_POLYGON, SHAPE_JAR, SHAPE_STICKS)

# (name, dtype, shape after N in terms of T, K, V, E) of every array field, in storage order
FIELD_LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("position", "float64", ("T", "K", "2")),
    ("velocity", "float64", ("T", "K", "2")),
    ("angle", "float64", ("T", "K")),
    ("in_view", "bool", ("T", "K")),
    ("present", "bool", ("K",)),
    ("shape", "uint8", ("K",)),
    ("radius", "float64", ("K",)),
    ("half_size", "float64", ("K", "2")),
    ("vertices", "float64", ("K", "V", "2")),
    ("static", "bool", ("K",)),
    ("color", "uint8", ("K",)),
    ("event_time", "float64", ("E",)),
    ("event_frame", "int32", ("E",)),
    ("event_a", "int16", ("E",)),
    ("event_b", "int16", ("E",)),
)
ARRAY_FIELDS: tuple[str, ...] = tuple(name for name, _, _ in FIELD_LAYOUT)
# the value a padded slot (object, vertex or event) holds, per dtype kind
_PAD = {"f": np.nan, "b": False, "u": 0, "i": -1}


@dataclass(frozen=True, eq=False, init=False)
class States:
    """States of N videos, T frames, K object slots, E event slots. numpy arrays; world units, y up.

    per frame:
      position    (N, T, K, 2)  float64  centre (x, y) at frame k (t = dt * k)
      velocity    (N, T, K, 2)  float64  instantaneous velocity at frame k
      angle       (N, T, K)     float64  rotation in radians, counter-clockwise
      in_view     (N, T, K)     bool     object fully inside the world square at frame k
    per object:
      present     (N, K)        bool     the slot holds an object (False: padding; its values are NaN/0)
      shape       (N, K)        uint8    SHAPE_DISC / SQUARE / RING / BOX / POLYGON / JAR / STICKS
      radius      (N, K)        float64  disc / ring radius, square half side; bounding radius otherwise
      half_size   (N, K, 2)     float64  box half sizes (discs and squares: (r, r))
      vertices    (N, K, V, 2)  float64  convex polygon(s) in the body frame, parts separated by one NaN
                                         row, NaN-padded (V may be 0); boxes may list their 4 corners too
      static      (N, K)        bool     the object never moves
      color       (N, K)        uint8    palette id (render.palette)
    events (sorted by time in each video, padded):
      event_time  (N, E)        float64  seconds, NaN padded
      event_frame (N, E)        int32    first frame index k with t_k >= event_time, -1 padded
      event_a, event_b (N, E)   int16    the two object slots of the contact, -1 padded

    ``contact_time`` / ``contact_frame`` are the first event (NaN / -1 when a video has none).

    The constructor also takes the v1 arguments (``contact_time``, ``contact_frame`` and no v2 fields):
    missing fields are filled as a closed-form scene has them (angle 0, every slot present, nothing static,
    half_size (r, r), no vertices, and one event between slots 0 and 1 at the contact when one is given).
    Shapes are checked against each other (PhylawError naming the fields that disagree).
    """

    scenario: str
    position: np.ndarray
    velocity: np.ndarray
    angle: np.ndarray
    in_view: np.ndarray
    present: np.ndarray
    shape: np.ndarray
    radius: np.ndarray
    half_size: np.ndarray
    vertices: np.ndarray
    static: np.ndarray
    color: np.ndarray
    event_time: np.ndarray
    event_frame: np.ndarray
    event_a: np.ndarray
    event_b: np.ndarray
    dt: float = FRAME_DT

    def __init__(
        self,
        scenario: str,
        position: np.ndarray,
        velocity: np.ndarray,
        radius: np.ndarray,
        color: np.ndarray,
        shape: np.ndarray,
        in_view: np.ndarray,
        contact_time: np.ndarray | None = None,
        contact_frame: np.ndarray | None = None,
        dt: float = FRAME_DT,
        *,
        angle: np.ndarray | None = None,
        present: np.ndarray | None = None,
        half_size: np.ndarray | None = None,
        vertices: np.ndarray | None = None,
        static: np.ndarray | None = None,
        event_time: np.ndarray | None = None,
        event_frame: np.ndarray | None = None,
        event_a: np.ndarray | None = None,
        event_b: np.ndarray | None = None,
    ) -> None:
        position = np.asarray(position)
        if position.ndim != 4 or position.shape[-1] != 2:
            raise PhylawError(f"states: position must have shape (N, T, K, 2), got {position.shape}")
        n, t, k, _ = position.shape
        radius = np.asarray(radius)
        events = (event_time, event_frame, event_a, event_b)
        if any(e is not None for e in events) and any(e is None for e in events):
            raise PhylawError("states: give all of event_time, event_frame, event_a, event_b or none")
        if event_time is None:
            if contact_time is None:
                event_time = np.full((n, 0), np.nan)
                event_frame = np.full((n, 0), -1, np.int32)
            else:  # v1: one contact between slots 0 and 1 (NaN / -1 when a video has none)
                event_time = np.asarray(contact_time, np.float64).reshape(-1, 1)
                event_frame = np.asarray(
                    np.full(n, -1) if contact_frame is None else contact_frame, np.int32
                ).reshape(-1, 1)
            has = np.isfinite(event_time)
            event_a = np.where(has, 0, -1).astype(np.int16)
            event_b = np.where(has, 1, -1).astype(np.int16)
        elif contact_time is not None or contact_frame is not None:
            raise PhylawError("states: give the events or contact_time/contact_frame, not both")
        values = {
            "position": position,
            "velocity": velocity,
            "angle": np.zeros((n, t, k)) if angle is None else angle,
            "in_view": in_view,
            "present": np.ones((n, k), bool) if present is None else present,
            "shape": shape,
            "radius": radius,
            "half_size": (
                np.repeat(radius[..., None].astype(np.float64), 2, axis=-1)
                if half_size is None
                else half_size
            ),
            "vertices": np.full((n, k, 0, 2), np.nan) if vertices is None else vertices,
            "static": np.zeros((n, k), bool) if static is None else static,
            "color": color,
            "event_time": event_time,
            "event_frame": event_frame,
            "event_a": event_a,
            "event_b": event_b,
        }
        object.__setattr__(self, "scenario", scenario)
        for name, value in values.items():
            object.__setattr__(self, name, np.asarray(value))
        object.__setattr__(self, "dt", float(dt))
        self.check()

    def check(self) -> None:
        """PhylawError naming the fields whose shapes disagree (N, T, K, V, E must be one value each)."""
        check_shapes({name: getattr(self, name).shape for name in ARRAY_FIELDS})

    # ------------------------------------------------------------------ sizes

    def __len__(self) -> int:
        return int(self.position.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.position.shape[1])

    @property
    def n_objects(self) -> int:
        return int(self.position.shape[2])

    @property
    def n_events(self) -> int:
        return int(self.event_time.shape[1])

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[2])

    # ------------------------------------------------------------------ v1 views

    @property
    def contact_time(self) -> np.ndarray:
        """(N,) float64 time of the first event, NaN if none."""
        if self.n_events == 0:
            return np.full(len(self), np.nan)
        return self.event_time[:, 0]

    @property
    def contact_frame(self) -> np.ndarray:
        """(N,) int32 frame of the first event, -1 if none."""
        if self.n_events == 0:
            return np.full(len(self), -1, dtype=np.int32)
        return self.event_frame[:, 0]

    # ------------------------------------------------------------------ operations

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array field by name (ARRAY_FIELDS order)."""
        return {name: getattr(self, name) for name in ARRAY_FIELDS}

    def subset(self, indices: np.ndarray | slice) -> States:
        """The states of the selected videos (same frames, objects and events)."""
        kw = {name: value[indices] for name, value in self.arrays().items()}
        return replace(self, **kw)

    def with_appearance(
        self, color: np.ndarray | int | None = None, shape: np.ndarray | int | None = None
    ) -> States:
        """The same motion with other palette ids and/or shape ids (broadcast to (N, K)), e.g. for the
        attribute studies (blue squares, red rings). Motion, radius and in_view are unchanged: a square of
        half side r has the same extent as a disc of radius r."""
        n, k = self.radius.shape
        new_color = (
            self.color if color is None else np.broadcast_to(np.asarray(color, np.uint8), (n, k)).copy()
        )
        new_shape = (
            self.shape if shape is None else np.broadcast_to(np.asarray(shape, np.uint8), (n, k)).copy()
        )
        return replace(self, color=new_color, shape=new_shape)

    def padded(self, n_objects: int, n_events: int, n_vertices: int) -> States:
        """The same states with K, E and V padded up to the given sizes (absent slots, NaN / -1 values)."""
        if n_objects < self.n_objects or n_events < self.n_events or n_vertices < self.n_vertices:
            raise PhylawError(
                f"cannot pad states of (K, E, V) = {(self.n_objects, self.n_events, self.n_vertices)} "
                f"down to {(n_objects, n_events, n_vertices)}"
            )
        target = {"K": n_objects, "E": n_events, "V": n_vertices}
        kw = {}
        for name, dtype, after in FIELD_LAYOUT:
            arr = getattr(self, name)
            pad = [(0, 0)] + [(0, target[d] - arr.shape[i + 1]) if d in target else (0, 0) for i, d in
                              enumerate(after)]  # fmt: skip
            if any(p[1] for p in pad):
                arr = np.pad(arr, pad, constant_values=_PAD[np.dtype(dtype).kind])
            kw[name] = arr
        return replace(self, **kw)

    @staticmethod
    def concatenate(parts: list[States]) -> States:
        """The videos of ``parts`` in order; K, E and V are padded to the largest among the parts."""
        if not parts:
            raise PhylawError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if p.n_frames != first.n_frames or p.dt != first.dt or p.scenario != first.scenario:
                raise PhylawError(
                    f"cannot concatenate states of {first.scenario} ({first.n_frames} frames, dt {first.dt}) "
                    f"and {p.scenario} ({p.n_frames} frames, dt {p.dt})"
                )
        k = max(p.n_objects for p in parts)
        e = max(p.n_events for p in parts)
        v = max(p.n_vertices for p in parts)
        padded = [p.padded(k, e, v) for p in parts]
        kw = {name: np.concatenate([getattr(p, name) for p in padded]) for name in ARRAY_FIELDS}
        return replace(first, **kw)


def check_shapes(
    shapes: dict[str, tuple[int, ...]],
    layout: tuple[tuple[str, str, tuple[str, ...]], ...] = FIELD_LAYOUT,
    what: str = "states",
) -> None:
    """PhylawError (one line, starting with ``what``) unless ``shapes`` (field -> array shape, every field of
    ``layout``) agree on N, T, K, V, E and fixed-size axes ("2", "3") have that size. Fields of ``layout``
    missing from ``shapes`` are skipped; a layout may name other axes (e.g. "H" for frames)."""
    dims: dict[str, dict[int, list[str]]] = {}
    for name, _, after in layout:
        if name not in shapes:
            continue
        shape = tuple(int(x) for x in shapes[name])
        if len(shape) != 1 + len(after):
            raise PhylawError(
                f"{what}: {name} must have {1 + len(after)} dimensions (N, {', '.join(after)}), got shape {shape}"
            )
        for dim, size in zip(("N", *after), shape, strict=True):
            dims.setdefault(dim, {}).setdefault(size, []).append(name)
    for dim, by_size in dims.items():
        if dim.isdigit():
            bad = [f for size, names in by_size.items() if size != int(dim) for f in names]
            if bad:
                raise PhylawError(f"{what}: the last axis of {', '.join(bad)} must have {dim} entries")
        elif len(by_size) > 1:  # name every field off the majority, and the majority by its first field
            major = max(by_size, key=lambda size: len(by_size[size]))
            odd = [f"{f} has {size}" for size, names in by_size.items() if size != major for f in names]
            raise PhylawError(
                f"{what}: fields disagree on {_DIM_WORDS.get(dim, dim)}: {', '.join(odd)}, "
                f"{by_size[major][0]} has {major}"
            )


_DIM_WORDS = {
    "N": "the number of videos N",
    "T": "the number of frames T",
    "K": "the number of objects K",
    "V": "the number of vertices V",
    "E": "the number of events E",
}

# the old name, kept while callers move
Trajectories = States
