"""Config loading: presets, YAML/TOML files, typed overrides, bad keys and types, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from phylaw.config import (
    PRESETS,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    to_json,
)
from phylaw.errors import PhylawError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_paper_preset_values():
    cfg = load_config("paper")
    assert cfg.optim.betas == (0.9, 0.999)
    assert cfg.optim.weight_decay == 0.01
    assert cfg.optim.lr == 1e-4
    assert cfg.optim.batch_size == 256
    assert cfg.schedule.steps == 100_000
    assert (cfg.data.resolution, cfg.data.n_frames, cfg.data.cond_frames) == (128, 32, 3)
    assert cfg.data.hflip is True


def test_overrides_are_parsed_and_typed():
    cfg = load_config(
        "cpu-tiny",
        [
            "optim.lr=3e-4",
            "data.hflip=false",
            "optim.betas=[0.8, 0.9]",
            "data.limit=null",
            "schedule.steps=10",
            "optim.grad_clip=1",
        ],
    )
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.data.hflip is False
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.data.limit is None
    assert cfg.schedule.steps == 10
    assert isinstance(cfg.optim.grad_clip, float)  # int accepted for a float field
    assert load_config("cpu-tiny", ["data.train=some/path.h5"]).data.train == "some/path.h5"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'"),
        ("nosection.x=1", "unknown config key 'nosection'"),
        ("optim.lr=fast", "config key 'optim.lr' must be float"),
        ("schedule.steps=1.5", "config key 'schedule.steps' must be int"),
        ("data.hflip=1", "config key 'data.hflip' must be bool"),
        ("optim.betas=[0.9]", "config key 'optim.betas'"),
        ("optim=3", "config section 'optim' must be a mapping"),
        ("no-equals-sign", "not of the form"),
        ("autoencoder.kind=gan", "autoencoder.kind must be one of"),
        ("diffusion.timesteps=cosine", "diffusion.timesteps must be one of uniform, logit_normal"),
        ("diffusion.logit_std=0", "diffusion.logit_std must be > 0"),
        ("diffusion.prediction=eps", "diffusion.prediction must be one of v, x0"),
        ("diffusion.residual=3", "config key .diffusion.residual. must be bool"),
    ],
)
def test_bad_overrides(override, match):
    with pytest.raises(PhylawError, match=match):
        load_config("cpu-tiny", [override])


def test_unknown_preset_or_missing_file():
    with pytest.raises(PhylawError, match="no config preset or file named 'nope'"):
        load_config("nope")


def test_yaml_and_toml_files(tmp_path):
    (tmp_path / "a.yaml").write_text("base: cpu-tiny\noptim:\n  lr: 5.0e-4\ndata:\n  hflip: false\n")
    cfg = load_config(tmp_path / "a.yaml")
    assert cfg.name == "cpu-tiny"
    assert cfg.optim.lr == 5e-4
    assert cfg.data.hflip is False
    assert cfg.model == PRESETS["cpu-tiny"]().model
    (tmp_path / "b.toml").write_text('name = "b"\n[schedule]\nsteps = 7\n')
    cfg = load_config(tmp_path / "b.toml", ["schedule.warmup_steps=2"])
    assert (cfg.name, cfg.schedule.steps, cfg.schedule.warmup_steps) == ("b", 7, 2)
    (tmp_path / "c.yaml").write_text("optim:\n  learning_rate: 1\n")
    with pytest.raises(PhylawError, match=r"unknown config key 'optim\.learning_rate'"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("optim: [\n")
    with pytest.raises(PhylawError, match="cannot parse config file"):
        load_config(tmp_path / "d.yaml")


def test_json_round_trip():
    cfg = apply_overrides(load_config("cpu-tiny"), ["data.limit=5"])
    data = json.loads(to_json(cfg))
    assert config_from_dict(data) == cfg
    assert to_json(config_from_dict(data)) == to_json(cfg)


@pytest.mark.parametrize("name", ["paper", "cpu-tiny", "vae-cpu"])
def test_shipped_config_files_match_presets(name):
    """configs/<preset>.yaml are full listings of the built-in presets."""
    assert load_config(CONFIGS / f"{name}.yaml") == PRESETS[name]()


def test_defaults_are_frozen():
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.optim = None  # type: ignore[misc]


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    """PyYAML (YAML 1.1) reads `lr: 1e-3` as the string '1e-3'; a float field accepts it, other strings not."""
    (tmp_path / "a.yaml").write_text("base: cpu-tiny\noptim:\n  lr: 1e-3\n  weight_decay: 2E-2\n")
    cfg = load_config(tmp_path / "a.yaml")
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (1e-3, 2e-2)
    (tmp_path / "b.yaml").write_text("base: cpu-tiny\noptim:\n  lr: fast\n")
    with pytest.raises(PhylawError, match=r"optim\.lr"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("base: cpu-tiny\nmodel:\n  preset: 1e3\n")  # str fields stay strings
    assert load_config(tmp_path / "c.yaml").model.preset == "1e3"


@dataclasses.dataclass(frozen=True)
class _Flat:
    steps: int = 1
    mode: str = "auto"
    on: bool = False
    per_split: tuple[tuple[str, int], ...] = (("id", 1),)
    sizes: tuple[float, ...] = ()


def test_one_typed_parser_for_any_config_dataclass():
    """parse_override/coerce/apply_overrides serve a flat dataclass (the demo's) as well as TrainConfig:
    variadic and nested tuples, typed (key, value) pairs, and a bare word for a string field."""
    from phylaw.config import parse_override, resolve_overrides

    cfg = apply_overrides(
        _Flat(), ["steps=3", "per_split=[['id', 4], ['ood', 3]]", "sizes=[1, 2.5]", "on=on"]
    )
    assert cfg == _Flat(steps=3, on=True, per_split=(("id", 4), ("ood", 3)), sizes=(1.0, 2.5))
    assert apply_overrides(_Flat(), [("steps", 3), ("sizes", [1, 2.5])]) == _Flat(steps=3, sizes=(1.0, 2.5))
    assert apply_overrides(_Flat(), ["mode=off"]).mode == "off"  # YAML would read `off` as False
    assert apply_overrides(_Flat(), ["on=off"]).on is False
    key, _ = parse_override(" steps = 7 ")
    assert key == "steps"
    assert resolve_overrides(load_config("cpu-tiny"), ["optim.lr=1", "data.hflip=false"]) == (
        ("optim.lr", 1.0), ("data.hflip", False),
    )  # fmt: skip
    with pytest.raises(PhylawError, match=r"config key 'per_split' must be int, got 'many'"):
        apply_overrides(_Flat(), ["per_split=[['id', 'many']]"])
    with pytest.raises(PhylawError, match="unknown config key 'stepz'"):
        apply_overrides(_Flat(), [("stepz", 1)])
