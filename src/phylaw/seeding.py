"""Seeds derived from a base seed and keys; no global random state anywhere in phylaw."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(base: int, *keys: object) -> int:
    """A 63-bit seed that depends only on ``base`` and ``keys`` (stable across processes and versions)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(int(base)).encode())
    for key in keys:
        h.update(b"\x1f")
        h.update(repr(key).encode())
    return int.from_bytes(h.digest(), "little") >> 1


def child_rng(base: int, *keys: object) -> np.random.Generator:
    """A numpy Generator seeded by ``derive_seed(base, *keys)``."""
    return np.random.Generator(np.random.PCG64(derive_seed(base, *keys)))
