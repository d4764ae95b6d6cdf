"""The VAE's reconstruction loss: the plain means, and the foreground weighting for sparse scenes."""

from __future__ import annotations

import pytest
import torch

from phylaw.config import load_config
from phylaw.errors import PhylawError
from phylaw.train.vae_trainer import foreground_mask, reconstruction_loss


def _scene() -> torch.Tensor:
    """(1,3,2,16,16) in [-1,1]: white background, a red 3x3 block in frame 0, a 1-px black bar in frame 1."""
    x = torch.ones(1, 3, 2, 16, 16)
    x[0, 1:, 0, 4:7, 4:7] = -1.0  # red (1, -1, -1)
    x[0, :, 1, 10, 2:14] = -1.0  # black bar
    return x


def test_foreground_mask_marks_exactly_the_objects():
    x = _scene()
    mask = foreground_mask(x)
    assert mask.shape == (1, 1, 2, 16, 16)
    expected = torch.zeros(1, 1, 2, 16, 16, dtype=torch.bool)
    expected[0, 0, 0, 4:7, 4:7] = True
    expected[0, 0, 1, 10, 2:14] = True
    assert torch.equal(mask, expected)
    # a dark background is found as well (the median, not "white")
    assert torch.equal(foreground_mask(-x), expected)
    # a shift below the threshold is background
    assert not foreground_mask(torch.full((1, 3, 1, 4, 4), 0.5) + 0.05 * torch.eye(4)).any()


def test_zero_weight_is_the_plain_mean():
    gen = torch.Generator().manual_seed(0)
    x, recon = torch.rand(2, 3, 2, 8, 8, generator=gen), torch.rand(2, 3, 2, 8, 8, generator=gen)
    l1, l2 = reconstruction_loss(recon, x, 0.0)
    assert torch.equal(l1, (recon - x).abs().mean())
    assert torch.equal(l2, (recon - x).square().mean())


def test_weight_moves_the_loss_onto_the_objects():
    x = _scene()
    n_fg, n_all = 9 + 12, 2 * 16 * 16
    # an error of 1 on the objects only, and the same total error spread over background pixels only
    on_objects = x.clone()
    on_objects[foreground_mask(x).expand_as(x)] += 1.0
    bg = ~foreground_mask(x).expand_as(x)
    on_background = x.clone()
    on_background[bg] += n_fg / (n_all - n_fg)
    w = 10.0
    l1_obj, l2_obj = reconstruction_loss(on_objects, x, w)
    l1_bg, _ = reconstruction_loss(on_background, x, w)
    # hand-computed: sum(weight * err) / (3 * sum(weight)); weight 1 + w on the 21 object pixels
    denom = 3 * (n_all + w * n_fg)
    assert l1_obj.item() == pytest.approx(3 * n_fg * (1 + w) / denom, rel=1e-5)
    assert l2_obj.item() == pytest.approx(3 * n_fg * (1 + w) / denom, rel=1e-5)
    assert l1_bg.item() == pytest.approx(3 * n_fg / denom, rel=1e-5)
    # unweighted, the two errors cost the same; weighted, the objects' error costs 1 + w times more
    assert reconstruction_loss(on_objects, x)[0].item() == pytest.approx(
        reconstruction_loss(on_background, x)[0].item(), rel=1e-5
    )
    assert (l1_obj / l1_bg).item() == pytest.approx(1 + w, rel=1e-5)
    # the loss is still zero for a perfect reconstruction and differentiable
    recon = x.clone().requires_grad_(True)
    l1, l2 = reconstruction_loss(recon, x, w)
    assert l1.item() == 0
    assert l2.item() == 0
    (l1 + l2).backward()
    assert recon.grad is not None


def test_a_ghost_object_costs_what_a_missing_one_does():
    """Weighting only the target's objects would make painting object colour on the background 1 + w times
    cheaper than leaving an object out: the VAE would learn fat bodies. Both are weighted alike."""
    x = _scene()
    w = 10.0
    missing = x.clone()
    missing[0, 1:, 0, 4:7, 4:7] = 1.0  # the red block painted white
    ghost = x.clone()
    ghost[0, 1:, 0, 10:13, 10:13] = -1.0  # a red block of the same size where there is none
    assert reconstruction_loss(ghost, x, w)[0].item() == pytest.approx(
        reconstruction_loss(missing, x, w)[0].item(), rel=0.2  # the ghost adds its pixels to the normaliser
    )
    assert reconstruction_loss(ghost, x, w)[0].item() > 5 * reconstruction_loss(ghost, x, 0.0)[0].item()
    # a faint shade below the threshold is not an object: weight 1
    faint = x.clone()
    faint[0, :, 0, 10:13, 10:13] -= 0.05
    base = 1.0 + w * foreground_mask(x).float()
    expected = (base * (faint - x).abs()).sum() / (3 * base.sum())
    assert reconstruction_loss(faint, x, w)[0].item() == pytest.approx(expected.item(), rel=1e-5)


def test_negative_weight_is_refused_at_config_time():
    with pytest.raises(PhylawError, match="foreground_weight"):
        load_config("vae-cpu", ["autoencoder.foreground_weight=-1"])
