"""Files: atomic writes (bytes, text, JSON, CSV, or any writer given a path) and the MP4 codec.

Every file phylaw writes goes to ``NAME.partial`` first and is renamed to ``NAME`` only once complete, so a
crash never leaves a complete-looking file (README, "bad input"). ``NAME.partial`` is the one naming order:
writers that infer a format from the file suffix (matplotlib, imageio, Pillow) are given the format
explicitly by their callers.

The MP4 codec is PyAV (libx264, yuv420p) used directly rather than through imageio's pyav plugin, which runs
``gc.collect()`` twice per file (~0.2 s per video in a process holding torch).
"""

from __future__ import annotations

import io as _io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from phylaw.errors import PhylawError

PARTIAL_SUFFIX = ".partial"
MP4_FPS = 10  # one frame per 0.1 s of simulated time (the fps only matters for playback)


def partial_path(path: str | Path) -> Path:
    """``out/x.csv`` -> ``out/x.csv.partial`` (where a file is written before it is complete)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield ``path.partial`` to write to; rename it to ``path`` when the block ends without an exception,
    delete it when one is raised. ``durable``: fsync the file and its directory (large, costly outputs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
    tmp.replace(path)
    if durable:
        fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """JSON with sorted keys and a final newline (``default=str`` for paths and the like)."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_csv(path: str | Path, frame: Any, *, float_format: str | None = "%.10g") -> Path:
    """A pandas DataFrame as CSV without the index (floats to 10 significant digits unless told)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


# ----------------------------------------------------------------------------------------------- MP4
def encode_mp4(frames: np.ndarray, fps: int = MP4_FPS, crf: int | None = None) -> bytes:
    """(T, H, W, 3) uint8 -> H.264 MP4 bytes (libx264, yuv420p, like the official generator). Lossy.

    ``crf``: x264's constant rate factor (None: x264's default, 23; the PHYRE release used imageio's
    quality 5 = crf 25, SPEC_COMBINATORIAL B.1).

    One codec thread, so a worker uses one core and the bytes are deterministic (at 128², 256²; not at tiny
    sizes)."""
    import av

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise PhylawError(f"H.264 needs even frame sizes, got {w}x{h}")
    buf = _io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        options = {"threads": "1", **({"crf": str(int(crf))} if crf is not None else {})}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.thread_count = 1
        for k, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def decode_mp4(data: bytes | np.ndarray | Path, name: str = "an MP4 video stream") -> np.ndarray:
    """MP4 bytes, a uint8 array of them, or a file path -> (T, H, W, 3) uint8 (PhylawError if unreadable)."""
    import av

    if isinstance(data, Path):
        source: Any = str(data)
    else:
        source = _io.BytesIO(data if isinstance(data, bytes) else np.asarray(data, dtype=np.uint8).tobytes())
    try:
        with av.open(source, mode="r") as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]  # (H, W, 3) each
    except (av.error.FFmpegError, ValueError) as exc:
        if isinstance(data, Path):  # a file among others: name it first, as every unreadable video is
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise PhylawError(f"{name}: unreadable video ({type(exc).__name__}: {first})") from None
        raise PhylawError(f"cannot decode {name}: {exc}") from None
    if not frames:
        raise PhylawError(f"{name} holds no frames")
    return np.stack(frames)  # (T, H, W, 3)
