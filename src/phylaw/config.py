"""Training configs: YAML/TOML files (or built-in preset names) resolved into frozen dataclasses.

``load_config("cpu-tiny", ["optim.lr=3e-4"])`` returns a :class:`TrainConfig`. Overrides are
``section.key=value`` strings or typed ``(key, value)`` pairs; a string's value is parsed with
``ast.literal_eval`` (falling back to YAML, then to the raw string) and type-checked against the dataclass
field (:func:`apply_overrides` works on any frozen config dataclass: the demo's, a DiT preset's). Unknown keys and wrong types raise
:class:`~phylaw.errors.PhylawError` naming the key. The resolved config is saved as ``config.json`` beside every
checkpoint (:func:`to_json`) and read back with :func:`config_from_dict`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from phylaw.errors import PhylawError

AE_KINDS = ("identity", "vae", "diffusers")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class DataConfig:
    """What the model is trained on. ``train`` is a dataset file, shard directory or glob (docs/formats.md)."""

    train: str = ""
    resolution: int = 128  # frames are resized (area) to resolution x resolution before encoding
    n_frames: int = 32
    cond_frames: int = 3  # c: the first c frames condition the model (SPEC I.2)
    hflip: bool = True  # horizontal-flip augmentation (frames and states), p = 0.5 per video
    limit: int | None = None  # use only the first `limit` videos of the dataset
    cache_latents: bool = True  # encode every video once and keep the latents in the run dir
    cache_dir: str = (
        ""  # where the latent cache lives ("" = the run dir); content-addressed, so runs can share one
    )


@dataclass(frozen=True)
class ModelConfig:
    """The denoiser: a DiT preset of ``phylaw.models.presets`` plus optional patch overrides."""

    preset: str = "DiT-B"
    patch_size: int | None = None
    patch_t: int | None = None


@dataclass(frozen=True)
class AutoencoderConfig:
    """Which autoencoder maps frames to latents (``phylaw.models.autoencoder``).

    kind: "identity" (pixel space, optional space-to-depth), "vae" (phylaw's VideoVAE, `path` = its run dir or
    checkpoint), "diffusers" (pretrained diffusers AutoencoderKL directory; empty `path` = $PHYLAW_VAE_PATH).
    The architecture fields are used by ``phylaw train-vae``.
    """

    kind: str = "identity"
    path: str = ""
    space_to_depth: int = 1
    latent_channels: int = 4
    spatial_factor: int = 4  # 4 or 8 (VideoVAE); temporal factor is always 1
    base_channels: int = 32
    kl_weight: float = 1e-6
    train_frames: int = 8  # frames per video in a train-vae step (the VAE is frame-wise)
    # train-vae: extra reconstruction weight on foreground pixels (train.vae_trainer.reconstruction_loss);
    # 0 = the plain mean over pixels. Sparse scenes (small bodies, thin bars on a plain background) need it.
    foreground_weight: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    """AdamW. ``batch_size`` is the global batch; it is processed in micro-batches of ``micro_batch_size``
    (default: batch_size / world size) spread round-robin over ranks, with gradient accumulation. The noise
    of micro-batch m is seeded by (seed, step, m), so with a fixed ``micro_batch_size`` results do not depend
    on the number of ranks (the default changes the micro-batch split, hence the noise draws, with it)."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    eps: float = 1e-8
    grad_clip: float = 1.0  # 0 = off
    batch_size: int = 256
    micro_batch_size: int | None = None


