"""phylaw's Inception-3D (I3D, Kinetics-400): the network whose features FVD compares.

FVD embeds each video with the I3D of Carreira & Zisserman (2017) trained on Kinetics-400 (SPEC_COMBINATORIAL
C.1). Its weights exist as a PyTorch state dict converted from the tf-hub model (``i3d_pretrained_400.pt``,
used by VideoGPT / TATS / phyworld's ``videogpt`` FVD); this module is the network that such a state dict
loads into, strictly, so that phylaw needs neither the authors' code nor torchvision.

Written from the architecture description (Inception-v1 inflated to 3D), not from any implementation. The
module and parameter names are the PyTorch-I3D endpoint names, so the state-dict keys are
``Conv3d_1a_7x7.conv3d.weight``, ``Conv3d_1a_7x7.bn.{weight,bias,running_mean,running_var}``, ...,
``Mixed_5c.b3b.bn.running_var``, ``logits.conv3d.{weight,bias}``:

* stem: Conv3d_1a_7x7 (3→64, 7³, stride 2), max-pool 1×3×3 / (1, 2, 2), Conv3d_2b_1x1 (64→64),
  Conv3d_2c_3x3 (64→192, 3³), max-pool 1×3×3 / (1, 2, 2);
* Inception blocks Mixed_3b, Mixed_3c, max-pool 3³ / 2, Mixed_4b … Mixed_4f, max-pool 2³ / 2, Mixed_5b,
  Mixed_5c; each block concatenates four branches: b0 (1×1×1), b1a (1×1×1) → b1b (3³), b2a (1×1×1) → b2b (3³),
  b3a (3³ max-pool, stride 1, no weights) → b3b (1×1×1); widths in ``MIXED``;
* head: 2×7×7 average pool (stride 1), dropout (inactive in eval), ``logits`` 1×1×1 conv with bias to 400
  classes, spatial squeeze; ``forward`` averages the per-time logits over time → (B, 400) (the tf-hub "Mean"
  endpoint that FVD uses; piergiaj's module returns the per-time logits, ``logits_per_time`` here).

Every conv is bias-free and followed by BatchNorm3d and ReLU, except the logits conv. Padding is TensorFlow's
"SAME", computed from the input size at run time (an odd total puts the extra row at the end); max-pools pad
with zeros as PyTorch-I3D does, which equals TF's −∞ padding here because every pooled tensor follows a ReLU.
BatchNorm epsilon: 1e-3 by default (TF's and piergiaj's value, the one the converted weights were trained
with; VideoGPT's copy uses 1e-5), a constructor argument.

Input: (B, 3, T, 224, 224) float in [−1, 1] (``evaluate.fvd.preprocess``), T ≥ 9 (the final 2-frame pool
needs two time steps after the three temporal stride-2 stages).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from phylaw.errors import PhylawError

NUM_CLASSES = 400
BN_EPS = 1e-3
FEATURE_CHANNELS = 1024  # Mixed_5c output

Triple = tuple[int, int, int]

# Inception block widths: (b0, b1a, b1b, b2a, b2b, b3b); the output has b0 + b1b + b2b + b3b channels.
MIXED: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# Max-pools between stages: name -> (kernel, stride), placed before the named block.
POOLS: dict[str, tuple[Triple, Triple]] = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}

FINAL_POOL: Triple = (2, 7, 7)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding of one dimension: (before, after), the output has ceil(size / stride) entries."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """Zero-pad (B, C, T, H, W) so a kernel/stride window gives TF "SAME" output sizes."""
    pads: list[int] = []
    for dim in (4, 3, 2):  # F.pad lists the last dimension first
        pads.extend(same_padding(x.shape[dim], kernel[dim - 2], stride[dim - 2]))
    return F.pad(x, pads) if any(pads) else x


class Unit3D(nn.Module):
    """Conv3d (no bias) → BatchNorm3d → ReLU with "SAME" padding; ``head=True``: a conv with bias only."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        bn_eps: float = BN_EPS,
        head: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=head)
        self.bn = None if head else nn.BatchNorm3d(cout, eps=bn_eps, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(pad_same(x, self.kernel, self.stride))
        return x if self.bn is None else F.relu(self.bn(x))


class MaxPoolSame(nn.Module):
    """Max-pool with "SAME" zero padding (no weights)."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class Mixed(nn.Module):
    """An inflated Inception block: four parallel branches concatenated along channels."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int], bn_eps: float = BN_EPS) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        k3 = (3, 3, 3)
        self.b0 = Unit3D(cin, w0, bn_eps=bn_eps)
        self.b1a = Unit3D(cin, w1a, bn_eps=bn_eps)
        self.b1b = Unit3D(w1a, w1b, k3, bn_eps=bn_eps)
        self.b2a = Unit3D(cin, w2a, bn_eps=bn_eps)
        self.b2b = Unit3D(w2a, w2b, k3, bn_eps=bn_eps)
        self.b3a = MaxPoolSame(k3, (1, 1, 1))
        self.b3b = Unit3D(cin, w3b, bn_eps=bn_eps)
        self.out_channels = w0 + w1b + w2b + w3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


class I3D(nn.Module):
    """Inception-3D for Kinetics-400 with PyTorch-I3D state-dict keys (see the module docstring)."""

    def __init__(self, num_classes: int = NUM_CLASSES, bn_eps: float = BN_EPS, dropout: float = 0.5) -> None:
        super().__init__()
        self.endpoints: list[str] = []  # trunk modules in call order
        self._add("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2), bn_eps))
        self._add("MaxPool3d_2a_3x3", MaxPoolSame(*POOLS["MaxPool3d_2a_3x3"]))
        self._add("Conv3d_2b_1x1", Unit3D(64, 64, bn_eps=bn_eps))
        self._add("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3), bn_eps=bn_eps))
        cin = 192
        pool_before = {"Mixed_3b": "MaxPool3d_3a_3x3", "Mixed_4b": "MaxPool3d_4a_3x3"}
        pool_before["Mixed_5b"] = "MaxPool3d_5a_2x2"
        for name, widths in MIXED.items():
            if name in pool_before:
                self._add(pool_before[name], MaxPoolSame(*POOLS[pool_before[name]]))
            block = Mixed(cin, widths, bn_eps)
            self._add(name, block)
            cin = block.out_channels
        self.avg_pool = nn.AvgPool3d(FINAL_POOL, stride=(1, 1, 1))
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(cin, num_classes, head=True)

    def _add(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self.endpoints.append(name)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) → Mixed_5c features (B, 1024, ⌈T/8⌉, ⌈H/32⌉, ⌈W/32⌉); any resolution."""
        for name in self.endpoints:
            x = getattr(self, name)(x)
        return x

    def logits_per_time(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) → pre-softmax logits per time step (B, 400, ⌈T/8⌉ − 1)."""
        t, h, w = x.shape[2:]
        feats = self.trunk(x)  # (B, 1024, T', 7, 7) at 224²
        if feats.shape[2] < FINAL_POOL[0] or feats.shape[3:] != FINAL_POOL[1:]:
            raise PhylawError(
                f"I3D needs >= 9 frames of 193..224 px (its final pool is {FINAL_POOL}), got T={t}, {h}x{w}"
            )
        out = self.logits(self.dropout(self.avg_pool(feats)))  # (B, 400, T'', 1, 1)
        return out.squeeze(4).squeeze(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) in [−1, 1] → (B, 400) logits averaged over time."""
        return self.logits_per_time(x).mean(dim=2)
