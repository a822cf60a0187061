"""Smooth trajectory building blocks for motion design (numpy, time-first).

Quintic Hermite segments match position, velocity and acceleration at both ends, so a
piecewise-quintic curve through knots `(t, p, v, a)` is C2: its second derivative (and with it
the ground reaction force, M (a_com - g)) is continuous. A quintic between two knots that lie on
one parabola (a = -g at both ends) reproduces that parabola exactly, so flight phases designed
with `ballistic_knot` are exactly ballistic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomech.conventions import GRAVITY


@dataclass(frozen=True)
class Knot:
    t: float
    p: float
    v: float = 0.0
    a: float = 0.0


def _quintic_basis(s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Quintic Hermite basis at normalised time s: weights of p0, v0, a0, p1, v1, a1."""
    s2, s3 = s * s, s * s * s
    s4, s5 = s3 * s, s3 * s2
    h00 = 1 - 10 * s3 + 15 * s4 - 6 * s5
    h10 = s - 6 * s3 + 8 * s4 - 3 * s5
    h20 = 0.5 * s2 - 1.5 * s3 + 1.5 * s4 - 0.5 * s5
    h01 = 10 * s3 - 15 * s4 + 6 * s5
    h11 = -4 * s3 + 7 * s4 - 3 * s5
    h21 = 0.5 * s3 - s4 + 0.5 * s5
    return h00, h10, h20, h01, h11, h21


def quintic_segment(t: np.ndarray, k0: Knot, k1: Knot) -> np.ndarray:
    """Evaluate the quintic Hermite curve between knots k0 and k1 at times t."""
    h = k1.t - k0.t
    if h <= 0:
        raise ValueError(f"knot times must increase (got {k0.t} then {k1.t})")
    s = (t - k0.t) / h
    p0, v0, a0 = k0.p, k0.v * h, k0.a * h * h
    p1, v1, a1 = k1.p, k1.v * h, k1.a * h * h
    h00, h10, h20, h01, h11, h21 = _quintic_basis(s)
    return h00 * p0 + h10 * v0 + h20 * a0 + h01 * p1 + h11 * v1 + h21 * a1


def piecewise_quintic(t: np.ndarray, knots: list[Knot]) -> np.ndarray:
    """C2 curve through `knots` (sorted by time); constant extrapolation of the end knots.

    Vectorised: each time picks its segment (searchsorted) and evaluates that segment's quintic
    Hermite form (the same polynomial as `quintic_segment`)."""
    if len(knots) < 2:
        raise ValueError("need at least two knots")
    kt = np.array([k.t for k in knots], dtype=float)
    bad = np.flatnonzero(np.diff(kt) <= 0)
    if len(bad):
        raise ValueError(f"knot times must increase (got {knots[bad[0]].t} then {knots[bad[0] + 1].t})")
    t = np.asarray(t, dtype=float)
    P = np.array([(k.p, k.v, k.a) for k in knots], dtype=float)
    i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(knots) - 2)
    h = kt[i + 1] - kt[i]
    s = np.clip((t - kt[i]) / h, 0.0, 1.0)  # clipped: constant extrapolation of the end knots
    h00, h10, h20, h01, h11, h21 = _quintic_basis(s)
    k0, k1 = P[i], P[i + 1]
    return (h00 * k0[..., 0] + h10 * k0[..., 1] * h + h20 * k0[..., 2] * h * h
            + h01 * k1[..., 0] + h11 * k1[..., 1] * h + h21 * k1[..., 2] * h * h)


def ballistic_knot(k_takeoff: Knot, t: float) -> Knot:
    """State at time t of a body in free flight that left with k_takeoff (vertical axis)."""
    dt = t - k_takeoff.t
    return Knot(t, k_takeoff.p + k_takeoff.v * dt - 0.5 * GRAVITY * dt * dt,
                k_takeoff.v - GRAVITY * dt, -GRAVITY)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """C2 ramp 0 -> 1 on x in [0, 1] (quintic), clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)


def ramp(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Smooth 0 -> 1 between t0 and t1."""
    return smoothstep((t - t0) / max(t1 - t0, 1e-9))


def bump(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """C2 bump 0 -> 1 -> 0 over [t0, t1]: 64 x^3 (1-x)^3, zero outside.

    Zero value, slope and curvature at both ends, so a motion started with it has a continuous
    acceleration (and ground reaction force).
    """
    x = np.clip((t - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)
    return 64.0 * x**3 * (1.0 - x) ** 3


def integrate_acceleration(acc: np.ndarray, fs: float, p0, v0) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity from an acceleration profile (T, ...) by trapezoidal integration.

    Exact for piecewise-linear acceleration, so constant-gravity flight stays ballistic.
    """
    dt = 1.0 / fs
    v = np.concatenate([np.zeros_like(acc[:1]), np.cumsum(0.5 * (acc[1:] + acc[:-1]) * dt, axis=0)])
    v = v + np.asarray(v0)
    # position: integrate v exactly for piecewise-linear a (Simpson-like correction term)
    dp = 0.5 * (v[1:] + v[:-1]) * dt - (acc[1:] - acc[:-1]) * dt * dt / 12.0
    p = np.concatenate([np.zeros_like(acc[:1]), np.cumsum(dp, axis=0)]) + np.asarray(p0)
    return p, v


def interp_knots(t: np.ndarray, times, values) -> np.ndarray:
    """Piecewise C2 (quintic, zero end-derivatives) interpolation through (time, value) pairs.

    Each value is held with zero velocity/acceleration at its knot: good for poses that pass
    through key frames (e.g. arm positions in a serve). values may be (n,) or (n, k).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return piecewise_quintic(t, [Knot(a, b) for a, b in zip(times, values)])
    return np.stack([interp_knots(t, times, values[:, j]) for j in range(values.shape[1])], axis=-1)
