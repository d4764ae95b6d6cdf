"""VideoDiT: a frame-conditioned diffusion transformer over spacetime patches (SPEC C.2, I.3).

Input: noisy latent x_t ‖ zero-padded condition latents ‖ binary mask, concatenated on channels
(2·C + 1 channels); output: the v-prediction (C channels). Full spatio-temporal attention with 3D RoPE
(no absolute position embedding), adaLN-single timestep conditioning (one shared Linear(d, 6d) plus a learned
(6, d) table per block, PixArt-α), MLP ratio 4, zero-initialised output layer. The network never sees betas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils import flop_counter as fc
from torch.utils.checkpoint import checkpoint

from phylaw.errors import PhylawError
from phylaw.models.layers import (
    DiTBlock,
    FinalLayer,
    TimestepEmbedder,
    patchify,
    rope_3d,
    rope_split,
    unpatchify,
)


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of a :class:`VideoDiT`. Invalid values raise :class:`PhylawError` naming the field."""

    depth: int
    hidden_size: int
    num_heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 2  # spatial patch p (tokens are pt x p x p latent voxels)
    patch_t: int = 1  # temporal patch pt
    latent_channels: int = 4  # C of the (noisy) latent video
    input_size: tuple[int, int, int] = (32, 16, 16)  # latent (T, H, W) the model accepts
    rope_theta: float = 10000.0  # base of the 3D RoPE frequencies
    grad_checkpoint: bool = False  # recompute block activations in backward (saves memory on big models)

    def __post_init__(self) -> None:
        if isinstance(self.input_size, list):  # configs read back from JSON
            object.__setattr__(self, "input_size", tuple(self.input_size))
        for name in ("depth", "hidden_size", "num_heads", "patch_size", "patch_t", "latent_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PhylawError(f"DiTConfig.{name} must be a positive integer, got {value!r}")
        for name in ("mlp_ratio", "rope_theta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise PhylawError(f"DiTConfig.{name} must be a positive number, got {value!r}")
        if not isinstance(self.grad_checkpoint, bool):
            raise PhylawError(f"DiTConfig.grad_checkpoint must be a bool, got {self.grad_checkpoint!r}")
        size = self.input_size
        if (
            not isinstance(size, tuple)
            or len(size) != 3
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size)
        ):
            raise PhylawError(f"DiTConfig.input_size must be three positive integers (T, H, W), got {size!r}")
        t, h, w = size
        if t % self.patch_t or h % self.patch_size or w % self.patch_size:
            raise PhylawError(
                f"latent size (T, H, W) = {size} is not divisible by the patch "
                f"(patch_t={self.patch_t}, patch_size={self.patch_size})"
            )
        if self.hidden_size % self.num_heads:
            raise PhylawError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        head_dim = self.hidden_size // self.num_heads
        if head_dim % 2 or head_dim < 6:
            raise PhylawError(f"3D RoPE needs an even head dim >= 6, got hidden_size/num_heads = {head_dim}")

    @property
    def in_channels(self) -> int:
        """Channels of the model input: noisy latent ‖ condition latents ‖ mask."""
        return 2 * self.latent_channels + 1

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid (T', H', W') for ``input_size``."""
        t, h, w = self.input_size
        return t // self.patch_t, h // self.patch_size, w // self.patch_size

    @property
    def num_tokens(self) -> int:
        gt, gh, gw = self.grid
        return gt * gh * gw

    def to_dict(self) -> dict:
        """JSON-ready dict; ``DiTConfig(**d)`` reads it back."""
        out = dataclasses.asdict(self)
        out["input_size"] = list(self.input_size)
        return out


class VideoDiT(nn.Module):
    """Frame-conditioned video DiT predicting v (see the module docstring).

    Weights come from :meth:`init_weights` with ``seed`` (deterministic on any device); prefer
    :func:`phylaw.models.presets.build_dit`, which also avoids PyTorch's default init (and its global RNG).
    """

    def __init__(self, cfg: DiTConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        d, c = cfg.hidden_size, cfg.latent_channels
        voxels = cfg.patch_t * cfg.patch_size**2
        self.x_embedder = nn.Linear(cfg.in_channels * voxels, d)  # = Conv3d(kernel = stride = patch)
        self.t_embedder = TimestepEmbedder(d)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))  # adaLN-single: shared by all blocks
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.final_layer = FinalLayer(d, c * voxels)
        if self.x_embedder.weight.device.type != "meta":  # build_dit builds on meta and initialises later
            self.init_weights(torch.Generator(device="cpu").manual_seed(seed))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> None:
        """(Re-)initialise every parameter from ``generator`` (CPU): same seed -> same weights, any device.

        Xavier-uniform linears with zero bias (DiT), N(0, 0.02) timestep MLP and adaLN-single projection,
        adaLN tables N(0, 1/d) (PixArt-α), zero output layer (so the initial prediction is v = 0).
        """
        d = self.cfg.hidden_size
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _init(module.weight, "xavier", generator)
                module.bias.zero_()
        for linear in (self.t_embedder.mlp[0], self.t_embedder.mlp[2], self.t_block[1]):
            _init(linear.weight, "normal", generator, std=0.02)
        for block in self.blocks:
            _init(block.scale_shift_table, "normal", generator, std=d**-0.5)
        _init(self.final_layer.scale_shift_table, "normal", generator, std=d**-0.5)
        self.final_layer.linear.weight.zero_()
        self.final_layer.linear.bias.zero_()

    def check_shapes(self, x_t: Tensor, cond: Tensor, mask: Tensor) -> None:
        """Raise PhylawError if the inputs do not fit this model's latent size and channels."""
        c = self.cfg.latent_channels
        want = (c, *self.cfg.input_size)
        if x_t.dim() != 5 or tuple(x_t.shape[1:]) != want:
            raise PhylawError(
                f"latent video of shape {tuple(x_t.shape)} does not fit the model: expected (B, C, T, H, W) "
                f"with (C, T, H, W) = {want}"
            )
        if cond.shape != x_t.shape:
            raise PhylawError(f"condition latents {tuple(cond.shape)} differ from x_t {tuple(x_t.shape)}")
        if mask.shape != (x_t.shape[0], 1, *x_t.shape[2:]):
            raise PhylawError(f"mask {tuple(mask.shape)} must be (B, 1, T, H, W) for x_t {tuple(x_t.shape)}")

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        """v-prediction (B, C, T, H, W) for noisy latents x_t, timesteps (B,) in [0, num_train_timesteps)."""
        self.check_shapes(x_t, cond, mask)
        cfg = self.cfg
        b = x_t.shape[0]
        d, pt, p = cfg.hidden_size, cfg.patch_t, cfg.patch_size
        if timesteps.dim() == 0:
            timesteps = timesteps.expand(b)  # (B,)
        x = torch.cat([x_t, cond, mask.to(x_t.dtype)], dim=1)  # (B, 2C+1, T, H, W)
        x = self.x_embedder(patchify(x, pt, p)).to(x_t.dtype)  # (B, N, d); residual stream in x_t dtype
        temb = self.t_embedder(timesteps.to(x_t.device))  # (B, d)
        t6 = self.t_block(temb).reshape(b, 6, d)  # (B, 6, d)
        cos, sin = rope_3d(cfg.grid, d // cfg.num_heads, cfg.rope_theta, device=x.device)  # (N, hd) each
        for block in self.blocks:
            if cfg.grad_checkpoint and self.training:
                x = checkpoint(block, x, t6, cos, sin, use_reentrant=False)  # (B, N, d)
            else:
                x = block(x, t6, cos, sin)  # (B, N, d)
        x = self.final_layer(x, temb)  # (B, N, pt·p·p·C)
        return unpatchify(x, cfg.latent_channels, cfg.grid, pt, p)  # (B, C, T, H, W)


def _init(t: Tensor, kind: str, generator: torch.Generator, std: float = 0.02) -> None:
    """Initialise ``t`` in place from a CPU generator (drawn on CPU, then copied to t's device)."""
    tmp = torch.empty(t.shape, dtype=torch.float32)
    if kind == "xavier":
        nn.init.xavier_uniform_(tmp.view(t.shape[0], -1), generator=generator)
    else:
        nn.init.normal_(tmp, std=std, generator=generator)
    t.copy_(tmp)


def model_flops_per_sample(cfg: DiTConfig, training: bool = True) -> float:
    """Analytic model FLOPs for one video: 6·N·tokens + 12·L·tokens²·d for training (fwd + bwd).

    N counts the weights every token is multiplied with (patch embedding, L transformer blocks, output
    layer): a matmul with N weights costs 2·N FLOPs per token forward and 4·N backward. Attention adds
    QKᵀ and AV, 2·2·tokens²·d per layer forward (x3 with backward). Per-sample work (timestep MLP, adaLN)
    and elementwise ops are left out, as in the usual MFU convention (PaLM, nanoGPT). ``training=False``
    gives the forward cost (2·N·tokens + 4·L·tokens²·d), e.g. for one sampling step.
    """
    d, n_tok, depth = cfg.hidden_size, cfg.num_tokens, cfg.depth
    voxels = cfg.patch_t * cfg.patch_size**2
    hidden_mlp = int(d * cfg.mlp_ratio)
    per_block = 4 * d * d + 2 * d * hidden_mlp  # qkv + proj + MLP weights
    n_weights = cfg.in_channels * voxels * d + depth * per_block + d * cfg.latent_channels * voxels
    factor = 3 if training else 1
    return float(factor * (2 * n_weights * n_tok + 4 * depth * n_tok**2 * d))


def flop_counter() -> fc.FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts PyTorch's CPU flash-attention kernels.

    torch's counter knows the CUDA SDPA kernels but not ``_scaled_dot_product_flash_attention_for_cpu``
    (and its backward), which SDPA dispatches to on CPU; without this mapping CPU attention counts as 0.
    """
    aten = torch.ops.aten
    return fc.FlopCounterMode(
        display=False,
        custom_mapping={
            aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_fwd_flops,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_bwd_flops,
        },
    )


def _sdpa_fwd_flops(q, k, v, *args, out_shape=None, **kwargs) -> int:  # noqa: ARG001
    return fc.sdpa_flop_count(q, k, v)


def _sdpa_bwd_flops(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:  # noqa: ARG001
    return fc.sdpa_backward_flop_count(grad_out, q, k, v)


__all__ = ["DiTConfig", "VideoDiT", "flop_counter", "model_flops_per_sample", "rope_split"]