@dataclass(frozen=True)
class ScheduleConfig:
    """Linear warm-up to the peak LR, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""

    steps: int = 100_000
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.0


TIMESTEP_SAMPLING = ("uniform", "logit_normal")
PREDICTIONS = ("v", "x0")  # = phylaw.diffusion.losses.PREDICTIONS (config does not import torch)


@dataclass(frozen=True)
class DiffusionConfig:
    """How training draws diffusion timesteps t in [0, T).

    ``uniform``: t ~ U{0, ..., T-1} (DDPM). ``logit_normal``: t = floor(T * sigmoid(m + s * n)), n ~ N(0, 1)
    (Esser et al. 2024); m > 0 spends more steps at high noise, where a few-step sampler decides the motion.
    """

    timesteps: str = "uniform"  # uniform | logit_normal
    logit_mean: float = 0.0
    logit_std: float = 1.0
    # what the network outputs (diffusion.losses.velocity): v (default) or x0 ("x-prediction, v-loss"; needed
    # when a token holds more values than the model is wide, e.g. DiT-tiny on 32 x 32 latents with patch 8)
    prediction: str = "v"
    # generate x0 minus the last conditioning latent frame (diffusion.conditioning.condition_anchor): what does
    # not move is exactly 0, so the model spends itself on what moves
    residual: bool = False


@dataclass(frozen=True)
class EMAConfig:
    """EMA of the weights (used for sampling): decay ``min(decay, (1 + s) / (10 + s))`` at step s."""

    decay: float = 0.9999
    warmup: bool = True


@dataclass(frozen=True)
class LoggingConfig:
    log_every: int = 100
    ckpt_every: int = 5000
    keep_last: int = 3
    tensorboard: bool = True


@dataclass(frozen=True)
class RuntimeConfig:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    sample_steps: int = 50  # default DDIM steps for `phylaw sample`
    sample_batch_size: int = 16
    threads: int = 0  # torch intra-op CPU threads for this run (0 = torch's default)
    deterministic: bool = (
        True  # CUDA: deterministic kernels, same seed -> same bytes (false: torch's faster defaults)
    )


@dataclass(frozen=True)
class TrainConfig:
    """The whole resolved configuration of one DiT training run."""

    name: str = "custom"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


def _paper() -> TrainConfig:
    """The paper's optimisation settings on DiT-B; latents from a x8 VideoVAE (set autoencoder.path)."""
    return TrainConfig(name="paper", autoencoder=AutoencoderConfig(kind="vae", spatial_factor=8))


def _cpu_tiny() -> TrainConfig:
    return TrainConfig(
        name="cpu-tiny",
        data=DataConfig(resolution=32, n_frames=32),
        model=ModelConfig(preset="DiT-tiny", patch_t=2),
        autoencoder=AutoencoderConfig(kind="identity", space_to_depth=4),
        optim=OptimConfig(lr=3e-4, batch_size=16),
        schedule=ScheduleConfig(steps=2000, warmup_steps=100),
        ema=EMAConfig(decay=0.999),
        logging=LoggingConfig(log_every=25, ckpt_every=250, keep_last=2),
        runtime=RuntimeConfig(sample_steps=25, sample_batch_size=32),
    )


def _vae_cpu() -> TrainConfig:
    """Settings for ``phylaw train-vae`` (model/EMA sections unused)."""
    return TrainConfig(
        name="vae-cpu",
        data=DataConfig(resolution=64, n_frames=32, hflip=True, cache_latents=False),
        autoencoder=AutoencoderConfig(kind="vae", latent_channels=4, spatial_factor=4, base_channels=32),
        optim=OptimConfig(lr=3e-4, batch_size=4, weight_decay=0.0),
        schedule=ScheduleConfig(steps=2000, warmup_steps=50),
        logging=LoggingConfig(log_every=25, ckpt_every=250, keep_last=2),
    )


PRESETS: dict[str, typing.Callable[[], TrainConfig]] = {
    "paper": _paper,
    "cpu-tiny": _cpu_tiny,
    "vae-cpu": _vae_cpu,
}

C = TypeVar("C")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a (nested) config dataclass; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def to_json(cfg: Any) -> str:
    """Canonical JSON (sorted keys, 2-space indent): the bytes saved as ``config.json``."""
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n"


