"""PHYRE templates: 10000-10069 (the release's order), the subsets, the ambiguity templates, task layouts.

Template 10000+i holds the i-th four-object subset of the 8 object types after ``random.Random(4).shuffle`` of
the C(8, 4) = 70 combinations, as the release's task scripts do (SPEC B.5; the table there is asserted in the
tests). Unlike the release, the layout of task (T, k) derives from the dataset seed (docs/phyre.md).
"""

from __future__ import annotations

import hashlib
import itertools
import random

import numpy as np

from phylaw.errors import PhylawError
from phylaw.seeding import child_rng
from phylaw.sim.phyre.objects import (
    AMBIGUITY_TEMPLATES,
    OBJECT_BUILDERS,
    Body,
    ambiguity_actions,
    ambiguity_layout,
    build_object,
)

# the 8 object types in the release's object_list order (SPEC B.5 short names)
OBJECT_TYPES: tuple[str, ...] = tuple(OBJECT_BUILDERS)
FIRST_TEMPLATE = 10000
N_TASKS = 100  # PHYRE's default tasks per template


def _template_table() -> dict[int, tuple[str, ...]]:
    combos = list(itertools.combinations(OBJECT_TYPES, 4))  # all 70 contain a dynamic type
    random.Random(4).shuffle(combos)
    return {FIRST_TEMPLATE + i: c for i, c in enumerate(combos)}


TEMPLATES: dict[int, tuple[str, ...]] = _template_table()

SUBSETS: dict[str, tuple[int, ...]] = {
    "train60": tuple(range(10000, 10060)),
    "train30": tuple(range(10000, 10060, 2)),  # regex 100[0-5][02468]
    "train6": (10003, 10005, 10016, 10023, 10024, 10053),
    "held-out": tuple(range(10060, 10070)),
}


def subset(name: str) -> tuple[int, ...]:
    """The template ids of subset ``name`` (PhylawError naming the known subsets otherwise)."""
    if name not in SUBSETS:
        raise PhylawError(f"unknown PHYRE template subset {name!r}; choose one of {', '.join(SUBSETS)}")
    return SUBSETS[name]


def template_objects(template: int) -> tuple[str, ...]:
    """The four object types of template 10000-10069."""
    check_template(template)
    if template not in TEMPLATES:
        raise PhylawError(f"PHYRE template {template} is an ambiguity template: it has no object types")
    return TEMPLATES[template]


def check_template(template: int) -> int:
    t = int(template)
    if t != template or (t not in TEMPLATES and t not in AMBIGUITY_TEMPLATES):
        raise PhylawError(
            f"unknown PHYRE template {template!r}; known: 10000-10069 and {', '.join(map(str, AMBIGUITY_TEMPLATES))}"
        )
    return t


def n_tasks(template: int) -> int:
    """Tasks of a template: 100, except the ambiguity templates 20000 and 20001 (one task each)."""
    return 1 if check_template(template) in (20000, 20001) else N_TASKS


def n_fixed_actions(template: int) -> int | None:
    """Number of fixed actions (trials) of an ambiguity template; None for 100xx (sampled trials)."""
    t = check_template(template)
    return len(ambiguity_actions(t)) if t in AMBIGUITY_TEMPLATES else None


def md5_seed_order(n: int) -> list[int]:
    """range(n) sorted by the MD5 hex digest of str(seed): task k of a template uses the k-th (SC A.3)."""
    return sorted(range(n), key=lambda s: hashlib.md5(str(s).encode()).hexdigest())


_MD5_100 = md5_seed_order(100)


def build_task(template: int, task: int, seed: int) -> list[Body]:
    """The scene bodies (walls excluded, creation order) of task ``task`` of ``template``.

    100xx: the template's four object builders in order, drawing from
    ``child_rng(seed, "phyre-task", template, task)``. Ambiguity templates: their fixed layout (20002/20003:
    task k uses the k-th seed of range(100) in MD5 order; the dataset seed is not used)."""
    t = check_template(template)
    k = int(task)
    if k != task or not 0 <= k < n_tasks(t):
        raise PhylawError(f"PHYRE template {t} has tasks 0-{n_tasks(t) - 1}, got task {task!r}")
    if t in AMBIGUITY_TEMPLATES:
        return ambiguity_layout(t, _MD5_100[k] if t in (20002, 20003) else 0)
    rng = child_rng(seed, "phyre-task", t, k)
    bodies: list[Body] = []
    for name in TEMPLATES[t]:
        bodies.extend(build_object(name, rng))
    return bodies


def check_rows(params: np.ndarray) -> tuple[int, str] | None:
    """The first bad row of (n, 3) (template, task, trial) params and what is wrong with it, or None.

    Vectorised over the rows (a split's block of thousands of rows is checked in microseconds); the message
    names the first row that breaks the first rule in the order: integers, known template, task range,
    trial >= 0, trial within an ambiguity template's fixed actions."""
    p = np.asarray(params, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        return (0, f"must have shape (n, 3) for (template, task, trial), got {p.shape}")
    if len(p) == 0:
        return None
    bad = ~(np.isfinite(p) & (p == np.round(p))).all(axis=1)
    if bad.any():
        return (int(np.flatnonzero(bad)[0]), "must hold integers (template, task, trial)")
    tpl, task, trial = (p[:, j].astype(np.int64) for j in range(3))
    known = np.array(sorted(set(TEMPLATES) | set(AMBIGUITY_TEMPLATES)), dtype=np.int64)
    pos = np.clip(np.searchsorted(known, tpl), 0, len(known) - 1)
    bad = known[pos] != tpl
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (i, f"has unknown template {tpl[i]} (known: 10000-10069, 20000-20003)")
    uniq, inv = np.unique(tpl, return_inverse=True)
    big = np.iinfo(np.int64).max  # 100xx templates sample their trials: no upper bound
    nt = np.array([n_tasks(t) for t in uniq.tolist()], dtype=np.int64)[inv]
    na = np.array([n_fixed_actions(t) or big for t in uniq.tolist()], dtype=np.int64)[inv]
    bad = (task < 0) | (task >= nt)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (i, f"has task {task[i]} outside 0-{nt[i] - 1} for template {tpl[i]}")
    bad = trial < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (i, f"has a negative trial {trial[i]}")
    bad = trial >= na
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (i, f"has trial {trial[i]} outside 0-{na[i] - 1} (the fixed actions of template {tpl[i]})")
    return None
