"""Autoencoders: shapes, exact pixel round trip, VideoVAE save/load, diffusers VAE from a tiny saved model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phylaw.errors import PhylawError
from phylaw.models.autoencoder import (
    build_autoencoder,
    frames_to_tensor,
    load_video_vae,
    save_video_vae,
    tensor_to_frames,
)
from phylaw.models.vae import VAEConfig, VideoVAE


def _video(rng: np.random.Generator, b: int = 2, t: int = 4, h: int = 16) -> torch.Tensor:
    frames = rng.integers(0, 256, size=(b, t, h, h, 3), dtype=np.uint8)
    return frames_to_tensor(frames)


def test_frames_tensor_round_trip_is_exact(rng):
    frames = rng.integers(0, 256, size=(2, 3, 8, 8, 3), dtype=np.uint8)
    x = frames_to_tensor(frames)
    assert x.shape == (2, 3, 3, 8, 8)
    assert x.min() >= -1.0
    assert x.max() <= 1.0
    np.testing.assert_array_equal(tensor_to_frames(x), frames)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_identity_space_to_depth_round_trip(rng, s):
    ae = build_autoencoder("identity", space_to_depth=s)
    x = _video(rng)
    z = ae.encode(x)
    assert z.shape == (2, 3 * s * s, 4, 16 // s, 16 // s)
    assert ae.latent_shape(4, 16) == tuple(z.shape[1:])
    torch.testing.assert_close(ae.decode(z), x, rtol=0, atol=0)
    # the channels of one latent pixel are the s x s block of that pixel
    assert torch.equal(z[0, 0, 0, 0, 0], x[0, 0, 0, 0, 0])


def test_identity_rejects_indivisible_resolution():
    ae = build_autoencoder("identity", space_to_depth=4)
    with pytest.raises(PhylawError, match="not divisible"):
        ae.latent_shape(32, 30)


@pytest.mark.parametrize("factor", [4, 8])
def test_video_vae_shapes_and_save_load(tmp_path, rng, factor):
    vae = VideoVAE(VAEConfig(latent_channels=4, spatial_factor=factor, base_channels=8))
    x = _video(rng, h=32)
    out = vae(x, generator=torch.Generator().manual_seed(0))
    assert out.recon.shape == x.shape
    assert out.mean.shape == (2, 4, 4, 32 // factor, 32 // factor)
    assert torch.isfinite(out.kl())
    save_video_vae(tmp_path / "vae.pt", vae, scaling_factor=0.5)
    ae = load_video_vae(tmp_path)
    assert (ae.latent_channels, ae.spatial_factor, ae.temporal_factor) == (4, factor, 1)
    assert ae.scaling_factor == 0.5
    with torch.no_grad():
        z = ae.encode(x)
        torch.testing.assert_close(z, out.mean * 0.5)
        assert ae.decode(z).shape == x.shape
    assert not (tmp_path / "vae.pt.partial").exists()


def test_video_vae_missing_checkpoint(tmp_path):
    with pytest.raises(PhylawError, match="no trained VideoVAE"):
        build_autoencoder("vae", path=str(tmp_path / "nope"))


def _tiny_kl(tmp_path):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)  # diffusers initialises weights from the global RNG; only in this test
    model = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
        scaling_factor=0.25,
    )
    model.save_pretrained(tmp_path / "tiny_vae")
    return model


def test_diffusers_vae_from_saved_directory(tmp_path, rng):
    model = _tiny_kl(tmp_path)
    ae = build_autoencoder("diffusers", path=str(tmp_path / "tiny_vae"))
    assert (ae.latent_channels, ae.spatial_factor, ae.temporal_factor) == (4, 2, 1)
    assert ae.scaling_factor == 0.25
    x = _video(rng, b=2, t=3, h=16)
    with torch.no_grad():
        z = ae.encode(x)
        assert z.shape == (2, 4, 3, 8, 8)
        # frame-wise: latent of frame 1 equals the 2-D VAE's latent of that image
        ref = model.encode(x[:, :, 1]).latent_dist.mode() * 0.25
        torch.testing.assert_close(z[:, :, 1], ref, rtol=1e-4, atol=1e-5)
        assert ae.decode(z).shape == x.shape
    assert not any(p.requires_grad for p in ae.parameters())


def test_diffusers_vae_missing_path(tmp_path):
    with pytest.raises(PhylawError, match="no diffusers VAE"):
        build_autoencoder("diffusers", path=str(tmp_path / "missing"))
    with pytest.raises(PhylawError, match="PHYLAW_VAE_PATH"):
        build_autoencoder("diffusers", path="")


def test_unknown_kind():
    with pytest.raises(PhylawError, match="unknown autoencoder kind"):
        build_autoencoder("gan")


@pytest.mark.parametrize("kind", ["vae", "identity"])
def test_latent_frame_k_depends_only_on_video_frame_k(tmp_path, rng, kind):
    """Encoding and decoding work frame by frame (SPEC G, docs/models.md): perturbing video frame j changes
    latent frame j only, and each latent frame equals the encoding of its frame alone (an encoder that mixes
    frames over time, or batch with time, fails)."""
    if kind == "vae":
        torch.manual_seed(0)  # VideoVAE's default init draws from the global RNG; only in this test
        save_video_vae(tmp_path / "vae.pt", VideoVAE(VAEConfig(4, 4, base_channels=8)), scaling_factor=0.7)
        ae = load_video_vae(tmp_path)
    else:
        ae = build_autoencoder("identity", space_to_depth=2)
    x = _video(rng, b=2, t=5, h=16)
    with torch.no_grad():
        z = ae.encode(x)  # (B, C, T, h, w)
        for k in range(x.shape[2]):
            torch.testing.assert_close(ae.encode(x[1:, :, k : k + 1]), z[1:, :, k : k + 1], rtol=0, atol=1e-5)
        j = 3
        y = x.clone()
        y[:, :, j] = -y[:, :, j]
        dz = (ae.encode(y) - z).abs().amax(dim=(0, 1, 3, 4))  # (T,)
        assert dz[j] > 1e-3
        assert dz[[k for k in range(x.shape[2]) if k != j]].max() == 0
        d = ae.decode(z)
        zy = z.clone()
        zy[:, :, j] = zy[:, :, j] + 1.0
        dd = (ae.decode(zy) - d).abs().amax(dim=(0, 1, 3, 4))  # (T,)
        assert dd[j] > 1e-3
        assert dd[[k for k in range(x.shape[2]) if k != j]].max() == 0
