"""Decoding: samplers that record every step (docs/design.md §3).

``trajectory.py`` holds the record (:class:`Trajectory`), ``policy.py`` the decoding policies (one
:class:`Policy` value type), ``selectors.py`` the per-step choice of positions and ``loop.py`` the loop
itself (:func:`sample`, :func:`continue_from`, :func:`teacher_forced`, :func:`policy_orders`).
"""

from core.decoding.loop import continue_from, policy_orders, sample, teacher_forced
from core.decoding.policy import ADAPTIVE, POLICIES, Policy, confidence, hybrid_label
from core.decoding.trajectory import Trajectory

__all__ = ["ADAPTIVE", "POLICIES", "Policy", "Trajectory", "confidence", "continue_from", "hybrid_label",
           "policy_orders", "sample", "teacher_forced"]
