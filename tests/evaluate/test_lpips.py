"""LPIPS: loading a torchvision-format AlexNet state dict the test makes, tap shapes, identical = 0, agreement
with an independent torch.nn.functional computation from the saved file, bad and missing weight files."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phylaw.errors import PhylawError
from phylaw.evaluate import lpips
from phylaw.evaluate.weights import WeightsMissing

# torchvision's AlexNet: features.N conv shapes (SPEC_COMBINATORIAL C.2)
CONVS = {
    0: (64, 3, 11, 11),
    3: (192, 64, 5, 5),
    6: (384, 192, 3, 3),
    8: (256, 384, 3, 3),
    10: (256, 256, 3, 3),
}


def _alexnet_state_dict(seed: int, first_gain: float = 1.0, bias: float = 0.05) -> OrderedDict:
    """Random He-initialised weights under torchvision's keys; classifier keys present (small, ignored)."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for i, shape in CONVS.items():
        fan_in = shape[1] * shape[2] * shape[3]
        gain = first_gain if i == 0 else 1.0
        sd[f"features.{i}.weight"] = torch.randn(shape, generator=g) * gain * (2 / fan_in) ** 0.5
        sd[f"features.{i}.bias"] = torch.randn(shape[0], generator=g) * bias
    for i in (1, 4, 6):
        sd[f"classifier.{i}.weight"] = torch.randn(4, 3, generator=g)
        sd[f"classifier.{i}.bias"] = torch.randn(4, generator=g)
    return sd


@pytest.fixture(scope="module")
def trunk_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alexnet") / "alexnet-owt-7be5be79.pth"
    torch.save(_alexnet_state_dict(0), path)
    return path