def _allowed(tp: Any) -> tuple[Any, ...]:
    """The concrete types a hint admits (``int | None`` -> (int, NoneType))."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return tuple(a for arg in typing.get_args(tp) for a in _allowed(arg))
    return (tp,)


def type_name(tp: Any) -> str:
    """``int | None`` -> "int | None" (for error messages)."""
    return " | ".join(getattr(o, "__name__", None) or str(o) for o in _allowed(tp))


_YAML11_EXP_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce_tuple(value: Any, option: Any, key: str) -> tuple[Any, ...] | None:
    """``value`` as the tuple type ``option`` (fixed ``tuple[int, str]`` or variadic ``tuple[int, ...]``)."""
    if not isinstance(value, list | tuple):
        return None
    args = typing.get_args(option)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0], key) for v in value)
    if len(args) == len(value):
        return tuple(coerce(v, a, key) for v, a in zip(value, args, strict=True))
    return None


def coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against the type hint ``tp`` (any field of any config dataclass).

    int -> float and list -> tuple (fixed or variadic, nested) are the only coercions; anything else that does
    not match is a one-line :class:`PhylawError` naming ``key``."""
    for option in _allowed(tp):
        if option is type(None) and value is None:
            return None
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is float and isinstance(value, str) and _YAML11_EXP_FLOAT.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 (PyYAML) reads `lr: 1e-3` (no dot) as a string
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option in (bool, str) and type(value) is option:
            return value
        if typing.get_origin(option) is tuple:
            out = _coerce_tuple(value, option, key)
            if out is not None:
                return out
    raise PhylawError(f"config key {key!r} must be {type_name(tp)}, got {value!r}")


