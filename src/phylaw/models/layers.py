"""Building blocks of the video DiT: patchify, timestep embedding, 3D RoPE, adaLN-single blocks.

Shapes: B batch, C channels, T/H/W latent frames/height/width, N = (T/pt)·(H/p)·(W/p) tokens, d hidden size,
nh heads, hd = d / nh head dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def patchify(x: Tensor, pt: int, p: int) -> Tensor:
    """(B, C, T, H, W) -> (B, N, C·pt·p·p); tokens in (t, h, w) raster order (same as a strided Conv3d)."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // pt, pt, h // p, p, w // p, p)  # (B, C, T', pt, H', p, W', p)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, T', H', W', C, pt, p, p)
    return x.reshape(b, (t // pt) * (h // p) * (w // p), c * pt * p * p)  # (B, N, C·pt·p·p)


def unpatchify(x: Tensor, c: int, grid: tuple[int, int, int], pt: int, p: int) -> Tensor:
    """(B, N, C·pt·p·p) -> (B, C, T, H, W); inverse of :func:`patchify`."""
    b = x.shape[0]
    gt, gh, gw = grid
    x = x.reshape(b, gt, gh, gw, c, pt, p, p)  # (B, T', H', W', C, pt, p, p)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, T', pt, H', p, W', p)
    return x.reshape(b, c, gt * pt, gh * p, gw * p)  # (B, C, T, H, W)


def timestep_embedding(t: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in DiT: (B,) -> (B, dim), fp32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)


class TimestepEmbedder(nn.Module):
    """Sinusoidal(256) -> Linear -> SiLU -> Linear: (B,) timesteps -> (B, d)."""

    def __init__(self, hidden_size: int, frequency_size: int = 256) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def forward(self, t: Tensor) -> Tensor:
        freq = timestep_embedding(t, self.frequency_size)  # (B, 256) fp32
        return self.mlp(freq.to(self.mlp[0].weight.dtype))  # (B, d)


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """How 3D RoPE splits a head's channels over (t, h, w): h = w = 2·⌊3·hd/16⌋, t gets the rest.

    hd = 64 -> (16, 24, 24) (the CogVideoX split), hd = 72 -> (20, 26, 26), hd = 32 -> (8, 12, 12).
    Every part is even (channels rotate in pairs) and non-zero for hd >= 6.
    """
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3D RoPE needs an even head dim >= 6, got {head_dim}")
    hw = 2 * ((3 * head_dim) // 16)
    hw = max(hw, 2)
    return head_dim - 2 * hw, hw, hw


def rope_3d(
    grid: tuple[int, int, int], head_dim: int, theta: float, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """cos and sin tables (N, hd) for tokens on a (T', H', W') grid in raster order.

    Each axis a gets d_a channels (:func:`rope_split`) with frequencies theta^(-2i/d_a), i < d_a/2, applied
    to the token's integer index along a. The d/2 angles are laid out as [t | h | w] and duplicated
    (``rotate_half`` convention: channel j pairs with channel j + hd/2).
    """
    angles = []
    for n, dim in zip(grid, rope_split(head_dim), strict=True):
        inv_freq = theta ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim)  # (d_a/2,)
        pos = torch.arange(n, dtype=torch.float32, device=device)  # (n,)
        angles.append(pos[:, None] * inv_freq[None])  # (n, d_a/2)
    gt, gh, gw = grid
    at = angles[0][:, None, None].expand(gt, gh, gw, -1)  # (T', H', W', dt/2)
    ah = angles[1][None, :, None].expand(gt, gh, gw, -1)  # (T', H', W', dh/2)
    aw = angles[2][None, None, :].expand(gt, gh, gw, -1)  # (T', H', W', dw/2)
    ang = torch.cat([at, ah, aw], dim=-1).reshape(gt * gh * gw, head_dim // 2)  # (N, hd/2)
    ang = torch.cat([ang, ang], dim=-1)  # (N, hd)
    return ang.cos(), ang.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (j, j + hd/2) of x (..., N, hd) by the angles in cos/sin (N, hd)."""
    x1, x2 = x.chunk(2, dim=-1)  # (..., N, hd/2) each
    rotated = torch.cat([-x2, x1], dim=-1)  # (..., N, hd)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)  # (..., N, hd)


CPU_BF16_EXPLICIT_MAX_TOKENS = 1024


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q kᵀ / √hd) v for (B, nh, N, hd) inputs.

    PyTorch's fused ``scaled_dot_product_attention`` everywhere, except bf16 on CPU up to
    ``CPU_BF16_EXPLICIT_MAX_TOKENS`` tokens: there its flash kernel (forward and backward) took 44 % of a
    DiT-tiny training step, and two bf16 GEMMs around a softmax train 1.3x faster (benchmarks/train.py
    --bf16). The N x N score matrix this path materialises is small at those sizes.
    """
    n = q.shape[-2]
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and n <= CPU_BF16_EXPLICIT_MAX_TOKENS:
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, nh, N, N)
        return scores.softmax(dim=-1) @ v  # (B, nh, N, hd)
    return F.scaled_dot_product_attention(q, k, v)  # (B, nh, N, hd)


class Attention(nn.Module):
    """Full self-attention over all spacetime tokens: fused QKV, 3D RoPE on q/k, PyTorch SDPA (:func:`attention`)."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim)  # (B, N, 3, nh, hd)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, nh, N, hd)
        q, k = apply_rope(qkv[:2], cos, sin).unbind(0)  # 2 x (B, nh, N, hd), one rotation for both
        v = qkv[2]  # (B, nh, N, hd)
        out = attention(q, k, v)  # (B, nh, N, hd)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))  # (B, N, d)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x·(1 + scale) + shift with (B, 1, d) shift/scale broadcast over tokens."""
    return torch.addcmul(shift, x, 1 + scale)  # (B, N, d)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-single modulation (PixArt-α).

    The six (shift, scale, gate) vectors are a per-block learned table (6, d) plus the shared projection of
    the timestep embedding (computed once per forward by the model), so a block has no modulation MLP.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden_mlp = int(hidden_size * mlp_ratio)
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, hidden_mlp),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden_mlp, hidden_size),
        )
        self.scale_shift_table = nn.Parameter(torch.zeros(6, hidden_size))

    def forward(self, x: Tensor, t6: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        mod = (self.scale_shift_table[None] + t6).to(x.dtype)  # (B, 6, d)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mod[:, None].unbind(2)  # 6 x (B, 1, d)
        x = x + gate_a * self.attn(modulate(self.norm1(x), shift_a, scale_a), cos, sin)  # (B, N, d)
        return x + gate_m * self.mlp(modulate(self.norm2(x), shift_m, scale_m))  # (B, N, d)


class FinalLayer(nn.Module):
    """adaLN (learned (2, d) table + timestep embedding) -> Linear(d, pt·p·p·C), zero-initialised."""

    def __init__(self, hidden_size: int, out_size: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, out_size)
        self.scale_shift_table = nn.Parameter(torch.zeros(2, hidden_size))

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        mod = (self.scale_shift_table[None] + temb[:, None]).to(x.dtype)  # (B, 2, d)
        shift, scale = mod[:, None].unbind(2)  # 2 x (B, 1, d)
        return self.linear(modulate(self.norm(x), shift, scale))  # (B, N, pt·p·p·C)
