"""VideoDiT: shapes, parameter counts, initialisation, conditioning, RoPE, bad input."""

from __future__ import annotations

import pytest
import torch

from phylaw.errors import PhylawError
from phylaw.models.dit import DiTConfig, VideoDiT, flop_counter, model_flops_per_sample
from phylaw.models.layers import (
    CPU_BF16_EXPLICIT_MAX_TOKENS,
    apply_rope,
    attention,
    patchify,
    rope_3d,
    rope_split,
    unpatchify,
)
from phylaw.models.presets import DIT_PRESETS, PAPER_PARAMS, build_dit, count_parameters


def _inputs(cfg: DiTConfig, b: int = 2, seed: int = 0, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    shape = (b, cfg.latent_channels, *cfg.input_size)
    x = torch.randn(shape, generator=g).to(device)
    cond = torch.randn(shape, generator=g).to(device)
    mask = torch.zeros(b, 1, *cfg.input_size, device=device)
    mask[:, :, :1] = 1
    cond = cond * mask
    t = torch.tensor([3, 997][:b], device=device)
    return x, t, cond, mask


def _randomise_output(model: VideoDiT, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model.final_layer.linear.weight
        w.copy_(torch.randn(w.shape, generator=g) * 0.05)


@pytest.mark.parametrize("preset", list(DIT_PRESETS))
def test_forward_shapes_every_preset(preset: str) -> None:
    small = {"input_size": (2, 4, 4)}
    if preset in ("DiT-tiny", "DiT-micro"):
        model = build_dit(preset, **small)
        x, t, cond, mask = _inputs(model.cfg)
        out = model(x, t, cond, mask)
        assert out.shape == x.shape
        assert out.dtype == torch.float32
        assert torch.count_nonzero(out) == 0  # zero-initialised output layer
    else:  # big presets: shape propagation on the meta device
        model = build_dit(preset, device="meta", **small)
        x, t, cond, mask = _inputs(model.cfg, device="meta")
        assert model(x, t, cond, mask).shape == x.shape


@pytest.mark.parametrize("preset", ["DiT-S", "DiT-B", "DiT-L", "DiT-XL"])
def test_parameter_counts_match_paper(preset: str) -> None:
    n = count_parameters(build_dit(preset, device="meta"))
    assert abs(n / PAPER_PARAMS[preset] - 1) < 0.02, n


def test_patch_size_configurable_and_counted() -> None:
    cfg = DIT_PRESETS["DiT-micro"]
    model = build_dit("DiT-micro", patch_size=4, patch_t=2, input_size=(4, 8, 8))
    assert model.cfg.num_tokens == 2 * 2 * 2
    x, t, cond, mask = _inputs(model.cfg)
    assert model(x, t, cond, mask).shape == x.shape
    base = count_parameters(build_dit("DiT-micro"))
    extra = ((cfg.in_channels + cfg.latent_channels) * cfg.hidden_size + cfg.latent_channels) * (2 * 16 - 4)
    assert count_parameters(model) == base + extra


def test_same_seed_same_weights_and_output() -> None:
    a, b, c = build_dit("DiT-micro", seed=5), build_dit("DiT-micro", seed=5), build_dit("DiT-micro", seed=6)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.blocks[0].attn.qkv.weight, c.blocks[0].attn.qkv.weight)
    _randomise_output(a)
    _randomise_output(b)
    x, t, cond, mask = _inputs(a.cfg)
    assert torch.equal(a(x, t, cond, mask), b(x, t, cond, mask))


def test_direct_construction_is_initialised_like_build_dit() -> None:
    direct = VideoDiT(DIT_PRESETS["DiT-micro"], seed=4)
    built = build_dit("DiT-micro", seed=4)
    for (name, pa), pb in zip(direct.state_dict().items(), built.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert torch.count_nonzero(direct.final_layer.linear.weight) == 0


def test_output_depends_on_condition_mask_and_timestep() -> None:
    model = build_dit("DiT-micro")
    _randomise_output(model)
    x, t, cond, mask = _inputs(model.cfg)
    ref = model(x, t, cond, mask)
    assert not torch.allclose(ref, model(x, t, cond * 0, mask))
    assert not torch.allclose(ref, model(x, t, cond, torch.zeros_like(mask)))
    assert not torch.allclose(ref, model(x, t + 100, cond, mask))
    # a condition on frame 0 changes the prediction on the last frame too (full spacetime attention)
    assert not torch.allclose(ref[:, :, -1], model(x, t, cond * 0, mask)[:, :, -1])


def test_patchify_roundtrip_and_conv3d_equivalence() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 6, 8, generator=g)
    tokens = patchify(x, 2, 2)  # (B, N, C·pt·p·p)
    assert tokens.shape == (2, 2 * 3 * 4, 3 * 8)
    assert torch.equal(unpatchify(tokens, 3, (2, 3, 4), 2, 2), x)
    lin = torch.nn.Linear(24, 5)
    conv = torch.nn.Conv3d(3, 5, kernel_size=(2, 2, 2), stride=(2, 2, 2))
    with torch.no_grad():
        conv.weight.copy_(lin.weight.reshape(5, 3, 2, 2, 2))
        conv.bias.copy_(lin.bias)
    via_conv = conv(x).flatten(2).transpose(1, 2)  # (B, N, 5)
    torch.testing.assert_close(lin(tokens), via_conv, rtol=1e-5, atol=1e-5)


def test_rope_split_and_relative_positions() -> None:
    assert rope_split(64) == (16, 24, 24)
    assert rope_split(72) == (20, 26, 26)
    assert all(sum(rope_split(hd)) == hd for hd in range(6, 200, 2))
    grid, hd = (4, 5, 6), 32
    cos, sin = rope_3d(grid, hd, 10000.0)  # (N, hd)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 1, hd, generator=g).expand(1, 1, cos.shape[0], hd)
    k = torch.randn(1, 1, 1, hd, generator=g).expand(1, 1, cos.shape[0], hd)
    qr, kr = apply_rope(q, cos, sin)[0, 0], apply_rope(k, cos, sin)[0, 0]  # (N, hd)
    torch.testing.assert_close(qr.norm(dim=-1), q[0, 0].norm(dim=-1))  # rotation keeps norms

    def idx(t: int, h: int, w: int) -> int:
        return (t * grid[1] + h) * grid[2] + w

    # the score depends only on the (t, h, w) offset between query and key
    s1 = qr[idx(0, 1, 2)] @ kr[idx(1, 3, 3)]
    s2 = qr[idx(2, 2, 0)] @ kr[idx(3, 4, 1)]
    torch.testing.assert_close(s1, s2, rtol=1e-4, atol=1e-4)
    s3 = qr[idx(2, 2, 0)] @ kr[idx(3, 4, 2)]
    assert not torch.isclose(s1, s3, rtol=1e-3)


def test_bf16_autocast_forward_cpu() -> None:
    model = build_dit("DiT-micro")
    _randomise_output(model)
    x, t, cond, mask = _inputs(model.cfg)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t, cond, mask)
    ref = model(x, t, cond, mask)
    assert out.shape == x.shape
    torch.testing.assert_close(out.float(), ref, rtol=0.1, atol=0.05)


