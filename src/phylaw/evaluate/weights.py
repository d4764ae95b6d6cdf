"""Where the pretrained networks of the video metrics come from: local files only, never a download.

phylaw cannot fetch weights at run time (the machines it runs on may have no network). Each network a metric
needs is a ``WeightSpec``: the file names it accepts, the environment variable and the command-line option
that name a path, and the folders searched when neither is given (``$PHYLAW_WEIGHTS_DIR``, then torch's hub
cache, where a machine that once ran torchvision keeps them). ``resolve`` returns the path or raises
``WeightsMissing`` whose one-line message says which file, where to put it and which option / variable names
it; the evaluator reports such a metric as *not computed* and goes on with the others.

A file that exists but is not the network (wrong architecture, truncated) is a ``PhylawError`` raised by the
loader (``evaluate.lpips``, ``evaluate.fvd``), not a missing weight: the user pointed at it and must fix it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from phylaw.errors import PhylawError

WEIGHTS_DIR_ENV = "PHYLAW_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightSpec:
    name: str  # key used by metrics and EvalOptions.weights
    files: tuple[str, ...]  # accepted file names, preferred first
    env: str  # environment variable holding a path to the file
    option: str  # command-line option of `phylaw evaluate`
    what: str  # what the file is, for messages

    def search_dirs(self) -> list[Path]:
        dirs = []
        if os.environ.get(WEIGHTS_DIR_ENV):
            dirs.append(Path(os.environ[WEIGHTS_DIR_ENV]))
        torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
        dirs.append(torch_home / "hub" / "checkpoints")
        return dirs


WEIGHTS: dict[str, WeightSpec] = {
    "alexnet": WeightSpec(
        "alexnet",
        ("alexnet-owt-7be5be79.pth", "alexnet-owt-4df8aa71.pth"),
        "PHYLAW_ALEXNET_WEIGHTS",
        "--alexnet-weights",
        "torchvision's ImageNet AlexNet state dict (the LPIPS trunk)",
    ),
    "i3d": WeightSpec(
        "i3d",
        ("i3d_torchscript.pt", "i3d_pretrained_400.pt"),
        "PHYLAW_I3D_WEIGHTS",
        "--i3d-weights",
        "the Kinetics-400 I3D of FVD (StyleGAN-V's TorchScript file or the PyTorch I3D state dict)",
    ),
}


class WeightsMissing(PhylawError):
    """A metric's network weights are not on this machine (the metric is reported as not computed)."""

    def __init__(self, spec: WeightSpec, detail: str) -> None:
        self.spec = spec
        where = ", ".join(str(d) for d in spec.search_dirs())
        super().__init__(
            f"{spec.name} weights not found ({detail}): put {spec.files[0]} ({spec.what}) in one of {where}, "
            f"or name the file with {spec.option} or ${spec.env}"
        )


def get_spec(name: str) -> WeightSpec:
    if name not in WEIGHTS:
        raise PhylawError(f"unknown weights {name!r}; known: {', '.join(WEIGHTS)}")
    return WEIGHTS[name]


def resolve(name: str, overrides: Mapping[str, str | Path | None] | None = None) -> Path:
    """The local file of weights ``name``: the override (an option's value), else ``$ENV``, else the first
    accepted file name found in the search folders. ``WeightsMissing`` when there is none; a path that was
    named explicitly but does not exist is also ``WeightsMissing`` (naming the path)."""
    spec = get_spec(name)
    given = (overrides or {}).get(name) or os.environ.get(spec.env) or None
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise WeightsMissing(spec, f"{path} does not exist")
        return path
    for d in spec.search_dirs():
        for f in spec.files:
            if (d / f).is_file():
                return d / f
    raise WeightsMissing(spec, f"no {' or '.join(spec.files)} given or found")


def available(name: str, overrides: Mapping[str, str | Path | None] | None = None) -> str | None:
    """None when weights ``name`` resolve, else the one-line reason (``WeightsMissing``'s message)."""
    try:
        resolve(name, overrides)
    except WeightsMissing as exc:
        return str(exc)
    return None


# the loader of each network: module, function(overrides=...) -> the loaded (cached) network
_LOADERS = {
    "alexnet": ("phylaw.evaluate.lpips", "load_lpips"),
    "i3d": ("phylaw.evaluate.fvd", "load_detector"),
}


def load(name: str, overrides: Mapping[str, str | Path | None] | None = None):
    """The network of weights ``name`` loaded from its local file (``WeightsMissing`` when absent; a file
    that is not the network: ``PhylawError`` naming it)."""
    import importlib

    module, fn = _LOADERS[get_spec(name).name]
    return getattr(importlib.import_module(module), fn)(overrides=overrides)
