"""PHYRE-style combinatorial scenes on pybox2d (issue 12; design: docs/phyre.md).

objects (bodies, geometry, object builders, ambiguity layouts), templates (10000-10069, subsets, task
layouts), actions (the red user ball, occlusion rule, the release's action sampler), engine (the Box2D world ->
States). Box2D is imported only by ``engine``; importing this package does not load it.
"""

from __future__ import annotations

from phylaw.sim.phyre.objects import Body
from phylaw.sim.phyre.templates import SUBSETS, TEMPLATES, build_task

__all__ = ["SUBSETS", "TEMPLATES", "Body", "build_task"]