def _build(cls: type[C], data: dict[str, Any], base: C, prefix: str = "") -> C:
    """A copy of ``base`` with the (nested) values of ``data`` applied and type-checked."""
    if not isinstance(data, dict):
        raise PhylawError(
            f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping, got {data!r}"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise PhylawError(f"unknown config key {full!r} (known: {', '.join(sorted(names))})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            changes[key] = _build(tp, value, getattr(base, key), prefix=f"{full}.")
        else:
            changes[key] = _typed(value, tp, full)
    return dataclasses.replace(base, **changes)


class _Text(str):
    """The raw text of a ``--set`` value whose parse (YAML reads ``off`` as False) does not fit its field."""

    parsed: Any = None


def _typed(value: Any, tp: Any, key: str) -> Any:
    if isinstance(value, _Text):
        try:
            return coerce(value.parsed, tp, key)
        except PhylawError:
            if str not in _allowed(tp):
                raise
            return str(value)  # a string field takes the text as written (`--set cpu_bf16=off`)
    return coerce(value, tp, key)


def parse_value(text: str) -> Any:
    """``"3e-4"`` -> 0.0003, ``"[1, 2]"`` -> [1, 2], ``"true"`` -> True, ``"null"`` -> None, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def split_override(item: str) -> tuple[str, str]:
    """``"optim.lr = 3e-4"`` -> ("optim.lr", "3e-4"); no ``=`` or no key -> one-line PhylawError."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise PhylawError(f"override {item!r} is not of the form key.sub=value")
    return key, text.strip()


def parse_override(item: str) -> tuple[str, Any]:
    """``"optim.lr=3e-4"`` -> ("optim.lr", 0.0003): the one parser of every ``--set`` (train, demo, reproduce).

    The value is typed when it is applied (:func:`apply_overrides`); a bare word that YAML would read as
    another type (``off``) still sets a string field to that word."""
    key, text = split_override(item)
    raw = _Text(text)
    raw.parsed = parse_value(text)
    return key, raw


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


Override = str | tuple[str, Any]


def apply_overrides(cfg: C, overrides: typing.Iterable[Override]) -> C:
    """``cfg`` (any frozen config dataclass, nested or flat) with overrides applied, each checked.

    An override is ``"optim.lr=3e-4"`` (parsed by :func:`parse_override`) or an already typed pair
    ``("optim.lr", 3e-4)``; unknown key or wrong type -> one-line :class:`PhylawError`."""
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        cfg = _build(type(cfg), _nest(key, value), cfg)
    return cfg


def get_value(cfg: Any, key: str) -> Any:
    """The value at a dotted ``key`` of a (nested) config dataclass."""
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def resolve_overrides(cfg: Any, overrides: typing.Iterable[Override]) -> tuple[tuple[str, Any], ...]:
    """Overrides as typed ``(key, value)`` pairs, each checked against ``cfg``'s type (what a cell stores)."""
    out = []
    for item in overrides:
        key, _ = parse_override(item) if isinstance(item, str) else item
        cfg = apply_overrides(cfg, [item])
        out.append((key, get_value(cfg, key)))
    return tuple(out)


def _load_toml(text: str, path: Path) -> Any:
    try:
        import tomllib  # Python >= 3.11
    except ImportError as exc:  # pragma: no cover - Python 3.10
        raise PhylawError(f"{path}: TOML configs need Python >= 3.11; use YAML") from exc
    return tomllib.loads(text)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PhylawError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = _load_toml(text, path) if path.suffix == ".toml" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        msg = str(exc).replace("\n", " ")
        raise PhylawError(f"cannot parse config file {path}: {msg}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PhylawError(f"config file {path} must hold a mapping at the top level")
    return data


def load_config(source: str | Path, overrides: typing.Iterable[Override] | None = None) -> TrainConfig:
    """Resolve a preset name or a YAML/TOML file (plus ``key=value`` overrides) into a :class:`TrainConfig`.

    A file may start from a preset with a top-level ``base: <preset>`` key (default: the dataclass defaults,
    i.e. the paper's settings); every other key must exist in :class:`TrainConfig`.
    """
    text = str(source)
    if text in PRESETS:
        cfg = PRESETS[text]()
    else:
        path = Path(text)
        if not path.is_file():
            raise PhylawError(f"no config preset or file named {text!r} (presets: {', '.join(PRESETS)})")
        data = _read_file(path)
        base_name = data.pop("base", None)
        if base_name is not None and base_name not in PRESETS:
            raise PhylawError(f"{path}: unknown base preset {base_name!r} (presets: {', '.join(PRESETS)})")
        base = PRESETS[base_name]() if base_name else TrainConfig(name=path.stem)
        data.setdefault("name", path.stem if base_name is None else base.name)
        cfg = _build(TrainConfig, data, base)
    cfg = apply_overrides(cfg, list(overrides or []))
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Value checks that types alone cannot express (one clear line each)."""
    checks = [
        (cfg.autoencoder.kind in AE_KINDS, f"autoencoder.kind must be one of {AE_KINDS}"),
        (cfg.runtime.precision in PRECISIONS, f"runtime.precision must be one of {PRECISIONS}"),
        (cfg.data.resolution > 0 and cfg.data.n_frames > 0, "data.resolution and data.n_frames must be > 0"),
        (0 <= cfg.data.cond_frames < cfg.data.n_frames, "data.cond_frames must be in [0, n_frames)"),
        (cfg.optim.batch_size > 0 and cfg.optim.lr > 0, "optim.batch_size and optim.lr must be > 0"),
        (cfg.schedule.steps > 0 and cfg.schedule.warmup_steps >= 0, "schedule.steps must be > 0"),
        (0.0 <= cfg.ema.decay < 1.0, "ema.decay must be in [0, 1)"),
        (cfg.logging.log_every > 0 and cfg.logging.ckpt_every > 0, "logging intervals must be > 0"),
        (cfg.logging.keep_last >= 1, "logging.keep_last must be >= 1"),
        (cfg.autoencoder.spatial_factor in (1, 2, 4, 8), "autoencoder.spatial_factor must be 1, 2, 4 or 8"),
        (cfg.autoencoder.space_to_depth >= 1, "autoencoder.space_to_depth must be >= 1"),
        (cfg.autoencoder.foreground_weight >= 0, "autoencoder.foreground_weight must be >= 0"),
        (cfg.runtime.threads >= 0, "runtime.threads must be >= 0 (0 = torch default)"),
        (
            cfg.diffusion.timesteps in TIMESTEP_SAMPLING,
            f"diffusion.timesteps must be one of {', '.join(TIMESTEP_SAMPLING)}, got {cfg.diffusion.timesteps!r}",
        ),
        (cfg.diffusion.logit_std > 0, "diffusion.logit_std must be > 0"),
        (
            cfg.diffusion.prediction in PREDICTIONS,
            f"diffusion.prediction must be one of {', '.join(PREDICTIONS)}, got {cfg.diffusion.prediction!r}",
        ),
        (
            cfg.diffusion.residual is not True or cfg.data.cond_frames > 0,
            "diffusion.residual needs data.cond_frames >= 1",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise PhylawError(message)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :func:`to_dict` output (e.g. a checkpoint's ``config.json``)."""
    return _build(TrainConfig, data, TrainConfig())
