"""Inverse dynamics at the capture rate: kinematics + force plates -> hip / knee / ankle moments.

The path a biomechanist expects (Kristianslund et al. 2012: filter kinematics and forces alike):

1. the joint coordinates q(t) on the input's own timeline (an IK `.mot`, >= 100 Hz) and each
   plate's force, centre of pressure and free moment on the plate's own timeline are low-passed
   with the *same* zero-lag Butterworth (`sigproc.filters.butter_lowpass`, cut-off 6-15 Hz as
   in OpenSim practice). A plate is filtered as its wrench about the floor origin (force and
   moment, both smooth and zero when unloaded) and its COP recovered afterwards, as plate
   software does: filtering the COP itself rings across touch-down and lift-off;
2. q is differentiated analytically: a cubic spline through the filtered samples gives qd, qdd
   at the same samples (no finite differences on a coarse window timeline);
3. the filtered plates are interpolated onto the kinematics' times, zeroed below a threshold;
4. THE Newton-Euler recursion of `biomech.dynamics` (exact recursive segment kinematics from
   q, qd, qdd, then the feet-up recursion) gives the moments; the windows of the learned
   estimators resample these results, never the other way round.

Everything here takes the project's own coordinates (`biomech.conventions.COORDINATES`, radians
and metres, pelvis_t* = the hip-centre midpoint in the ground frame); `biomech.coordinate_maps`
converts OpenSim models' files into them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.interpolate import CubicSpline, make_interp_spline

from biomech.body import Body, perturb_body
from biomech.conventions import MOMENT_COORDINATES
from biomech.dynamics import body_state, kinematics_from_state, newton_euler_leg_moments, whole_body_wrench
from sigproc.filters import butter_lowpass
from sigproc.gaps import resample_uniform, uniform_grid

MIN_RATE_HZ = 100.0  # below this the capture rate misses impacts (the 50 Hz failure)
UNLOADED_N = 20.0  # a plate below this vertical force reads zero (force, COP, free moment)

__all__ = ["Plate", "IDResult", "spline_derivatives", "filter_plate", "plate_wrench_at", "physics_moments",
           "required_force", "plate_clock_shift", "inverse_dynamics", "moment_uncertainty", "MIN_RATE_HZ",
           "UNLOADED_N"]


@dataclass
class Plate:
    """One force plate on its own clock (already aligned to the kinematics' clock).

    time (N,) s; force (N,3) N, the force the plate applies to the foot, ground frame; cop (N,3) m
    on the floor (y = 0); free_moment (N,) N m about +Y (the vertical torque at the COP)."""

    time: np.ndarray
    force: np.ndarray
    cop: np.ndarray
    free_moment: np.ndarray


@dataclass
class IDResult:
    time: np.ndarray  # (T,) the kinematics' own times
    moments: np.ndarray  # (T, 10) N m in MOMENT_COORDINATES order
    q: np.ndarray  # (T, 29) filtered coordinates (rad, m)
    qd: np.ndarray
    qdd: np.ndarray
    grf: dict[str, dict[str, np.ndarray]]  # side -> force (T,3), cop (T,3), free_moment (T,) used
    covered: np.ndarray  # (T,) bool: every given plate has a record at this time (else its load is 0)
    plate_shift_s: float = 0.0  # clock refinement added to the plates' times (align_s > 0)

    def moment(self, coordinate: str) -> np.ndarray:
        return self.moments[:, MOMENT_COORDINATES.index(coordinate)]


def _rate(t: np.ndarray, what: str) -> float:
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or len(t) < 8:
        raise ValueError(f"{what}: need a 1-D time column with at least 8 samples, got shape {t.shape}")
    dt = np.diff(t)
    if not np.all(dt > 0):
        raise ValueError(f"{what}: time is not strictly increasing (first bad row {int(np.argmin(dt > 0)) + 1})")
    return 1.0 / float(np.median(dt))


def spline_derivatives(t: np.ndarray, q: np.ndarray, degree: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, qd, qdd (T, n) at the sample times t from an interpolating spline through q: quintic by
    default (as OpenSim's tools differentiate coordinates: an interpolating GCV spline of degree 5),
    cubic (not-a-knot) with degree=3."""
    if degree == 3:
        sp = CubicSpline(t, q, axis=0, bc_type="not-a-knot")
    else:
        sp = make_interp_spline(t, q, k=degree, axis=0)
    return sp(t), sp(t, 1), sp(t, 2)


def filter_plate(plate: Plate, cutoff_hz: float | None, order: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uniform grid (M,), wrench (M, 6) = [F (3), M about the floor origin (3)], unfiltered
    vertical force (M,)) of one plate: gaps (dropped samples) filled by a cubic spline on the
    plate's own nominal rate, then the zero-lag low-pass (none when cutoff_hz is None). The
    unfiltered vertical force says when the foot is really on the plate: the low-pass spreads a
    contact's force into the swing before and after it (see :func:`plate_wrench_at`)."""
    rate = _rate(plate.time, "force plate")
    F = np.asarray(plate.force, dtype=float)
    cop = np.asarray(plate.cop, dtype=float)
    M = np.cross(cop, F)
    M[:, 1] += np.asarray(plate.free_moment, dtype=float)
    W = np.concatenate([F, M], 1)
    grid = uniform_grid(plate.time[0], plate.time[-1], rate)
    W, _ = resample_uniform(plate.time, W, grid, kind="cubic", nominal_hz=rate)
    raw_fy = W[:, 1].copy()
    if cutoff_hz:
        W = butter_lowpass(W, rate, min(cutoff_hz, 0.45 * rate), order)
    return grid, W, raw_fy


def plate_wrench_at(grid: np.ndarray, W: np.ndarray, t: np.ndarray, unloaded_n: float = UNLOADED_N,
                    raw_fy: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Force (T,3), COP (T,3) on the floor and free moment (T,) at times t from a filtered plate
    wrench; zero where the vertical force is below `unloaded_n` (and outside the plate's record),
    and, given the plate's unfiltered vertical force `raw_fy` (M,) on the same grid, wherever that
    is below `unloaded_n`: the foot is off the plate there, and the filter's spread of the
    contact's force into swing would act on a foot in the air."""
    Wt, _ = resample_uniform(grid, W, t, kind="cubic")
    inside = (t >= grid[0]) & (t <= grid[-1])
    F, M = Wt[:, :3], Wt[:, 3:]
    loaded = (F[:, 1] > unloaded_n) & inside
    if raw_fy is not None:
        loaded &= np.interp(t, grid, raw_fy) > unloaded_n
    fy = np.where(loaded, F[:, 1], 1.0)
    cop = np.stack([M[:, 2] / fy, np.zeros_like(fy), -M[:, 0] / fy], -1)
    free = M[:, 1] - (cop[:, 2] * F[:, 0] - cop[:, 0] * F[:, 2])
    z = ~loaded
    return {"force": np.where(z[:, None], 0.0, F), "cop": np.where(z[:, None], 0.0, cop),
            "free_moment": np.where(z, 0.0, free)}


def physics_moments(body: Body, q: torch.Tensor, qd: torch.Tensor, qdd: torch.Tensor,
                    grf: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
    """(T, 10) moments in MOMENT_COORDINATES order: exact recursive kinematics from (q, qd, qdd)
    and the Newton-Euler recursion of biomech.dynamics with each foot's force / COP / free moment."""
    st = body_state(body, q, qd, qdd)
    kin = kinematics_from_state(body, st)
    m = newton_euler_leg_moments(body, st.pose, kin, q, grf)
    return torch.stack([m[c] for c in MOMENT_COORDINATES], -1)


def required_force(body: Body, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray) -> np.ndarray:
    """(T,3) external force the motion needs, sum_i m_i (a_i - g), from the body model's exact
    recursive segment kinematics: what the plates together must read."""
    with torch.no_grad():
        st = body_state(body, torch.as_tensor(q), torch.as_tensor(qd), torch.as_tensor(qdd))
        F, _ = whole_body_wrench(body, st.pose, kinematics_from_state(body, st))
    return F.numpy()


def plate_clock_shift(t: np.ndarray, f_required: np.ndarray, plates: list[tuple[np.ndarray, np.ndarray]],
                      search_s: float = 0.02, step_s: float = 0.00025, edge_s: float = 0.03) -> float:
    """Shift (s) to add to the plates' times so that their summed vertical force best matches the
    force the kinematics require (least squares over a +-search_s grid of step_s, then a parabola
    through the best three), on the loaded samples farther than edge_s from a contact's ends; a
    search wider than 25 ms runs a 1 ms grid first, then the fine grid within +-20 ms of it.
    plates: (uniform grid, filtered wrench (M, 6)) of each plate."""
    if search_s > 0.025:  # coarse over the whole range, then fine around the coarse answer
        coarse = _grid_shift(t, f_required, plates, search_s, 0.001, edge_s)
        moved = [(g + coarse, W) for g, W in plates]
        return coarse + plate_clock_shift(t, f_required, moved, 0.02, step_s, edge_s)
    return _grid_shift(t, f_required, plates, search_s, step_s, edge_s)


def _grid_shift(t: np.ndarray, f_required: np.ndarray, plates: list, search_s: float, step_s: float,
                edge_s: float) -> float:
    shifts = np.arange(-search_s, search_s + step_s / 2, step_s)
    lo = max(g[0] for g, _ in plates) + search_s
    hi = min(g[-1] for g, _ in plates) - search_s
    inside = (t >= lo) & (t <= hi)
    if inside.sum() < 10:
        return 0.0
    # compared in stance only, away from touch-down and lift-off: there a low-passed motion needs
    # forces (before contact, after lift-off) that no plate can read
    rate = 1.0 / float(np.median(np.diff(t)))
    loaded = sum(np.interp(t, g, W[:, 1]) for g, W in plates) > UNLOADED_N
    guard = int(round(edge_s * rate))
    if guard > 0:
        loaded = ~ndimage.binary_dilation(~loaded, iterations=guard)
    inside &= loaded
    if inside.sum() < 10:
        return 0.0
    tt, fr = t[inside], f_required[inside, 1]
    cost = np.empty(len(shifts))
    for i, d in enumerate(shifts):
        total = sum(np.interp(tt - d, g, W[:, 1]) for g, W in plates)
        cost[i] = np.mean((total - fr) ** 2)
    k = int(np.clip(np.argmin(cost), 1, len(shifts) - 2))
    c0, c1, c2 = cost[k - 1:k + 2]
    den = c0 - 2 * c1 + c2
    frac = 0.5 * (c0 - c2) / den if den > 0 else 0.0
    return float(shifts[k] + np.clip(frac, -1, 1) * step_s)


def inverse_dynamics(body: Body, t: np.ndarray, q: np.ndarray, plates: dict[str, Plate | None],
                     cutoff_hz: float | None = 12.0, order: int = 4, unloaded_n: float = UNLOADED_N,
                     min_rate_hz: float = MIN_RATE_HZ, align_s: float = 0.0, contact_from_raw: bool = True) -> IDResult:
    """Hip / knee / ankle moments on the kinematics' own timeline.

    t (T,) s, uniform; q (T, 29) in COORDINATES order (rad; pelvis_t* m); plates: side ('r', 'l')
    -> the plate under that foot (None or absent: no load on that foot). The same `cutoff_hz`
    low-pass (zero lag, Butterworth of `order`) is applied to q and to every plate. With
    `align_s` > 0 the plates' clock is first refined within +-align_s against the force the
    kinematics require (:func:`plate_clock_shift`; plates on their own clock, synchronised to a
    few ms, as the generated clips' are); the shift found is in `IDResult.plate_shift_s`."""
    t = np.asarray(t, dtype=float)
    q = np.asarray(q, dtype=float)
    rate = _rate(t, "kinematics")
    if rate < min_rate_hz * 0.99:
        raise ValueError(f"kinematics at {rate:.1f} Hz: inverse dynamics needs >= {min_rate_hz:.0f} Hz "
                         "(impacts are lost at lower rates); pass the capture-rate IK file")
    if not np.all(np.isfinite(q)):
        bad = np.argwhere(~np.isfinite(q))[0]
        raise ValueError(f"kinematics: non-finite value at row {bad[0]}, column {bad[1]}")
    if cutoff_hz:
        if not 0 < cutoff_hz < 0.5 * rate:
            raise ValueError(f"cutoff_hz={cutoff_hz}: must be in (0, {0.5 * rate:.0f}) Hz for {rate:.0f} Hz kinematics")
        qf = butter_lowpass(q, rate, cutoff_hz, order)
    else:
        qf = q
    qf, qd, qdd = spline_derivatives(t, qf)
    filtered = {s: filter_plate(p, cutoff_hz, order) for s, p in plates.items() if p is not None}
    shift = 0.0
    if align_s > 0 and filtered:
        shift = plate_clock_shift(t, required_force(body, qf, qd, qdd), [(g, W) for g, W, _ in filtered.values()],
                                  align_s)
    grf = {}
    covered = np.ones(len(t), dtype=bool)
    for side in ("r", "l"):
        if side not in filtered:
            zero = np.zeros((len(t), 3))
            grf[side] = {"force": zero, "cop": zero.copy(), "free_moment": np.zeros(len(t))}
            continue
        grid, W, raw_fy = filtered[side]
        grid = grid + shift
        covered &= (t >= grid[0]) & (t <= grid[-1])
        grf[side] = plate_wrench_at(grid, W, t, unloaded_n, raw_fy if contact_from_raw else None)
    tt = {s: {k: torch.as_tensor(v) for k, v in g.items()} for s, g in grf.items()}
    with torch.no_grad():
        m = physics_moments(body, torch.as_tensor(qf), torch.as_tensor(qd), torch.as_tensor(qdd), tt)
    return IDResult(t, m.numpy(), qf, qd, qdd, grf, covered, shift)


def moment_uncertainty(body: Body, t: np.ndarray, q: np.ndarray, plates: dict[str, Plate | None], n: int = 16,
                       seed: int = 0, length_frac: float = 0.05, mass_frac: float = 0.10,
                       **kwargs) -> tuple[IDResult, np.ndarray]:
    """Moments and their uncertainty from the body model: the nominal result and the standard
    deviation (T, 10) N m over `n` athletes drawn around `body` (`biomech.body.perturb_body`:
    segment lengths +-length_frac, mass distribution +-mass_frac), on the same inputs. kwargs go
    to :func:`inverse_dynamics` (cutoff_hz, align_s, ...)."""
    nominal = inverse_dynamics(body, t, q, plates, **kwargs)
    rng = np.random.default_rng(seed)
    runs = [inverse_dynamics(perturb_body(body, rng, length_frac, mass_frac), t, q, plates, **kwargs).moments
            for _ in range(n)]
    return nominal, np.std(np.stack(runs), axis=0, ddof=1)
