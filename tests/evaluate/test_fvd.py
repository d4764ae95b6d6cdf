"""FVD: the Fréchet distance against closed forms, covariance conventions, phylaw's I3D (layout, head, a
full forward), the detector loaders (state dict, TorchScript with I3D's call signature, bad and missing files)
and phyworld's preprocessing. Real I3D weights are not on the test machines: the tests make their own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phylaw.errors import PhylawError
from phylaw.evaluate import fvd as fv
from phylaw.evaluate.i3d import BN_EPS, I3D, MIXED, same_padding
from phylaw.evaluate.weights import WeightsMissing

# ------------------------------------------------------------------ the Fréchet distance


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_identical_sets_give_zero():
    x = np.random.default_rng(0).normal(size=(60, 24)) * np.linspace(0.1, 30, 24) + 5
    tr = np.trace(np.cov(x, rowvar=False))
    assert abs(fv.fvd(x, x)) <= 1e-12 * tr
    assert abs(fv.fvd(x, x, ddof=0)) <= 1e-12 * tr


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)  # standard deviations
    want = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    got = fv.frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_commuting_non_diagonal_closed_form():
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # shared eigenvectors: Σ1Σ2 = Σ2Σ1
    a, b = rng.uniform(0.01, 4, 5), rng.uniform(0.01, 4, 5)
    cov1, cov2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert np.abs(cov1 - np.diag(np.diag(cov1))).max() > 0.1  # really not diagonal
    mu = rng.normal(size=5)
    want = 4.0 + a.sum() + b.sum() - 2 * np.sqrt(a * b).sum()
    np.testing.assert_allclose(
        fv.frechet_distance(mu, cov1, mu + np.array([2.0, 0, 0, 0, 0]), cov2), want, rtol=1e-12
    )


def test_non_commuting_matches_sqrtm_where_it_is_well_conditioned():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov1, cov2 = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    want = np.trace(cov1 + cov2) - 2 * np.real(np.trace(scipy_linalg.sqrtm(cov1 @ cov2)))
    np.testing.assert_allclose(fv.frechet_distance(np.zeros(6), cov1, np.zeros(6), cov2), want, rtol=1e-10)


def test_near_singular_covariance_is_exact():
    """200-d features of 30 videos lying near a 5-d subspace: rank-deficient covariances with round-off
    eigenvalues below zero. FVD(x, x + c) = ‖c‖² exactly; a general matrix square root (scipy's sqrtm) or
    √ of the eigenvalues of √Σ Σ √Σ is off by ~1e-7 of tr Σ here, and an unclipped √ gives NaN."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 200)) * 10 + 1e-6 * rng.normal(size=(30, 200))
    _, cov = fv.gaussian_stats(x)
    assert np.linalg.eigvalsh(cov).min() < 0  # round-off makes it indefinite
    c = rng.normal(size=200)
    tr = np.trace(cov)
    assert abs(fv.fvd(x, x)) <= 1e-12 * tr
    np.testing.assert_allclose(fv.fvd(x, x + c), c @ c, atol=1e-11 * tr)
    root = fv.sqrt_psd(cov)
    assert np.isfinite(root).all()
    np.testing.assert_allclose(root @ root, cov, atol=1e-9 * tr)


def test_covariance_conventions():
    """1-D hand values: gen {1, 3}, ref {0, 4}: means equal; variances 2 and 8 (N − 1) or 1 and 4 (N)."""
    gen, ref = np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]])
    assert fv.fvd(gen, ref) == pytest.approx(2.0, rel=1e-12)  # (√2 − √8)²
    assert fv.fvd(gen, ref, ddof=0) == pytest.approx(1.0, rel=1e-12)  # (1 − 2)²
    assert fv.fvd_compute(gen, ref) == pytest.approx(2.0, rel=1e-12)  # the set metric is phyworld's N − 1
    x = np.random.default_rng(5).normal(size=(7, 3))
    np.testing.assert_allclose(fv.gaussian_stats(x)[1], np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(
        fv.gaussian_stats(x, ddof=0)[1], np.cov(x, rowvar=False, bias=True), rtol=1e-12
    )


def test_too_few_videos_and_bad_shapes():
    with pytest.raises(PhylawError, match="at least 2 videos, got 1") as exc:
        fv.fvd(np.zeros((1, 4)), np.zeros((5, 4)))
    _one_line(exc)
    with pytest.raises(PhylawError, match="one d"):
        fv.fvd(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(PhylawError, match="non-finite"):
        fv.fvd(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(PhylawError, match="ddof"):
        fv.fvd(np.zeros((3, 2)), np.zeros((3, 2)), ddof=2)


# ------------------------------------------------------------------ phylaw's I3D


def test_i3d_state_dict_layout():
    model = I3D()
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    units = 3 + 6 * len(MIXED)  # conv + BN units: the stem's three and six per Inception block
    assert len(sd) == 5 * units + 2 == 287
    assert len(list(model.parameters())) == 3 * units + 2
    assert [k for k in sd if k.endswith("conv3d.bias")] == ["logits.conv3d.bias"]  # convs have no bias
    shapes = {
        "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
        "Conv3d_1a_7x7.bn.running_var": (64,),
        "Conv3d_2b_1x1.conv3d.weight": (64, 64, 1, 1, 1),
        "Conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
        "Mixed_3b.b1b.conv3d.weight": (128, 96, 3, 3, 3),
        "Mixed_4b.b0.conv3d.weight": (192, 480, 1, 1, 1),
        "Mixed_4f.b2b.conv3d.weight": (128, 32, 3, 3, 3),
        "Mixed_5b.b3b.conv3d.weight": (128, 832, 1, 1, 1),
        "Mixed_5c.b0.bn.weight": (384,),
        "logits.conv3d.weight": (400, 1024, 1, 1, 1),
        "logits.conv3d.bias": (400,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    for block in MIXED:
        branches = {k.split(".")[1] for k in sd if k.startswith(block + ".")}
        assert branches == {"b0", "b1a", "b1b", "b2a", "b2b", "b3b"}
    widths = {name: getattr(model, name).out_channels for name in MIXED}  # Inception-v1's block outputs
    assert list(widths.values()) == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert model.Conv3d_1a_7x7.bn.eps == BN_EPS == 1e-3
    assert I3D(bn_eps=1e-5).Mixed_5c.b3b.bn.eps == 1e-5


def test_same_padding_is_tensorflows():
    assert same_padding(224, 7, 2) == (2, 3)  # odd total: the extra row at the end
    assert same_padding(9, 3, 2) == (1, 1)
    assert same_padding(16, 7, 2) == (2, 3)
    assert same_padding(7, 1, 1) == (0, 0)
    assert same_padding(5, 3, 1) == (1, 1)


def test_i3d_trunk_at_reduced_resolution():
    model = I3D().eval()
    with torch.no_grad():
        assert model.trunk(torch.zeros(1, 3, 16, 64, 40)).shape == (1, 1024, 2, 2, 2)  # ⌈T/8⌉, ⌈H/32⌉
        with pytest.raises(PhylawError, match="I3D needs >= 9 frames") as exc:
            model(torch.zeros(1, 3, 9, 32, 32))
    _one_line(exc)


def test_i3d_head_per_time(monkeypatch):
    """2×7×7 average pool (stride 1 in time), 1×1×1 logits conv with bias, spatial squeeze, mean over time."""
    torch.manual_seed(0)
    model = I3D().eval()
    feats = torch.randn(2, 1024, 4, 7, 7)
    monkeypatch.setattr(model, "trunk", lambda x: feats)
    with torch.no_grad():
        per_time = model.logits_per_time(torch.zeros(2, 3, 32, 224, 224))
        pooled = torch.stack([feats[:, :, t : t + 2].mean(dim=(2, 3, 4)) for t in range(3)], dim=2)
        w, b = model.logits.conv3d.weight[:, :, 0, 0, 0], model.logits.conv3d.bias
        want = torch.einsum("oc,bct->bot", w, pooled) + b[None, :, None]  # (B, 400, 3)
        assert per_time.shape == (2, 400, 3)
        torch.testing.assert_close(per_time, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            model(torch.zeros(2, 3, 32, 224, 224)), want.mean(dim=2), rtol=1e-5, atol=1e-5
        )


# ------------------------------------------------------------------ loading detectors


@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory):
    """A random-init I3D with non-trivial BN statistics, saved as a state dict: (path, state dict)."""
    torch.manual_seed(1)
    model = I3D()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm3d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("i3d") / "i3d_pretrained_400.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def test_state_dict_round_trip_and_full_forward(i3d_file):
    path, state = i3d_file
    det = fv.load_detector(path)
    assert not det.torchscript
    assert not det.module.training
    got = det.module.state_dict()
    assert got.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(got[k], v), k
    frames = np.random.default_rng(6).integers(0, 256, size=(1, 9, 256, 256, 3), dtype=np.uint8)
    feats = det.features(frames)  # the one full 224² forward of the suite
    assert feats.shape == (1, 400)
    assert feats.dtype == np.float64
    assert np.isfinite(feats).all()
    assert feats.std() > 0


def test_state_dict_variants_load(i3d_file, tmp_path):
    """Saved before torch 0.4.1 (no num_batches_tracked), wrapped in {"state_dict": ...}, DataParallel keys."""
    _, state = i3d_file
    old = {"module." + k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": old}, p := tmp_path / "old.pt")
    got = fv.load_detector(p).module.state_dict()
    key = "Mixed_5c.b3b.bn.running_var"
    assert torch.equal(got[key], state[key])


def test_wrong_architecture_truncated_and_foreign_files(i3d_file, tmp_path):
    path, state = i3d_file
    cases = {}
    stem = {k: v for k, v in state.items() if k.startswith("Conv3d_1a_7x7.")}  # small files
    torch.save(stem, p := tmp_path / "cut.pt")
    cases[p] = "282 keys missing"
    torch.save({**stem, "logits.conv3d.weight": torch.zeros(10, 1024, 1, 1, 1)}, p := tmp_path / "ten.pt")
    cases[p] = r"1 of wrong shape \(e.g. logits.conv3d.weight \(10, 1024, 1, 1, 1\), expected \(400, 1024"
    torch.save({**stem, "features.0.weight": torch.zeros(1)}, p := tmp_path / "alexnet.pt")
    cases[p] = r"1 unexpected keys \(e.g. features.0.weight\)"
    (p := tmp_path / "half.pt").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cases[p] = "truncated"
    (p := tmp_path / "text.pt").write_text("not a network\n")
    cases[p] = "truncated or not a torch file"
    torch.save([torch.zeros(2)], p := tmp_path / "list.pt")
    cases[p] = "not a state dict"
    for p, what in cases.items():
        with pytest.raises(PhylawError, match=what) as exc:
            fv.load_detector(p)
        assert str(p) in _one_line(exc)


def test_missing_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("PHYLAW_I3D_WEIGHTS", raising=False)
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsMissing, match=r"i3d_torchscript\.pt") as exc:
        fv.load_detector()
    assert "--i3d-weights" in _one_line(exc)
    with pytest.raises(WeightsMissing, match=r"nope\.pt does not exist"):
        fv.load_detector(tmp_path / "nope.pt")
    with pytest.raises(WeightsMissing, match=r"nope\.pt does not exist"):
        fv.load_detector(overrides={"i3d": str(tmp_path / "nope.pt")})


class FakeI3D(torch.nn.Module):
    """I3D's TorchScript call signature, defaults opposite to FVD's call; writes what it saw into (B, 400)."""

    def forward(
        self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False
    ) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 400)
        out[:, 0] = float(rescale)
        out[:, 1] = float(resize)
        out[:, 2] = float(return_features)
        out[:, 3] = float(x.shape[0])  # batch size
        out[:, 4] = float(x.shape[2])  # frames
        out[:, 5] = float(x.shape[3] * 1000 + x.shape[4])  # 224224
        out[:, 6] = x.amin(dim=(1, 2, 3, 4))
        out[:, 7] = x.amax(dim=(1, 2, 3, 4))
        out[:, 8] = x.mean(dim=(1, 2, 3, 4))
        return out


class NoFlags(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :400]


class BadOutput(torch.nn.Module):
    def forward(
        self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False
    ) -> torch.Tensor:
        return x.mean(dim=(1, 2))  # (B, H, W): not (B, features)


@pytest.fixture(scope="module")
def fake_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "i3d_torchscript.pt"
    torch.jit.script(FakeI3D()).save(str(path))
    return path


def test_torchscript_is_called_with_fvd_flags(fake_script):
    det = fv.load_detector(overrides={"i3d": fake_script})
    assert det.torchscript
    frames = np.full((12, 10, 256, 256, 3), 255, np.uint8)
    frames[:, :, :, :128] = 0  # left half black, right half white
    feats = det.features(frames)
    assert feats.shape == (12, 400)
    assert feats.dtype == np.float64
    np.testing.assert_array_equal(feats[:, :3], [[0, 0, 1]] * 12)  # rescale=False, resize=False, features
    np.testing.assert_array_equal(feats[:, 3], [10] * 10 + [2] * 2)  # batches of 10
    np.testing.assert_array_equal(feats[:, 4:6], [[10, 224224]] * 12)
    np.testing.assert_array_equal(feats[:, 6:8], [[-1, 1]] * 12)
    np.testing.assert_allclose(feats[:, 8], 0.0, atol=1e-6)  # symmetric halves average to 0


def test_prefixes_and_set_statistics(fake_script):
    det = fv.load_detector(fake_script)
    assert fv.prefix_lengths(12) == (10, 11, 12)
    assert fv.prefix_lengths(30, step=10) == (10, 20, 30)
    with pytest.raises(PhylawError, match="no clip prefixes"):
        fv.prefix_lengths(9)
    rng = np.random.default_rng(7)
    gen = rng.integers(0, 256, size=(3, 12, 224, 224, 3), dtype=np.uint8)  # 224²: no resize, fast
    ref = rng.integers(0, 256, size=(3, 12, 224, 224, 3), dtype=np.uint8)
    pg, pr = fv.prefix_features(gen, det), fv.prefix_features(ref, det)
    assert pg.lengths == (10, 11, 12)
    assert pg.features.shape == (3, 3, 400)
    np.testing.assert_array_equal(pg.features[:, :, 4], [[10] * 3, [11] * 3, [12] * 3])  # frames [:k]
    scores = fv.fvd_prefixes(pg, pr)
    assert list(scores) == [10, 11, 12]
    assert scores[12] == pytest.approx(fv.fvd(pg.features[2], pr.features[2]))
    stats = fv.fvd_statistics(gen, ref, det)
    assert stats.shape == (3, 2, 400)
    np.testing.assert_allclose(stats[:, 0], pg.features[2])  # whole videos = the longest prefix
    np.testing.assert_allclose(stats[:, 1], pr.features[2])
    assert fv.fvd_compute(stats[:, 0], stats[:, 0]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(PhylawError, match="one ground truth per video"):
        fv.fvd_statistics(gen, ref[:2], det)
    with pytest.raises(PhylawError, match="clip lengths differ"):
        fv.fvd_prefixes(pg, fv.PrefixFeatures((10,), pr.features[:1]))


def test_torchscript_with_wrong_signature_or_output(tmp_path):
    torch.jit.script(NoFlags()).save(str(p := tmp_path / "noflags.pt"))
    with pytest.raises(PhylawError, match="forward takes no rescale, resize, return_features") as exc:
        fv.load_detector(p)
    assert str(p) in _one_line(exc)
    torch.jit.script(BadOutput()).save(str(p := tmp_path / "bad.pt"))
    det = fv.load_detector(p)
    with pytest.raises(PhylawError, match=r"returned \(1, 224, 224\)"):
        det.features(np.zeros((1, 10, 224, 224, 3), np.uint8))
    (p := tmp_path / "cut_ts.pt").write_bytes((tmp_path / "bad.pt").read_bytes()[:200])
    with pytest.raises(PhylawError, match=r"cut_ts\.pt"):
        fv.load_detector(p)


# ------------------------------------------------------------------ preprocessing


def test_preprocess_resizes_256_to_224_and_maps_to_minus_one_one():
    frames = np.zeros((2, 3, 256, 256, 3), np.uint8)
    frames[1] = 255
    frames[0, 1] = 51
    x = fv.preprocess(frames)
    assert x.shape == (2, 3, 3, 224, 224)  # (n, 3, T, 224, 224)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x[0, :, 0], torch.full((3, 224, 224), -1.0))
    torch.testing.assert_close(x[1], torch.full((3, 3, 224, 224), 1.0))
    torch.testing.assert_close(x[0, :, 1], torch.full((3, 224, 224), 51 / 255 * 2 - 1))


def test_preprocess_bilinear_half_pixel_and_centre_crop():
    """A ramp v = column index: bilinear (align_corners=False) samples column (j + ½)·s − ½; a 256×320 frame
    resizes to 224×280 and the crop starts at column 28."""
    frames = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, None, None, :, None], (1, 1, 256, 256, 3))
    x = fv.preprocess(np.ascontiguousarray(frames))
    j = np.arange(224)
    want = ((j + 0.5) * 256 / 224 - 0.5) / 255 * 2 - 1
    np.testing.assert_allclose(x[0, 1, 0, 100].numpy(), want, atol=1e-5)
    wide = np.zeros((1, 1, 256, 320, 3), np.uint8)
    wide[..., :] = np.clip(np.arange(320) * 255 // 319, 0, 255).astype(np.uint8)[None, None, None, :, None]
    got = fv.preprocess(wide)
    assert got.shape == (1, 3, 1, 224, 224)
    ref = F.interpolate(
        torch.from_numpy(wide[0, :1]).float().permute(0, 3, 1, 2) / 255, size=(224, 280), mode="bilinear"
    )
    torch.testing.assert_close(got[0, :, 0], (ref[0, :, :, 28:252] - 0.5) * 2)


def test_preprocess_rejects_bad_frames():
    with pytest.raises(PhylawError, match="uint8 videos"):
        fv.preprocess(np.zeros((1, 4, 8, 8, 3), np.float32))
    with pytest.raises(PhylawError, match="uint8 videos"):
        fv.preprocess(np.zeros((4, 8, 8, 3), np.uint8))


@pytest.mark.parametrize("m", [3, 40, 399, 401])
def test_fvd_in_video_space_equals_the_covariance_form(m):
    """Fewer videos than dimensions: fvd() works on the (m x m) cross-Gram; same number as the d-space form
    (to 1e-8: the d-space form's square roots of a rank-deficient covariance lose ~1e-9, see sqrt_psd)."""
    rng = np.random.default_rng(m)
    a, b = rng.normal(size=(m, 400)), 1.3 * rng.normal(size=(m + 2, 400)) + 0.2
    for ddof in (0, 1):
        d_space = fv.frechet_distance(*fv.gaussian_stats(a, ddof), *fv.gaussian_stats(b, ddof))
        assert fv.fvd(a, b, ddof) == pytest.approx(d_space, rel=1e-8)
    assert abs(fv.fvd(a, a)) < 1e-9 * np.trace(np.cov(a, rowvar=False))
