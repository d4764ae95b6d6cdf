"""Interop with the released phyworld data layout (SPEC B.0 "Storage"): ``phylaw convert``.

A phyworld file has three groups, ``position_streams``, ``init_streams`` and ``video_streams``, each holding one
dataset per chunk of (up to) 1000 videos named ``"00000"``, ``"00001"``, ...; ``video_streams`` elements are
variable-length uint8 MP4 byte streams of the 32 frames (lossy H.264). Export writes that layout (plus a few
``phylaw_*`` root attributes and a ``phylaw_labels`` group, which their tools ignore) so our data feeds their
tools; import rebuilds a phylaw dataset file: states from positions and parameters (velocities from the
closed form, collision contact from the positions), frames decoded from the MP4s (or none, ``procedural``).
The released data has frame 0 at t = 0.01 s and pixels at linspace(0, 1, W) (SPEC B.0, F.12); imported files
record that in ``time_offset`` and ``pixel_convention``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from phylaw.datasets.build import ordered_map, resolve_workers
from phylaw.datasets.reader import DatasetLabels, _open_h5, open_dataset
from phylaw.datasets.store import DatasetConfig, DatasetWriter, RowBlock, compress_video
from phylaw.errors import PhylawError
from phylaw.io import decode_mp4, encode_mp4, partial_path
from phylaw.render.palette import BLUE, RED
from phylaw.sim.kinematics import GRAVITY, elastic_velocities, fully_in_view
from phylaw.sim.registry import PARAM_NAMES, get_scenario
from phylaw.sim.states import FRAME_DT, SHAPE_DISC, States

log = logging.getLogger(__name__)

GROUPS = ("position_streams", "init_streams", "video_streams")
CHUNK = 1000
RELEASED_TIME_OFFSET = 0.01  # frame 0 is recorded after the first 0.01 s Box2D step


def convert(
    path: str | Path,
    to: str,
    out: str | Path,
    *,
    procedural: bool = False,
    split: str | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """``to="phyworld"``: export a phylaw dataset; ``to="phylaw"``: import a phyworld file.

    Import options: ``procedural`` keeps states only; ``split`` ("train" | "eval") overrides the guess from
    the file name. ``workers`` processes encode / decode the MP4s, one chunk of 1000 videos each (0 = all
    local cores).
    """
    if split not in (None, "train", "eval"):
        raise PhylawError(f"--split must be train or eval, got {split!r}")
    if to == "phyworld":
        return export_phyworld(path, out, workers=workers, progress=progress)
    if to == "phylaw":
        return import_phyworld(
            path, out, procedural=procedural, split=split, workers=workers, progress=progress
        )
    raise PhylawError(f"--to must be 'phyworld' or 'phylaw', got {to!r}")


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class _ExportChunk:
    paths: tuple[str, ...]
    a: int
    b: int
    order: tuple[int, ...]


def _export_chunk(job: _ExportChunk) -> tuple[np.ndarray, np.ndarray, list[bytes], DatasetLabels]:
    """Positions, init params, MP4 streams and labels of rows [a, b) (pure; runs in a worker)."""
    with open_dataset(list(job.paths)) as ds:
        pos = ds.read("states/position", job.a, job.b)  # (n, T, K, 2)
        init = ds.read("params", job.a, job.b)[:, list(job.order)]  # (n, P) in phyworld order
        videos = [encode_mp4(ds.frames(i)) for i in range(job.a, job.b)]
        return (pos[:, :, 0] if pos.shape[2] == 1 else pos), init, videos, ds.labels_slice(job.a, job.b)


def export_phyworld(path: str | Path, out: str | Path, *, workers: int = 1, progress: bool = True) -> Path:
    """Write a phylaw dataset in the released layout, one chunk of ``CHUNK`` videos per group member.

    Resumable: chunks are written into ``OUT.partial``, each one's ``phylaw_labels`` group last, so an
    interrupted export keeps its finished chunks and the same command continues from there. A partial file
    made from another input, or one that no longer opens, is started over."""
    out = Path(out)
    ds = open_dataset(path)
    ds.close()
    if out.exists():
        raise PhylawError(f"{out} exists; remove it or choose another --out")
    order = tuple(_param_order(ds.param_names, ds.scenario))
    if ds.resolution % 2:
        raise PhylawError(f"H.264 needs an even resolution; {path} has {ds.resolution}")
    attrs = {
        "phylaw_scenario": ds.scenario, "phylaw_time_offset": ds.config.time_offset,
        "phylaw_pixel_convention": ds.config.pixel_convention,
        "phylaw_config_json": json.dumps(ds.config.to_dict(), sort_keys=True),
        "phylaw_export_source": json.dumps({"fingerprint": ds.fingerprint, "rows": len(ds), "chunk": CHUNK}),
    }  # fmt: skip
    tmp = partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = finished_export_entries(tmp, attrs, GROUPS, "phylaw_labels", "chunk")
    jobs = [
        _ExportChunk(tuple(str(p) for p in ds.paths), a, min(len(ds), a + CHUNK), order)
        for c, a in enumerate(range(0, len(ds), CHUNK))
        if f"{c:05d}" not in done
    ]
    with (
        h5py.File(tmp, "a" if done else "w") as f,
        tqdm(total=len(ds), initial=len(ds) - sum(j.b - j.a for j in jobs), unit="video", desc="export",
             disable=not progress) as bar,
    ):  # fmt: skip
        f.attrs.update(attrs)
        groups = {g: f.require_group(g) for g in (*GROUPS, "phylaw_labels")}
        for job, (pos, init, mp4s, lab) in zip(
            jobs, ordered_map(_export_chunk, jobs, resolve_workers(workers)), strict=True
        ):
            name = f"{job.a // CHUNK:05d}"
            groups["position_streams"][name] = pos
            groups["init_streams"][name] = init
            videos = groups["video_streams"].create_dataset(name, (len(mp4s),), h5py.vlen_dtype(np.uint8))
            for i, data in enumerate(mp4s):
                videos[i] = np.frombuffer(data, dtype=np.uint8)
            g = groups["phylaw_labels"].create_group(name)  # last: marks the chunk finished
            g["split"], g["level"], g["index"] = lab.split.astype("S"), lab.level.astype("S"), lab.index
            f.flush()
            bar.update(len(mp4s))
    tmp.replace(out)
    return out


def finished_export_entries(
    tmp: Path, attrs: dict[str, Any], groups: tuple[str, ...], record: str, what: str
) -> set[str]:
    """Names (chunks, tasks) an interrupted export of the same input finished in ``tmp``: those listed in its
    ``record`` group, written last for each entry; what it left half written in ``groups`` is removed. An
    unreadable partial file, or one from another input, is deleted (the export starts over). Used by the
    phyworld and the PHYRE-release exports."""
    if not tmp.is_file():
        return set()
    try:
        with h5py.File(tmp, "a") as f:
            if f.attrs.get("phylaw_export_source") != attrs["phylaw_export_source"]:
                raise OSError("another input")
            done = set(f[record]) if record in f else set()
            for group in groups:
                for name in list(f[group]) if group in f else []:
                    if name not in done:
                        del f[group][name]
    except OSError as exc:
        log.info("starting %s over (%s)", tmp.name, str(exc).splitlines()[0] if str(exc) else "unreadable")
        tmp.unlink()
        return set()
    if done:
        log.info("resuming %s: %d %s(s) already written", tmp.name, len(done), what)
    return done


def _param_order(names: tuple[str, ...], scenario: str) -> list[int]:
    want = PARAM_NAMES.get(scenario)
    if want is None or not set(want) <= set(names):
        raise PhylawError(f"cannot export {scenario} with parameters {names} to phyworld (needs {want})")
    return [names.index(n) for n in want]


# ---------------------------------------------------------------- import


def _chunk_names(f: h5py.File, path: Path, procedural: bool) -> list[str]:
    need = GROUPS[:2] if procedural else GROUPS
    missing = [g for g in need if g not in f or not isinstance(f[g], h5py.Group)]
    if missing:
        raise PhylawError(f"{path}: not a phyworld file: missing group(s) {', '.join(missing)}")
    names = [sorted(f[g].keys()) for g in need]
    if any(n != names[0] for n in names[1:]):
        raise PhylawError(f"{path}: chunk names differ between groups {', '.join(need)}")
    if not names[0] or names[0] != [f"{i:05d}" for i in range(len(names[0]))]:
        raise PhylawError(f"{path}: chunks must be named 00000, 00001, ... (found {names[0][:3]}...)")
    for name in names[0]:
        sizes = {f[g][name].shape[0] for g in need}
        if len(sizes) != 1:
            raise PhylawError(f"{path}: chunk {name} has different lengths across groups {sorted(sizes)}")
    return names[0]


def _infer_scenario(f: h5py.File, first: str) -> str:
    if "phylaw_scenario" in f.attrs:
        return str(f.attrs["phylaw_scenario"])
    init, pos = f["init_streams"][first], f["position_streams"][first]
    if init.shape[1] == 4 and pos.ndim == 4:
        return "collision"
    if init.shape[1] == 2 and pos.ndim == 3:
        y = pos[: min(16, pos.shape[0]), :, 1]
        return "parabola" if np.abs(y - y[:, :1]).max() > 1e-6 else "uniform_motion"
    raise PhylawError(f"{f.filename}: cannot tell the scenario from init_streams {init.shape} / {pos.shape}")


def rebuild_states(scenario: str, params: np.ndarray, position: np.ndarray, time_offset: float) -> States:
    """States of phyworld videos: params (n, P) in phyworld order, position (n, T, K, 2)."""
    n, t, k, _ = position.shape
    times = time_offset + FRAME_DT * np.arange(t)  # (T,)
    vel = np.zeros_like(position)  # (n, T, K, 2)
    contact_time = np.full(n, np.nan)
    contact_frame = np.full(n, -1, dtype=np.int32)
    if scenario == "collision":
        r = params[:, :2]  # (n, 2)
        v1, v2 = params[:, 2], -params[:, 3]  # ball 2 moves -x
        u1, u2 = elastic_velocities(r[:, 0] ** 2, r[:, 1] ** 2, v1, v2)
        closing = v1 - v2
        gap = position[:, 0, 1, 0] - position[:, 0, 0, 0] - r.sum(axis=1)  # (n,) at frame 0
        with np.errstate(divide="ignore", invalid="ignore"):
            contact_time = np.where(closing > 0, times[0] + gap / closing, np.nan)
        after = times[None, :] >= contact_time[:, None]  # (n, T)
        vel[..., 0, 0] = np.where(after, u1[:, None], v1[:, None])
        vel[..., 1, 0] = np.where(after, u2[:, None], v2[:, None])
        hit = after.any(axis=1)
        contact_frame = np.where(hit, after.argmax(axis=1), -1).astype(np.int32)
        color = np.tile(np.array([RED, BLUE], np.uint8), (n, 1))
    else:
        r = params[:, :1]
        vel[..., 0, 0] = params[:, 1:2]
        if scenario == "parabola":
            vel[..., 0, 1] = -GRAVITY * times[None, :]
        color = np.full((n, 1), RED, np.uint8)
    contact = {"contact_time": contact_time, "contact_frame": contact_frame}  # one event (slots 0, 1)
    return States(
        scenario=scenario, position=position, velocity=vel, radius=r.copy(), color=color,
        shape=np.full((n, k), SHAPE_DISC, np.uint8), in_view=fully_in_view(position, r),
        **(contact if get_scenario(scenario).has_contact_phase else {}),
    )  # fmt: skip


def import_phyworld(
    path: str | Path,
    out: str | Path,
    *,
    procedural: bool = False,
    split: str | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    path, out = Path(path), Path(out)
    if out.exists():
        raise PhylawError(f"{out} exists; remove it or choose another --out")
    with _open_h5(path) as f:
        names = _chunk_names(f, path, procedural)
        scenario = _infer_scenario(f, names[0])
        origin = json.loads(f.attrs["phylaw_config_json"]) if "phylaw_config_json" in f.attrs else {}
        guess = any(w in path.stem.lower() for w in ("eval", "vis"))
        is_eval = split == "eval" or (split is None and guess)
        n = sum(f["init_streams"][c].shape[0] for c in names)
        if n == 0:
            raise PhylawError(f"{path}: phyworld file holds no videos")
        t = f["position_streams"][names[0]].shape[1]
        # the frame size: phylaw's own attribute when the file came from phylaw, else the first video's (one
        # decode, also for a procedural import, which decodes nothing else); a file with states only: the
        # released data's 256²
        res = origin.get("resolution") or (
            decode_mp4(f["video_streams"][names[0]][0]).shape[1] if "video_streams" in f else 256
        )
        config = DatasetConfig(
            scenario=scenario, split=origin.get("split", "eval" if is_eval else "train"),
            split_version=str(origin.get("split_version", "phyworld")), ranges=origin.get("ranges", "phyworld"),
            n_videos=n, n_frames=t, n_objects=2 if scenario == "collision" else 1, resolution=int(res),
            seed=int(origin.get("seed", 42)), param_names=PARAM_NAMES[scenario], frames_stored=not procedural,
            source="phyworld", time_offset=float(f.attrs.get("phylaw_time_offset", RELEASED_TIME_OFFSET)),
            pixel_convention=str(f.attrs.get("phylaw_pixel_convention", "linspace")),
            extra={"imported_from": path.name},
        )  # fmt: skip
        starts = np.cumsum([0] + [f["init_streams"][c].shape[0] for c in names])
    writer = DatasetWriter(out, config)
    try:
        jobs = [
            _ImportChunk(str(path), name, int(a), config, is_eval)
            for name, a, b in zip(names, starts[:-1], starts[1:], strict=True)
            if b > writer.rows_written  # chunks already written by an interrupted run are skipped
        ]
        with tqdm(
            total=n, initial=writer.rows_written, unit="video", desc="import", disable=not progress
        ) as bar:
            for block in ordered_map(_import_chunk, jobs, resolve_workers(workers)):
                writer.write(block)
                bar.update(block.stop - block.start)
        return writer.finalize()
    finally:
        writer.close()


@dataclass(frozen=True)
class _ImportChunk:
    path: str
    name: str
    a: int
    config: DatasetConfig
    is_eval: bool


def _import_chunk(job: _ImportChunk) -> RowBlock:
    """One phyworld chunk → rows of the phylaw file (pure; runs in a worker)."""
    with _open_h5(Path(job.path)) as f:
        return _read_chunk(f, job.name, job.a, job.config, job.is_eval)


def _read_chunk(f: h5py.File, name: str, a: int, config: DatasetConfig, is_eval: bool) -> RowBlock:
    params = np.asarray(f["init_streams"][name], dtype=np.float64)  # (n, P)
    pos = np.asarray(f["position_streams"][name], dtype=np.float64)
    if pos.ndim == 3:
        pos = pos[:, :, None, :]  # (n, T, 1, 2)
    n = params.shape[0]
    traj = rebuild_states(config.scenario, params, pos, config.time_offset)
    chunks = None
    if config.frames_stored:
        out = []
        for data in f["video_streams"][name]:
            frames = decode_mp4(data)  # (T, H, W, 3)
            if frames.shape != (config.n_frames, config.resolution, config.resolution, 3):
                raise PhylawError(f"{f.filename}: video in chunk {name} has shape {frames.shape}")
            out.append(compress_video(frames))
        chunks = tuple(out)
    if "phylaw_labels" in f and name in f["phylaw_labels"]:
        g = f["phylaw_labels"][name]
        split, level, index = g["split"][:].astype(str), g["level"][:].astype(str), g["index"][:]
    elif is_eval:
        split, level = classify(config.scenario, params)
        index = np.arange(a, a + n)
    else:
        split = level = np.full(n, "train")
        index = np.arange(a, a + n)
    return RowBlock(a, a + n, params, traj, split, level, np.asarray(index, np.int64), chunks)


def classify(scenario: str, params: np.ndarray, ranges: str = "phyworld") -> tuple[np.ndarray, np.ndarray]:
    """Eval labels from parameters vs a range set: ("id", "id") or ("ood", level).

    Level names follow ``phylaw.sim``: uniform/parabola "r_ood", "v_ood", "rv_ood"; collision the OOD
    parameters joined by "_" ("r1", "v1", "r1_r2", "v1_v2", "r1_v1"), "all" when all four are OOD.
    """
    from phylaw.sim.ranges import get_ranges

    rs = get_ranges(ranges, scenario)
    schema = get_scenario(scenario).params
    names = tuple(p.name for p in schema)
    tol = 1e-9
    ood = np.stack(
        [
            (params[:, j] < rs.id_range(p.kind)[0] - tol) | (params[:, j] > rs.id_range(p.kind)[1] + tol)
            for j, p in enumerate(schema)
        ],
        axis=1,
    )  # (n, P) bool
    level = []
    for row in ood:
        out = [n for n, o in zip(names, row, strict=True) if o]
        if not out:
            level.append("id")
        elif scenario != "collision":
            level.append("".join(out) + "_ood")
        else:
            level.append("all" if len(out) == 4 else "_".join(out))
    level_arr = np.array(level)
    return np.where(level_arr == "id", "id", "ood"), level_arr
