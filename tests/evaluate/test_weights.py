"""Local weight resolution: override > environment variable > search folders; one-line WeightsMissing."""

from __future__ import annotations

from pathlib import Path

import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate import weights
from phylaw.evaluate.weights import WeightsMissing, available, get_spec, resolve

ALEX = "alexnet-owt-7be5be79.pth"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path) -> Path:
    """Every search folder inside tmp_path; the real home cache is never looked at."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for var in ("PHYLAW_WEIGHTS_DIR", "PHYLAW_ALEXNET_WEIGHTS", "PHYLAW_I3D_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_precedence_override_then_env_then_search_dirs(isolated, monkeypatch):
    hub = _touch(isolated / "torch_home" / "hub" / "checkpoints" / ALEX)
    assert resolve("alexnet") == hub
    shared = _touch(isolated / "shared" / ALEX)
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(shared.parent))
    assert resolve("alexnet") == shared  # $PHYLAW_WEIGHTS_DIR before torch's hub cache
    env = _touch(isolated / "env" / "any-name.pth")
    monkeypatch.setenv("PHYLAW_ALEXNET_WEIGHTS", str(env))
    assert resolve("alexnet") == env
    assert resolve("alexnet", {"alexnet": None}) == env  # an unset option falls through
    opt = _touch(isolated / "opt" / "mine.pth")
    assert resolve("alexnet", {"alexnet": opt}) == opt
    assert resolve("alexnet", {"alexnet": str(opt)}) == opt
    assert available("alexnet") is None


def test_accepted_names_preferred_first(isolated):
    hub = isolated / "torch_home" / "hub" / "checkpoints"
    old = _touch(hub / "alexnet-owt-4df8aa71.pth")  # older torchvision's file name
    assert resolve("alexnet") == old
    new = _touch(hub / ALEX)
    assert resolve("alexnet") == new


def test_folder_order_before_name_order(isolated, monkeypatch):
    _touch(isolated / "torch_home" / "hub" / "checkpoints" / ALEX)
    old = _touch(isolated / "shared" / "alexnet-owt-4df8aa71.pth")
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(old.parent))
    assert resolve("alexnet") == old  # the first folder holding any accepted name wins


def test_i3d_spec_is_separate(isolated, monkeypatch):
    _touch(isolated / "torch_home" / "hub" / "checkpoints" / ALEX)
    with pytest.raises(WeightsMissing, match=r"i3d_torchscript\.pt"):
        resolve("i3d")
    ts = _touch(isolated / "w" / "i3d_pretrained_400.pt")
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(ts.parent))
    assert resolve("i3d") == ts


def test_missing_message_names_file_option_variable_and_folders(isolated):
    with pytest.raises(WeightsMissing) as exc:
        resolve("alexnet")
    msg = str(exc.value)
    assert isinstance(exc.value, PhylawError)
    assert exc.value.spec is get_spec("alexnet")
    assert "\n" not in msg
    assert ALEX in msg
    assert "--alexnet-weights" in msg
    assert "$PHYLAW_ALEXNET_WEIGHTS" in msg
    assert str(isolated / "torch_home" / "hub" / "checkpoints") in msg
    assert available("alexnet") == msg


def test_named_path_that_does_not_exist_is_missing_and_names_it(isolated, monkeypatch):
    with pytest.raises(WeightsMissing, match=r"nope\.pth does not exist"):
        resolve("alexnet", {"alexnet": isolated / "nope.pth"})
    monkeypatch.setenv("PHYLAW_ALEXNET_WEIGHTS", str(isolated / "gone.pth"))
    with pytest.raises(WeightsMissing, match=r"gone\.pth does not exist"):
        resolve("alexnet")
    (isolated / "a_dir").mkdir()
    with pytest.raises(WeightsMissing, match="a_dir does not exist"):  # a folder is not the file
        resolve("alexnet", {"alexnet": isolated / "a_dir"})


def test_env_weights_dir_is_listed_first(isolated, monkeypatch):
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(isolated / "mine"))
    assert get_spec("alexnet").search_dirs()[0] == isolated / "mine"
    assert "mine" in available("alexnet")


def test_unknown_weights_name():
    with pytest.raises(PhylawError, match="unknown weights 'vgg'; known: alexnet, i3d"):
        resolve("vgg")
    assert set(weights.WEIGHTS) >= {"alexnet", "i3d"}