@pytest.mark.parametrize("n", [40, CPU_BF16_EXPLICIT_MAX_TOKENS + 8])
def test_attention_matches_sdpa_in_bf16_on_cpu(n: int) -> None:
    """bf16 on CPU takes the explicit-GEMM path up to the token limit, SDPA beyond; both agree with fp32 SDPA."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    qb, kb, vb = (x.bfloat16().requires_grad_() for x in (q, k, v))
    got = attention(qb, kb, vb)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=0.03)
    got.float().square().sum().backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in (qb, kb, vb))
    assert torch.equal(attention(q, k, v), want)  # fp32: always SDPA


def test_grad_checkpoint_same_gradients() -> None:
    grads = []
    for gc in (False, True):
        model = build_dit("DiT-micro", grad_checkpoint=gc)
        _randomise_output(model)
        x, t, cond, mask = _inputs(model.cfg)
        model(x, t, cond, mask).square().mean().backward()
        grads.append(model.blocks[0].attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_model_flops_match_flop_counter() -> None:
    model = build_dit("DiT-tiny")
    x, t, cond, mask = _inputs(model.cfg, b=1)
    counter = flop_counter()
    with counter:
        model(x, t, cond, mask).sum().backward()
    measured = counter.get_total_flops()
    analytic = model_flops_per_sample(model.cfg)
    assert abs(analytic / measured - 1) < 0.05, (analytic, measured)
    assert model_flops_per_sample(model.cfg, training=False) == pytest.approx(analytic / 3)


def test_bad_presets_and_overrides() -> None:
    with pytest.raises(PhylawError, match="unknown DiT preset"):
        build_dit("DiT-XXL")
    with pytest.raises(PhylawError, match="unknown DiT config field 'depht'"):
        build_dit("DiT-micro", depht=3)
    with pytest.raises(PhylawError, match="depth"):
        build_dit("DiT-micro", depth="3")
    with pytest.raises(PhylawError, match="patch_size"):
        build_dit("DiT-micro", patch_size=True)
    with pytest.raises(PhylawError, match="input_size"):
        build_dit("DiT-micro", input_size=(8, 8))
    with pytest.raises(PhylawError, match="not divisible by the patch"):
        build_dit("DiT-micro", input_size=(8, 7, 8))
    with pytest.raises(PhylawError, match="num_heads"):
        build_dit("DiT-micro", num_heads=3)
    assert build_dit("DiT-micro", input_size=[4, 4, 4], device="meta").cfg.input_size == (4, 4, 4)


def test_wrong_input_shape_is_one_line_error() -> None:
    model = build_dit("DiT-micro")
    x, t, cond, mask = _inputs(model.cfg)
    with pytest.raises(PhylawError, match="does not fit the model"):
        model(x[:, :, :4], t, cond[:, :, :4], mask[:, :, :4])
    with pytest.raises(PhylawError, match="mask"):
        model(x, t, cond, mask[:, :, :4])


def test_config_dict_roundtrip() -> None:
    cfg = DIT_PRESETS["DiT-B"]
    assert DiTConfig(**cfg.to_dict()) == cfg
