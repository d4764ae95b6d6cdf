"""SSIM / PSNR per frame: hand-computed values, an independent scipy SSIM, torchmetrics itself, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from phylaw.errors import PhylawError
from phylaw.evaluate.image_metrics import psnr_frames, ssim_frames

C1, C2 = 0.01**2, 0.03**2


def _frames(rng, shape, smooth: bool = False) -> np.ndarray:
    x = rng.integers(0, 256, shape).astype(np.float64)
    if smooth:  # structure at several scales, so the SSIM map is far from constant
        x = ndimage.gaussian_filter(x, sigma=(0, 0, 2, 2, 0)) * 3 - 250
    return np.clip(x, 0, 255).astype(np.uint8)


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """The paper's SSIM of one (H, W, 3) frame pair: per channel, 2-D 11×11 Gaussian σ 1.5 (cv2.filter2D style,
    any border mode), crop 5 px on every side, mean of the map, mean over channels; float64 in [0, 1]."""
    d = np.arange(11) - 5.0
    g = np.exp(-(d**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()  # (11, 11)
    x, y = x.astype(np.float64) / 255, y.astype(np.float64) / 255
    values = []
    for c in range(3):
        f = lambda z: ndimage.correlate(z, w, mode="reflect")[5:-5, 5:-5]  # noqa: E731
        mx, my = f(x[..., c]), f(y[..., c])
        sxx, syy, sxy = (
            f(x[..., c] ** 2) - mx**2,
            f(y[..., c] ** 2) - my**2,
            f(x[..., c] * y[..., c]) - mx * my,
        )
        m = ((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx**2 + my**2 + C1) * (sxx + syy + C2))
        values.append(m.mean())
    return float(np.mean(values))


def test_ssim_zeros_vs_ones_is_c1_over_1_plus_c1():
    zeros = np.zeros((1, 2, 16, 16, 3), np.uint8)
    got = ssim_frames(zeros, zeros + 255)
    assert got.shape == (1, 2)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, C1 / (1 + C1), rtol=0, atol=1e-9)
    assert abs(got[0, 0] - 9.999e-5) < 1e-9


def test_ssim_identical_is_one(rng):
    a = _frames(rng, (2, 3, 20, 24, 3))
    np.testing.assert_allclose(ssim_frames(a, a), 1.0, rtol=0, atol=1e-12)


def test_ssim_matches_independent_scipy_reference(rng):
    a = _frames(rng, (2, 3, 24, 40, 3), smooth=True)  # non-square: catches swapped axes
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    b[1, 2] = _frames(rng, (24, 40, 3))
    want = np.array([[_ssim_reference(a[i, t], b[i, t]) for t in range(3)] for i in range(2)])
    got = ssim_frames(a, b)
    assert np.ptp(got) > 0.1  # the frames differ enough to tell definitions apart
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_ssim_equals_torchmetrics_full_map_cropped_in_float64(rng):
    """The contract: torchmetrics' SSIM with the paper's settings, full map cropped [5:-5, 5:-5], float64."""
    a = _frames(rng, (1, 3, 32, 28, 3), smooth=True)
    b = _frames(rng, (1, 3, 32, 28, 3), smooth=True)
    x = torch.from_numpy(a[0]).permute(0, 3, 1, 2).double() / 255
    y = torch.from_numpy(b[0]).permute(0, 3, 1, 2).double() / 255
    _, full = structural_similarity_index_measure(
        x, y, gaussian_kernel=True, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03,
        reduction="none", return_full_image=True,
    )  # fmt: skip
    want = full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(ssim_frames(a, b)[0], want, rtol=0, atol=1e-12)


def test_ssim_is_per_frame(rng):
    a, b = _frames(rng, (3, 5, 16, 16, 3)), _frames(rng, (3, 5, 16, 16, 3))
    base = ssim_frames(a, b)
    np.testing.assert_array_equal(ssim_frames(a[1:2, 3:], b[1:2, 3:]), base[1:2, 3:])
    b[2, 4] = a[2, 4]
    got = ssim_frames(a, b)
    assert got[2, 4] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(got[:2], base[:2])


def test_psnr_of_known_mse():
    a = np.zeros((1, 2, 8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 10  # MSE = (10/255)² everywhere
    b[0, 1, :4] = 51  # half the pixels off by 51/255 = 0.2: MSE = 0.02
    got = psnr_frames(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got[0], [20 * np.log10(25.5), 10 * np.log10(50.0)], rtol=0, atol=1e-12)


def test_psnr_cap_100_where_mse_below_1e10():
    a = np.zeros((1, 3, 256, 256, 3), np.uint8)
    b = a.copy()
    b[0, 1, 0, 0, 0] = 1  # MSE = 1 / (255² · 196608) = 7.8e-11 < 1e-10: capped, as the paper does
    b[0, 2, 0, 0, :2] = 1  # MSE = 1.56e-10: not capped
    got = psnr_frames(a, b)[0]
    assert got[0] == 100.0
    assert got[1] == 100.0
    assert got[2] == pytest.approx(10 * np.log10(255**2 * 196608 / 2), abs=1e-9)
    assert got[2] < 100


def test_psnr_is_per_frame_and_independent_of_chunking(rng):
    a, b = _frames(rng, (3, 5, 8, 8, 3)), _frames(rng, (3, 5, 8, 8, 3))
    base = psnr_frames(a, b, chunk=1)
    np.testing.assert_array_equal(psnr_frames(a, b, chunk=7), base)
    np.testing.assert_array_equal(psnr_frames(a[2:, 1:3], b[2:, 1:3]), base[2:, 1:3])


def test_psnr_matches_torchmetrics_per_image(rng):
    a, b = _frames(rng, (2, 3, 12, 20, 3)), _frames(rng, (2, 3, 12, 20, 3), smooth=True)
    x = torch.from_numpy(a.reshape(-1, 12, 20, 3)).permute(0, 3, 1, 2).double() / 255
    y = torch.from_numpy(b.reshape(-1, 12, 20, 3)).permute(0, 3, 1, 2).double() / 255
    want = peak_signal_noise_ratio(x, y, data_range=1.0, dim=(1, 2, 3), reduction="none").numpy()
    # torchmetrics divides by log(10) of a float32 tensor: agreement to float32 precision (4.5e-8 here)
    np.testing.assert_allclose(psnr_frames(a, b, chunk=4).ravel(), want, rtol=1e-7, atol=0)


@pytest.mark.parametrize("fn", [ssim_frames, psnr_frames])
def test_resolution_mismatch_names_both_shapes(fn):
    a, b = np.zeros((1, 4, 32, 32, 3), np.uint8), np.zeros((1, 4, 64, 64, 3), np.uint8)
    with pytest.raises(PhylawError, match=r"different resolution \(32x32 vs 64x64\)") as exc:
        fn(a, b)
    assert "(1, 4, 32, 32, 3)" in str(exc.value)
    assert "(1, 4, 64, 64, 3)" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("fn", [ssim_frames, psnr_frames])
def test_length_mismatch_names_both_shapes(fn):
    a, b = np.zeros((2, 4, 16, 16, 3), np.uint8), np.zeros((2, 6, 16, 16, 3), np.uint8)
    with pytest.raises(PhylawError, match=r"different length \(4 vs 6 frames\).*\(2, 4, 16, 16, 3\)"):
        fn(a, b)


@pytest.mark.parametrize(
    ("a", "match"),
    [
        (np.zeros((1, 2, 16, 16, 3), np.float32), "must be uint8, got float32"),
        (np.zeros((2, 16, 16, 3), np.uint8), r"must be \(n, T, H, W, 3\) RGB, got shape \(2, 16, 16, 3\)"),
        (np.zeros((1, 2, 16, 16, 4), np.uint8), "RGB, got shape"),
    ],
)
def test_bad_frames_are_one_line_errors(a, match):
    with pytest.raises(PhylawError, match=match):
        psnr_frames(a, a)
    with pytest.raises(PhylawError, match=match):
        ssim_frames(np.zeros((1, 2, 16, 16, 3), np.uint8), a)


def test_ssim_needs_frames_of_at_least_the_window():
    a = np.zeros((1, 1, 10, 40, 3), np.uint8)
    with pytest.raises(PhylawError, match="too small"):
        ssim_frames(a, a)
    with pytest.raises(PhylawError, match="no frames"):
        psnr_frames(a[:, :0], a[:, :0])