@pytest.fixture(autouse=True)
def _no_real_weights(monkeypatch, tmp_path):
    """Never look at the real home cache: the weight search folders point into tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("PHYLAW_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("PHYLAW_ALEXNET_WEIGHTS", raising=False)


def _reference(a: np.ndarray, b: np.ndarray, path: Path) -> np.ndarray:
    """LPIPS 0.1.4 (alex, v0.1, spatial=True, then .mean()) of frame pairs (B, H, W, 3), written out directly."""
    sd = torch.load(path, map_location="cpu")
    heads = torch.load(lpips.head_path(), map_location="cpu")
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(x):
        def conv(x, i, stride=1, pad=1):
            return F.relu(F.conv2d(x, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], stride, pad))

        r1 = conv(x, 0, stride=4, pad=2)
        r2 = conv(F.max_pool2d(r1, 3, 2), 3, pad=2)
        r3 = conv(F.max_pool2d(r2, 3, 2), 6)
        r4 = conv(r3, 8)
        return [r1, r2, r3, r4, conv(r4, 10)]

    def prep(f):
        x = torch.from_numpy(f).permute(0, 3, 1, 2).float() / 255 * 2 - 1
        return (x - shift) / scale

    with torch.no_grad():
        total = 0
        for k, (f0, f1) in enumerate(zip(taps(prep(a)), taps(prep(b)), strict=True)):
            n0 = f0 / (torch.sqrt(torch.sum(f0**2, dim=1, keepdim=True)) + 1e-10)
            n1 = f1 / (torch.sqrt(torch.sum(f1**2, dim=1, keepdim=True)) + 1e-10)
            d = F.conv2d((n0 - n1) ** 2, heads[f"lin{k}.model.1.weight"])
            total = total + F.interpolate(d, size=a.shape[1:3], mode="bilinear", align_corners=False)
    return total.mean(dim=(1, 2, 3)).double().numpy()


def _frames(rng, shape) -> np.ndarray:
    return rng.integers(0, 256, shape).astype(np.uint8)


def test_heads_are_torchmetrics_alex_pth():
    heads = lpips.load_heads()
    assert [tuple(h.shape) for h in heads] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    assert all(float(h.min()) >= 0 for h in heads)  # the v0.1 heads are non-negative (SPEC C.2)
    assert lpips.head_path().name == "alex.pth"


def test_load_trunk_keys_and_tap_shapes_at_256(trunk_file):
    model = lpips.load_lpips(trunk_file)
    sd = torch.load(trunk_file)
    for key, value in model.trunk.state_dict().items():
        torch.testing.assert_close(value, sd[key], rtol=0, atol=0)
    assert not model.training
    taps = model.trunk(torch.zeros(1, 3, 256, 256))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 63, 63), (192, 31, 31), (384, 15, 15), (256, 15, 15),
                                                 (256, 15, 15)]  # fmt: skip


def test_lpips_frames_shape_at_256(trunk_file, rng):
    a, b = _frames(rng, (1, 2, 256, 256, 3)), _frames(rng, (1, 2, 256, 256, 3))
    got = lpips.lpips_frames(a, b, lpips.load_lpips(trunk_file), batch=1)
    assert got.shape == (1, 2)
    assert got.dtype == np.float64
    assert np.all(got > 0)


def test_identical_frames_give_zero(trunk_file, rng):
    a = _frames(rng, (2, 2, 40, 48, 3))
    assert np.all(lpips.lpips_frames(a, a.copy(), lpips.load_lpips(trunk_file)) == 0)


def test_equals_independent_functional_computation(trunk_file, rng):
    a, b = _frames(rng, (2, 3, 40, 56, 3)), _frames(rng, (2, 3, 40, 56, 3))
    b[1, 1] = np.clip(a[1, 1].astype(int) + 20, 0, 255)  # a near pair among far ones
    got = lpips.lpips_frames(a, b, lpips.load_lpips(trunk_file), batch=4)
    want = _reference(a.reshape(-1, 40, 56, 3), b.reshape(-1, 40, 56, 3), trunk_file).reshape(2, 3)
    assert np.ptp(got) > 0.01
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)


def test_normalisation_eps_matters_on_tiny_features(tmp_path, rng):
    """Bias-free trunk with a 1e-9 first layer: feature norms ~1e-9, where eps 1e-10 vs 1e-8 decides."""
    path = tmp_path / "tiny.pth"
    torch.save(_alexnet_state_dict(1, first_gain=1e-9, bias=0.0), path)
    a, b = _frames(rng, (1, 2, 36, 36, 3)), _frames(rng, (1, 2, 36, 36, 3))
    got = lpips.lpips_frames(a, b, lpips.load_lpips(path))
    np.testing.assert_allclose(got[0], _reference(a[0], b[0], path), rtol=1e-5, atol=0)


def test_model_is_cached_per_file(trunk_file, tmp_path, monkeypatch):
    model = lpips.load_lpips(trunk_file)
    assert lpips.load_lpips(str(trunk_file)) is model
    assert lpips.load_lpips(overrides={"alexnet": trunk_file}) is model
    monkeypatch.setenv("PHYLAW_ALEXNET_WEIGHTS", str(trunk_file))
    assert lpips.load_lpips() is model
    other = tmp_path / "other.pth"
    torch.save(_alexnet_state_dict(2), other)
    assert lpips.load_lpips(other) is not model


def test_missing_file_is_weights_missing(tmp_path):
    with pytest.raises(WeightsMissing, match="does not exist"):
        lpips.load_lpips(tmp_path / "nope.pth")
    with pytest.raises(WeightsMissing, match=r"--alexnet-weights or \$PHYLAW_ALEXNET_WEIGHTS"):
        lpips.load_lpips()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda sd: sd.update({"features.0.weight": torch.zeros(64, 3, 3, 3)}),
         r"features\.0\.weight has shape \(64, 3, 3, 3\), expected \(64, 3, 11, 11\)"),
        (lambda sd: sd.pop("features.8.bias"), r"missing features\.8\.bias"),
        (lambda sd: sd.update({"features.12.weight": torch.zeros(1)}), r"unexpected keys features\.12\.weight"),
    ],
)  # fmt: skip
def test_wrong_architecture_is_phylaw_error_naming_the_file(tmp_path, edit, match):
    sd = _alexnet_state_dict(3)
    edit(sd)
    path = tmp_path / "wrong.pth"
    torch.save(sd, path)
    with pytest.raises(PhylawError, match=match) as exc:
        lpips.load_lpips(path)
    assert str(path.resolve()) in str(exc.value)
    assert "not torchvision's AlexNet state dict" in str(exc.value)
    assert not isinstance(exc.value, WeightsMissing)


@pytest.mark.parametrize(
    "content",
    [lambda b: b[: len(b) // 2], lambda b: b[:100], lambda _: b"this is not a torch file\n", lambda _: b""],
)
def test_truncated_or_unreadable_file_is_phylaw_error(trunk_file, tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content(trunk_file.read_bytes()))
    with pytest.raises(PhylawError, match="unreadable torchvision's AlexNet state dict") as exc:
        lpips.load_lpips(path)
    assert str(path.resolve()) in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not isinstance(exc.value, WeightsMissing)


def test_non_state_dict_pickle_is_phylaw_error(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(PhylawError, match="expected a state dict of tensors, got list"):
        lpips.load_lpips(path)


def test_bad_frames(trunk_file):
    model = lpips.load_lpips(trunk_file)
    small = np.zeros((1, 1, 30, 64, 3), np.uint8)
    with pytest.raises(PhylawError, match="too small"):
        lpips.lpips_frames(small, small, model)
    a, b = np.zeros((1, 2, 32, 32, 3), np.uint8), np.zeros((1, 3, 32, 32, 3), np.uint8)
    with pytest.raises(PhylawError, match=r"different length \(2 vs 3 frames\)"):
        lpips.lpips_frames(a, b, model)


@pytest.mark.skipif(
    "PHYLAW_REAL_ALEXNET" not in os.environ, reason="set $PHYLAW_REAL_ALEXNET to the real file"
)
def test_real_weights_regression_value():
    """[CM] README: all-zero vs all-one 64×64 frames give LPIPS 0.8140 (alex, spatial=True, then mean)."""
    model = lpips.load_lpips(os.environ["PHYLAW_REAL_ALEXNET"])
    zeros = np.zeros((1, 1, 64, 64, 3), np.uint8)
    assert lpips.lpips_frames(zeros, zeros + 255, model)[0, 0] == pytest.approx(0.8140, abs=5e-4)
