"""Where the videos to score come from: a phylaw sample file, a folder of video files, or a dataset's frames.

Every source lists ``VideoRef``s (dataset index + a name for messages) up front, so index and count problems
are reported before any work, and reads one video at a time as uint8 (T, H, W, 3). A video that cannot be
read raises ``PhylawError``; the evaluator turns that into a per-video failure row and goes on.

Folder naming rule: a file ``STEM.EXT`` (EXT in .mp4 .gif .npy .npz) holds the video of dataset index
  * ``meta·chunk + local`` when STEM is ``{meta}-{local}`` (the released evaluator's ``{meta:05d}-{local:05d}``
    names; chunk = 1000, the phyworld HDF5 chunk size); such files use the 3-panel layout
    [GT | recon | generated] and the generated video is the rightmost third of each frame;
  * the video of (template, task, trial) when STEM is ``{template}-{task:05d}-{trial}`` (the release's
    combinatorial evaluation videos, e.g. ``10000-00010-990.mp4``, 3-panel [GT | recon | generated] 256-px
    MP4s; SPEC_COMBINATORIAL B.2): the dataset row with those parameters (``FolderSource.bind``);
  * otherwise the last run of digits in STEM: ``17.mp4``, ``00017.gif``, ``vid_17.npy`` all hold index 17.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phylaw.datasets.samples import open_samples
from phylaw.errors import PhylawError
from phylaw.io import decode_mp4
from phylaw.sim.registry import get_scenario

VIDEO_EXTENSIONS = (".mp4", ".gif", ".npy", ".npz")
LAYOUTS = ("auto", "single", "panels3")
PHYWORLD_CHUNK = 1000
_PHYWORLD_NAME = re.compile(r"(\d+)-(\d+)")
_PHYRE_NAME = re.compile(r"(\d{5})-(\d{5})-(\d+)")
_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class VideoRef:
    index: int  # dataset index
    name: str  # file name or row description, for messages and the CSV
    key: str  # how the source finds it again (path or row number)
    panels: int = 1  # >1: the generated video is the rightmost of this many horizontal panels
    params: tuple[int, ...] | None = None  # named by scene parameters (template, task, trial): index unbound


def _as_frames(arr: np.ndarray, name: str) -> np.ndarray:
    """Validate decoded frames: (T, H, W, 3|4) uint8, at least one frame; drop an alpha channel."""
    arr = np.asarray(arr)
    if arr.ndim == 4 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise PhylawError(f"{name}: expected frames of shape (T, H, W, 3), got {arr.shape}")
    if arr.dtype != np.uint8:
        raise PhylawError(f"{name}: expected uint8 frames, got {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise PhylawError(f"{name}: empty video (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def _panel(frames: np.ndarray, panels: int, name: str) -> np.ndarray:
    if panels == 1:
        return frames
    width = frames.shape[2]
    if width % panels:
        raise PhylawError(f"{name}: frame width {width} is not divisible into {panels} panels")
    return np.ascontiguousarray(frames[:, :, width - width // panels :])


def read_video_file(path: Path) -> np.ndarray:
    """Decode one video file to uint8 (T, H, W, 3) (PhylawError if it cannot be read)."""
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                key = "frames" if "frames" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise PhylawError(f"{path.name}: .npz holds {keys}; expected one array or 'frames'")
                arr = z[key]
        elif ext == ".mp4":
            arr = decode_mp4(path, path.name)
        else:
            arr = _read_gif(path)
    except PhylawError:
        raise
    except Exception as exc:  # decoders raise many types; report one line and continue with the next video
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise PhylawError(f"{path.name}: unreadable video ({type(exc).__name__}: {first})") from None
    return _as_frames(arr, path.name)


def _read_gif(path: Path) -> np.ndarray:
    """(T, H, W, 3) frames of a GIF, with merged frames restored. GIF writers (Pillow among them) merge identical
    consecutive frames into one with the summed duration; when every frame lasts a whole multiple of the
    shortest one, each is repeated that many times, which gives back the video at its frame rate."""
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(np.asarray(frame.convert("RGB")))
            durations.append(float(frame.info.get("duration") or 0))
    d = np.asarray(durations)
    if len(frames) > 1 and d.min() > 0:
        ratio = d / d.min()
        repeats = np.rint(ratio).astype(int)
        if np.allclose(ratio, repeats, atol=0.05):
            return np.repeat(np.stack(frames), repeats, axis=0)
    return np.stack(frames)


class FolderSource:
    """A folder of video files named by dataset index (see the module docstring for the rule)."""

    kind = "folder"

    def __init__(self, path: Path, layout: str = "auto", chunk: int = PHYWORLD_CHUNK) -> None:
        if layout not in LAYOUTS:
            raise PhylawError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not files:
            raise PhylawError(f"{path}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder")
        self.path = path
        self.refs = [self._ref(p, layout, chunk) for p in files]

    @staticmethod
    def _ref(p: Path, layout: str, chunk: int) -> VideoRef:
        m = _PHYRE_NAME.fullmatch(p.stem)
        if m and layout in ("auto", "panels3"):
            params = tuple(int(g) for g in m.groups())
            return VideoRef(-1, p.name, str(p), 3, params)
        m = _PHYWORLD_NAME.fullmatch(p.stem)
        if m and layout in ("auto", "panels3"):
            return VideoRef(int(m.group(1)) * chunk + int(m.group(2)), p.name, str(p), 3)
        m = _LAST_DIGITS.search(p.stem)
        if m is None:
            raise PhylawError(
                f"{p.name}: no dataset index in the file name (expected e.g. 17.mp4 or vid_00017.npy)"
            )
        return VideoRef(int(m.group(1)), p.name, str(p), 3 if layout == "panels3" else 1)

    def read(self, ref: VideoRef) -> np.ndarray:
        return _panel(read_video_file(Path(ref.key)), ref.panels, ref.name)

    def bind(self, dataset) -> None:
        """Give the files named by (template, task, trial) their dataset index (PhylawError, naming the file,
        when the dataset has no such video or is not a PHYRE-style dataset)."""
        named = [r for r in self.refs if r.params is not None]
        if not named:
            return
        names = tuple(getattr(dataset, "param_names", ()))
        phyre = get_scenario("phyre").param_names
        if names != phyre:
            raise PhylawError(
                f"{named[0].name}: a {'-'.join(phyre)} file name needs a phyre dataset "
                f"(this one's parameters are {', '.join(names) or 'unknown'})"
            )
        rows = np.asarray(dataset.params).astype(np.int64)
        where = {tuple(int(x) for x in row): i for i, row in enumerate(rows)}
        bound = []
        for r in self.refs:
            if r.params is None:
                bound.append(r)
                continue
            if r.params not in where:
                t, k, j = r.params
                raise PhylawError(f"{r.name}: the dataset has no video of template {t}, task {k}, trial {j}")
            bound.append(VideoRef(where[r.params], r.name, r.key, r.panels, r.params))
        self.refs = bound

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "files": [[r.name, r.index, r.panels] for r in self.refs],
        }


class SampleFileSource:
    """A ``phylaw-samples`` HDF5 file (docs/formats.md): rows with ``done`` set are scored."""

    kind = "samples"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = open_samples(path)  # checks the format (datasets/samples.py)
        self.attrs = self.samples.attrs
        self.complete = self.samples.complete
        self.n_rows = self.samples.n_rows
        index, done = self.samples.index, self.samples.done
        self.refs = [VideoRef(int(index[r]), f"{path.name}[{r}]", str(r)) for r in np.flatnonzero(done)]

    def read(self, ref: VideoRef) -> np.ndarray:
        return _as_frames(self.samples.frames(int(ref.key)), ref.name)

    def close(self) -> None:
        self.samples.close()

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "rows": [[r.key, r.index] for r in self.refs]}


class DatasetSource:
    """The dataset's own ground-truth frames (scoring them gives the parsing floor)."""

    kind = "dataset"

    def __init__(self, dataset, indices: np.ndarray, resolution: int | None = None) -> None:
        self.dataset = dataset
        self.resolution = resolution
        self.refs = [VideoRef(int(i), f"dataset[{int(i)}]", str(int(i))) for i in indices]

    def read(self, ref: VideoRef) -> np.ndarray:
        return _as_frames(self.dataset.frames(ref.index, resolution=self.resolution), ref.name)

    def describe(self) -> dict:
        return {"kind": self.kind, "resolution": self.resolution, "n": len(self.refs)}


def open_source(videos: str | Path, layout: str = "auto", chunk: int = PHYWORLD_CHUNK):
    """A FolderSource for a directory, a SampleFileSource for an HDF5 file."""
    p = Path(videos)
    if p.is_dir():
        return FolderSource(p, layout, chunk)
    if p.is_file():
        return SampleFileSource(p)
    raise PhylawError(f"{p}: no such sample file or video folder")


def check_refs(refs: list[VideoRef], n_videos: int, what: str) -> None:
    """Indices must be in range and unique (PhylawError naming the first offender)."""
    if not refs:
        raise PhylawError(f"{what}: no videos to evaluate")
    seen: dict[int, str] = {}
    for r in refs:
        if not 0 <= r.index < n_videos:
            raise PhylawError(
                f"{r.name}: dataset index {r.index} out of range (the dataset has {n_videos} videos)"
            )
        if r.index in seen:
            raise PhylawError(f"{r.name} and {seen[r.index]} both claim dataset index {r.index}")
        seen[r.index] = r.name
