"""Pinhole camera model, MediaPipe-style landmark outputs and self-occlusion visibility.

Conventions
-----------
* World frame = OpenSim ground frame: X forward (athlete's initial facing direction),
  Y up, Z to the athlete's right; metres; floor is ``y = 0``.
* Camera frame = OpenCV: x right, y down, z forward (along the optical axis).
  ``X_cam = R @ X_world + t``; pixel ``[u, v, 1]^T ~ K @ X_cam``. Pixel coordinates follow
  the OpenCV/cv2-drawing convention (integer coordinates are pixel centres) and the
  principal point defaults to ``(width / 2, height / 2)``.
* Arrays are time-first: ``(T, ...)``.

Viewpoint of a generated clip (``tracking_camera``)
---------------------------------------------------
One distribution for every action class (``ViewDistribution``): azimuth uniform over the
full circle, measured in the horizontal XZ plane from +X (the athlete's initial facing
direction) towards +Z (0 = in front, 90 = on the athlete's right, 180 = behind); elevation,
field of view and framing drawn uniformly; the distance follows from the athlete's standing
height and the framing only, never from the motion. Clips whose body travels (walk, run,
jumps forward, shuffles) get a *dolly* camera: same viewpoint, centre translating along X and
Z with the low-passed body centroid (``Camera.track`` (T,3), rotation fixed), so the body
stays in frame. ``look_at_camera`` (a static camera fitted to a motion bounding box by
bisection) remains as a general tool; the generator does not use it.

Detector-like landmarks (``detector_landmarks``, ``LandmarkError``)
-----------------------------------------------------------------
MediaPipe-like error drawn in camera axes (depth worse than in-plane), larger for distal
landmarks and hidden ones, correlated in time, with short left/right limb swaps and frames
with no detection (NaN). Image and world landmarks are derived from the same noisy points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

MEDIAPIPE_LANDMARKS: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
N_LANDMARKS = len(MEDIAPIPE_LANDMARKS)
LEFT_HIP = MEDIAPIPE_LANDMARKS.index("left_hip")  # 23
RIGHT_HIP = MEDIAPIPE_LANDMARKS.index("right_hip")  # 24

# Soft visibility levels returned by ``visibility``.
VIS_VISIBLE = 0.95
VIS_OCCLUDED = 0.15
VIS_OUT_OF_FRAME = 0.0


@dataclass
class Capsule:
    """A body segment: swept sphere between ``p0`` and ``p1`` (each (T,3), world metres).

    A sphere (e.g. the head) is a capsule with ``p0 == p1``.
    """

    name: str
    p0: np.ndarray
    p1: np.ndarray
    radius: float

    def __post_init__(self) -> None:
        self.p0 = np.asarray(self.p0, dtype=np.float64)
        self.p1 = np.asarray(self.p1, dtype=np.float64)
        if self.p0.shape != self.p1.shape or self.p0.ndim != 2 or self.p0.shape[1] != 3:
            raise ValueError(
                f"Capsule {self.name!r}: p0/p1 must both be (T,3), got {self.p0.shape} and {self.p1.shape}"
            )
        if not self.radius > 0:
            raise ValueError(f"Capsule {self.name!r}: radius must be > 0, got {self.radius}")


@dataclass
class Camera:
    """Pinhole camera (no distortion), OpenCV convention. ``X_cam = R @ X_world + t``.

    Optional ``track`` (T,3): a *dolly* camera whose centre translates by ``track[i]``
    (world metres) at frame i, rotation fixed (see ``tracking_camera``). With a track,
    ``project``/``to_camera`` expect time-first points (T,...,3) and use frame i's pose
    for ``points[i]``: ``X_cam = R @ (X_world - track[i]) + t``.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    track: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        self.width = int(self.width)
        self.height = int(self.height)
        if self.track is not None:
            self.track = np.asarray(self.track, dtype=np.float64).reshape(-1, 3)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates, ``-R^T t`` (the zero-offset centre for a
        tracking camera; use ``centers(T)`` for per-frame centres)."""
        return -self.R.T @ self.t

    def centers(self, T: int) -> np.ndarray:
        """Per-frame camera centres (T,3) (constant for a static camera)."""
        c = np.broadcast_to(self.center, (T, 3)).copy()
        if self.track is not None:
            if self.track.shape[0] < T:
                raise ValueError(f"camera track has {self.track.shape[0]} frames < {T}")
            c += self.track[:T]
        return c

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """World points (...,3) -> camera-frame points (...,3) (time-first if tracking)."""
        p = np.asarray(points_world, dtype=np.float64)
        if self.track is not None:
            T = p.shape[0] if p.ndim >= 2 else 0
            if p.ndim < 2 or self.track.shape[0] < T:
                raise ValueError(
                    f"tracking camera ({self.track.shape[0]} frames) needs time-first points (T,...,3), got {p.shape}"
                )
            p = p - self.track[:T].reshape((T,) + (1,) * (p.ndim - 2) + (3,))
        return p @ self.R.T + self.t

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (...,3) -> (uv pixels (...,2), depth metres (...)).

        ``depth`` is the camera-frame z (distance along the optical axis). Points with
        ``depth <= 0`` are behind the camera: their uv is computed with the depth clamped
        to 1e-6 and is meaningless; check ``depth > 0``.
        """
        pc = self.to_camera(points_world)
        depth = pc[..., 2]
        z = np.where(depth > 1e-6, depth, 1e-6)
        K = self.K
        x = pc[..., 0] / z
        y = pc[..., 1] / z
        u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
        v = K[1, 1] * y + K[1, 2]
        return np.stack([u, v], axis=-1), depth

    def in_frame(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Boolean mask (...) of points in front of the camera and inside the image."""
        return (
            (depth > 0)
            & (uv[..., 0] >= 0)
            & (uv[..., 0] <= self.width)
            & (uv[..., 1] >= 0)
            & (uv[..., 1] <= self.height)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (plain lists / ints / floats)."""
        return {
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "width": self.width,
            "height": self.height,
            "track": None if self.track is None else self.track.tolist(),
            "convention": "opencv: X_cam = R @ X_world + t; x right, y down, z forward",
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Camera":
        return cls(K=d["K"], R=d["R"], t=d["t"], width=d["width"], height=d["height"], track=d.get("track"))


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Square-pixel K with horizontal field of view ``hfov_deg`` and centred principal point."""
    fx = (width / 2.0) / np.tan(np.deg2rad(hfov_deg) / 2.0)
    return np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]])


def look_at_rotation(center: np.ndarray, target: np.ndarray, up: Sequence[float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """World->camera rotation (rows = camera x right, y down, z forward) for a camera at
    ``center`` looking at ``target`` with no roll."""
    f = np.asarray(target, float) - np.asarray(center, float)
    f /= np.linalg.norm(f)
    right = _cross3(f, np.asarray(up, float))
    n = np.linalg.norm(right)
    if n < 1e-8:  # looking straight up/down: pick any right vector
        right = _cross3(f, np.array([1.0, 0.0, 0.0]))
        n = np.linalg.norm(right)
    right /= n
    down = _cross3(f, right)
    return np.stack([right, down, f])


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross of two 3-vectors (same arithmetic, without its axis handling overhead)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _bbox_corners(target: np.ndarray, bbox_extent: np.ndarray) -> np.ndarray:
    b = np.asarray(bbox_extent, dtype=np.float64)
    if b.shape == (2, 3):
        lo, hi = b
    elif b.shape == (3,):
        lo, hi = target - b / 2.0, target + b / 2.0
    else:
        raise ValueError(f"bbox_extent must be (3,) extents or (2,3) [min, max], got {b.shape}")
    idx = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    return np.where(idx == 0, lo, hi)


def look_at_camera(
    target: np.ndarray,
    bbox_extent: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
    yaw_deg_range: float = 15.0,
    pitch_deg_range: float = 15.0,
    base_azimuth_deg: float = 65.0,
    *,
    hfov_deg_range: tuple[float, float] = (50.0, 60.0),
    height_range: tuple[float, float] | None = (1.0, 1.3),
    margin: float = 0.08,
    min_distance: float = 1.5,
) -> Camera:
    """Random static camera looking at ``target`` that keeps the motion bounding box in view.

    Parameters
    ----------
    target : (3,) world point the optical axis passes through (use the clip's mean pelvis).
    bbox_extent : (3,) full extents (dx, dy, dz) of the motion box centred on ``target``, or
        (2,3) ``[min_corner, max_corner]`` (preferred: the box need not be centred).
    yaw_deg_range : azimuth jitter, uniform in +-range around ``base_azimuth_deg``
        (azimuth measured in the XZ plane from +X towards +Z; 90 = athlete's right side).
    pitch_deg_range : bound on the camera elevation above/below the target. With the
        default ``height_range`` the camera height is drawn uniformly in 1.0-1.3 m and the
        resulting elevation is clipped to +-pitch_deg_range. With ``height_range=None`` the
        elevation is drawn uniformly in +-pitch_deg_range instead.
    hfov_deg_range : horizontal field of view drawn uniformly in this range (focal length).
    margin : fraction of width/height kept free on every side of the projected box.
    """
    rng = np.random.default_rng(rng)
    target = np.asarray(target, dtype=np.float64).reshape(3)
    corners = _bbox_corners(target, bbox_extent)
    hfov = rng.uniform(*hfov_deg_range)
    K = intrinsics_from_fov(width, height, hfov)
    az = np.deg2rad(base_azimuth_deg + rng.uniform(-yaw_deg_range, yaw_deg_range))
    horiz = np.array([np.cos(az), 0.0, np.sin(az)])
    if height_range is not None:
        cam_h = rng.uniform(*height_range)
        elev_fixed = None
    else:
        cam_h = None
        elev_fixed = np.deg2rad(rng.uniform(-pitch_deg_range, pitch_deg_range))
    max_elev = np.deg2rad(pitch_deg_range)

    def make(dist: float) -> Camera:
        if elev_fixed is None:
            dy = cam_h - target[1]
            # distance is measured horizontally; clip elevation to the pitch bound
            elev = np.clip(np.arctan2(dy, dist), -max_elev, max_elev)
        else:
            elev = elev_fixed
        c = target + dist * np.cos(elev) * horiz + np.array([0.0, dist * np.sin(elev), 0.0])
        c = target + (c - target) / np.linalg.norm(c - target) * dist
        R = look_at_rotation(c, target)
        return Camera(K=K, R=R, t=-R @ c, width=width, height=height)

    mx, my = margin * width, margin * height

    def fits(cam: Camera) -> bool:
        uv, d = cam.project(corners)
        return bool(
            np.all(d > 0.3)
            and np.all(uv[:, 0] >= mx)
            and np.all(uv[:, 0] <= width - mx)
            and np.all(uv[:, 1] >= my)
            and np.all(uv[:, 1] <= height - my)
        )

    lo, hi = min_distance, max(min_distance * 2, 4.0)
    while not fits(make(hi)):
        hi *= 2.0
        if hi > 1e4:
            raise ValueError("look_at_camera: cannot fit the bounding box in view")
    if fits(make(lo)):
        return make(lo)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if fits(make(mid)):
            hi = mid
        else:
            lo = mid
    return make(hi)


@dataclass(frozen=True)
class ViewDistribution:
    """One distribution of clip viewpoints for every action class (``tracking_camera``).

    azimuth_deg : camera azimuth, uniform in this range, measured in the horizontal XZ plane
        from +X (the athlete's initial facing direction) towards +Z: 0 = in front, 90 = on the
        athlete's right, 180 = behind. The default is the full circle.
    elevation_deg : elevation of the camera above the aim point, uniform in this range.
    hfov_deg : horizontal field of view (focal length), uniform in this range.
    frame_height : vertical extent covered by the image at the aim point, in multiples of the
        athlete's standing height, uniform in this range. It sets the distance from the
        athlete's height and the field of view only, so it does not depend on the motion.
    follow_threshold_m : a clip whose body centroid travels more than this horizontally gets
        a dolly camera (same viewpoint, centre translating with the smoothed centroid).
    follow_cutoff_hz : low-pass cut-off of the dolly's follow of the centroid.
    """

    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    elevation_deg: tuple[float, float] = (-5.0, 20.0)
    hfov_deg: tuple[float, float] = (50.0, 60.0)
    frame_height: tuple[float, float] = (1.4, 1.8)
    follow_threshold_m: float = 1.0
    follow_cutoff_hz: float = 1.0


def viewpoint_camera(
    target: np.ndarray,
    width: int,
    height: int,
    azimuth_deg: float,
    elevation_deg: float,
    distance_m: float,
    hfov_deg: float,
) -> Camera:
    """Static camera ``distance_m`` from ``target`` at the given azimuth / elevation (degrees,
    conventions of ``ViewDistribution``), looking at ``target`` with no roll."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    direction = np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
    c = np.asarray(target, dtype=np.float64).reshape(3) + distance_m * direction
    R = look_at_rotation(c, target)
    return Camera(K=intrinsics_from_fov(width, height, hfov_deg), R=R, t=-R @ c, width=width, height=height)


def _follow_track(P: np.ndarray, fps: float, view: ViewDistribution) -> np.ndarray | None:
    """Dolly track (T,3) (horizontal, zero mean) following the body centroid, or None."""
    from sigproc.filters import butter_lowpass

    centroid = P.mean(axis=1)[:, [0, 2]]  # (T,2) horizontal X, Z
    travel = np.linalg.norm(centroid - centroid[0], axis=1).max()
    T = P.shape[0]
    if travel <= view.follow_threshold_m or T < 16:
        return None
    smooth = centroid
    if view.follow_cutoff_hz < 0.5 * fps:
        smooth = butter_lowpass(centroid, fps, view.follow_cutoff_hz, order=2)
    track = np.zeros((T, 3))
    track[:, [0, 2]] = smooth - smooth.mean(axis=0)
    return track


def tracking_camera(
    points_world: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    body_height: float | None = None,
    fps: float = 30.0,
    view: ViewDistribution = ViewDistribution(),
) -> tuple[Camera, dict[str, float]]:
    """Camera for a whole clip from the body points (T,N,3) (capsule endpoints or landmarks).

    The viewpoint (azimuth, elevation, field of view, framing) is drawn from ``view``, one
    distribution for every class; the distance follows from the athlete's standing
    ``body_height`` (default: the median over frames of the highest point) and the drawn
    framing, never from the motion. The aim point is above the body centroid's mean
    horizontal position, at the height that puts the floor near the bottom of the image.
    A clip whose centroid travels more than ``view.follow_threshold_m`` horizontally (walk,
    run, sprint, jumps forward, shuffles) gets a dolly camera: the same viewpoint, its centre
    translating with the low-passed centroid (``Camera.track``, rotation fixed), so the
    athlete stays in frame. Returns ``(camera, viewpoint)`` with plain numbers
    ``azimuth_deg`` [0, 360), ``elevation_deg``, ``distance_m`` (centre to aim point),
    ``hfov_deg``, ``frame_height`` for meta.json.
    """
    rng = np.random.default_rng(rng)
    P = np.asarray(points_world, dtype=np.float64)
    if P.ndim != 3 or P.shape[-1] != 3:
        raise ValueError(f"points_world must be (T,N,3), got {P.shape}")
    if body_height is None:
        body_height = float(np.median(P[..., 1].max(axis=1)))
    if not body_height > 0:
        raise ValueError(f"body_height must be > 0 m, got {body_height}")
    azimuth = float(rng.uniform(*view.azimuth_deg)) % 360.0
    elevation = float(rng.uniform(*view.elevation_deg))
    hfov = float(rng.uniform(*view.hfov_deg))
    framing = float(rng.uniform(*view.frame_height))
    covered = framing * body_height  # metres of the vertical image extent at the aim point
    vfov = 2.0 * np.arctan(np.tan(np.deg2rad(hfov) / 2.0) * height / width)
    distance = 0.5 * covered / np.tan(vfov / 2.0)
    track = _follow_track(P, fps, view)
    flat = (P if track is None else P - track[:, None, :]).reshape(-1, 3)
    target = np.array([flat[:, 0].mean(), 0.45 * covered, flat[:, 2].mean()])
    camera = viewpoint_camera(target, width, height, azimuth, elevation, distance, hfov)
    camera.track = track
    viewpoint = {"azimuth_deg": round(azimuth, 3), "elevation_deg": round(elevation, 3),
                 "distance_m": round(float(distance), 4), "hfov_deg": round(hfov, 3),
                 "frame_height": round(framing, 4)}
    return camera, viewpoint


def mediapipe_normalized(
    uv: np.ndarray,
    depth: np.ndarray,
    hip_mid_depth: np.ndarray | float | None,
    width: int,
    height: int,
    fx: float | None = None,
) -> np.ndarray:
    """Image-normalised landmarks like MediaPipe ``pose_landmarks`` -> (T,33,3).

    x = u / width, y = v / height (0..1 inside the image),
    z = (depth - d_hip) * fx / (width * d_hip): depth relative to the hip-midpoint depth,
    negative = closer to the camera, scaled like x (a 1 m depth offset at the hip gives the
    same |z| as a 1 m lateral offset gives in x). ``fx`` defaults to the focal length of a
    55 deg horizontal FOV if not given (pass ``camera.fx``).
    ``hip_mid_depth`` (T,) or scalar; if None it is the mean depth of landmarks 23 and 24.
    """
    uv = np.asarray(uv, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    if hip_mid_depth is None:
        hip_mid_depth = 0.5 * (depth[..., LEFT_HIP] + depth[..., RIGHT_HIP])
    d_hip = np.asarray(hip_mid_depth, dtype=np.float64)
    if d_hip.ndim == depth.ndim - 1 and d_hip.ndim > 0:
        d_hip = d_hip[..., None]
    if fx is None:
        fx = (width / 2.0) / np.tan(np.deg2rad(55.0) / 2.0)
    out = np.empty(uv.shape[:-1] + (3,), dtype=np.float64)
    out[..., 0] = uv[..., 0] / width
    out[..., 1] = uv[..., 1] / height
    out[..., 2] = (depth - d_hip) * fx / (width * d_hip)
    return out


def mediapipe_world(landmarks_world: np.ndarray, R_cam: np.ndarray) -> np.ndarray:
    """MediaPipe-style ``pose_world_landmarks`` (T,33,3): metres, origin at the hip midpoint
    (mean of landmarks 23 and 24), axes of the camera (x right, y down, z away from the
    camera), i.e. ``(L - hip_mid) @ R_cam.T`` (rotation only, no camera translation)."""
    L = np.asarray(landmarks_world, dtype=np.float64)
    hip = 0.5 * (L[..., LEFT_HIP, :] + L[..., RIGHT_HIP, :])
    return (L - hip[..., None, :]) @ np.asarray(R_cam, dtype=np.float64).T


def _segment_distances(C: np.ndarray, P: np.ndarray, A: np.ndarray, B: np.ndarray):
    """Closest distance between segments C->P (T,N,3) and A->B (T,K,3), vectorised.

    Returns (dist (T,N,K), s (T,N,K), point_dist (T,N,K)): s in [0,1] is the parameter of
    the closest point on C->P; point_dist is the distance from P to segment A->B.
    ``C`` is (T,3) (per-frame camera centre). Only scalar (T,N,K) arrays are formed
    (squared distances expanded from dot products), no (T,N,K,3) temporaries.
    """
    d1 = P - C[:, None, :]  # (T,N,3)
    d2 = B - A  # (T,K,3)
    r = C[:, None, :] - A  # (T,K,3)
    a = np.einsum("tni,tni->tn", d1, d1)[:, :, None]  # (T,N,1)
    e = np.einsum("tki,tki->tk", d2, d2)[:, None, :]  # (T,1,K)
    f = np.einsum("tki,tki->tk", d2, r)[:, None, :]  # (T,1,K)
    rr = np.einsum("tki,tki->tk", r, r)[:, None, :]  # (T,1,K)
    c = np.einsum("tni,tki->tnk", d1, r)  # (T,N,K)
    b = np.einsum("tni,tki->tnk", d1, d2)  # (T,N,K)
    eps = 1e-12
    denom = a * e - b * b
    a_safe = np.maximum(a, eps)
    degenerate = e <= eps  # sphere: closest point on C->P to the point A
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    s = np.where(degenerate, np.clip(-c / a_safe, 0.0, 1.0), s)
    e_safe = np.maximum(e, eps)
    tt = np.where(degenerate, 0.0, (b * s + f) / e_safe)
    s = np.where(tt < 0.0, np.clip(-c / a_safe, 0.0, 1.0), s)
    s = np.where(tt > 1.0, np.clip((b - c) / a_safe, 0.0, 1.0), s)
    tt = np.clip(tt, 0.0, 1.0)
    # |r + s d1 - t d2|^2
    d2sq = rr + s * s * a + tt * tt * e + 2.0 * s * c - 2.0 * tt * f - 2.0 * s * tt * b
    dist = np.sqrt(np.maximum(d2sq, 0.0))
    # distance from P (= C + d1) to segment A->B: w = d1 + r
    wd = b + f
    tp = np.where(degenerate, 0.0, np.clip(wd / e_safe, 0.0, 1.0))
    wsq = a + 2.0 * c + rr
    pdist = np.sqrt(np.maximum(wsq - 2.0 * tp * wd + tp * tp * e, 0.0))
    return dist, s, pdist


def visibility(
    landmarks_world: np.ndarray,
    owner_capsule_index: Sequence[int] | np.ndarray,
    capsules: Sequence[Capsule],
    camera: Camera,
    rng: np.random.Generator | None = None,
    *,
    jitter: float = 0.02,
    edge_px: float = 2.0,
) -> np.ndarray:
    """Soft per-landmark visibility (T,33) in [0,1] from self-occlusion and framing.

    A landmark is occluded by capsule k when (a) k is not its owner, (b) the landmark is not
    inside capsule k (joint centres lie inside both adjacent segments; those neighbours do
    not occlude it), and (c) the camera->landmark segment passes within k's radius of k's
    axis, with the closest approach at least 0.25 * r_k in front of the landmark (i.e. k's
    surface is closer to the camera than the landmark). The occlusion strength ramps from
    0 to 1 as the ray goes from grazing k's surface to 25 % of the radius inside it, so
    visible ~ 0.95, fully occluded ~ 0.15. Landmarks outside the image or behind the camera
    get ~0.0 (soft ramp over ``edge_px`` pixels at the border). If ``rng`` is given, small
    Gaussian jitter (sd ``jitter``) is added before clipping to [0,1].
    Landmarks whose owner index is < 0 have no owner (all capsules may occlude them).
    """
    L = np.asarray(landmarks_world, dtype=np.float64)
    T, N, _ = L.shape
    owner = np.asarray(owner_capsule_index, dtype=np.int64).reshape(N)
    K = len(capsules)
    C = camera.centers(T)  # (T,3)
    uv, depth = camera.project(L)
    if K > 0:
        A = np.stack([c.p0 for c in capsules], axis=1)  # (T,K,3)
        B = np.stack([c.p1 for c in capsules], axis=1)
        if A.shape[0] != T:
            raise ValueError(f"capsules have {A.shape[0]} frames, landmarks have {T}")
        rad = np.array([c.radius for c in capsules], dtype=np.float64)  # (K,)
        dist, s, pdist = _segment_distances(C, L, A, B)
        inside = pdist < rad  # (T,N,K): landmark inside capsule k (a neighbour segment)
        ray_len = np.linalg.norm(L - C[:, None, :], axis=-1)[:, :, None]  # (T,N,1)
        # closest approach must be in front of the landmark (by at least a small tolerance)
        in_front = s * ray_len < ray_len - 0.25 * rad
        strength = np.clip((rad - dist) / (0.25 * rad), 0.0, 1.0)
        not_owner = np.arange(K)[None, :] != owner[:, None]  # (N,K)
        strength = np.where(not_owner[None] & ~inside & in_front, strength, 0.0)
        occ = strength.max(axis=-1)  # (T,N)
    else:
        occ = np.zeros((T, N))
    vis = VIS_VISIBLE - (VIS_VISIBLE - VIS_OCCLUDED) * occ
    # framing: soft ramp over edge_px at the image border, 0 behind the camera
    border = np.minimum.reduce(
        [uv[..., 0], camera.width - uv[..., 0], uv[..., 1], camera.height - uv[..., 1]]
    )
    frame_w = np.clip(border / max(edge_px, 1e-6), 0.0, 1.0)
    frame_w = np.where(depth > 0, frame_w, 0.0)
    vis = VIS_OUT_OF_FRAME + (vis - VIS_OUT_OF_FRAME) * frame_w
    if rng is not None:
        vis = vis + rng.normal(0.0, jitter, size=vis.shape)
    return np.clip(vis, 0.0, 1.0)


# ----------------------------------------------------------------------------- detector error

# Landmark groups by distance from the trunk; a detector's error grows along the chain.
LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    "face": tuple(range(0, 11)),
    "torso": (11, 12, 23, 24),
    "elbow_knee": (13, 14, 25, 26),
    "wrist_ankle": (15, 16, 27, 28),
    "hand_foot": (17, 18, 19, 20, 21, 22, 29, 30, 31, 32),
}
# Limb landmarks a detector can swap between the left and the right side: (left, right) pairs.
SWAP_LIMBS: dict[str, tuple[tuple[int, int], ...]] = {
    "arms": ((13, 14), (15, 16), (17, 18), (19, 20), (21, 22)),
    "legs": ((25, 26), (27, 28), (29, 30), (31, 32)),
}


@dataclass(frozen=True)
class LandmarkError:
    """MediaPipe-like error model of the detected landmarks (see ``detector_landmarks``).

    sd_m : in-plane (camera x, y) error SD of a torso landmark, metres.
    joint_factor : SD multiplier per ``LANDMARK_GROUPS`` group (distal joints larger).
    depth_factor : camera-z (depth) SD / in-plane SD.
    correlation_s : time constant of the first-order (AR(1)) temporal correlation, seconds.
    occlusion_gain : SD multiplier ``1 + occlusion_gain * occluded``, ``occluded`` = 0 for a
        visible landmark (visibility 0.95) and 1 at visibility 0.
    swap_rate_hz, swap_frames : left/right swap events of one limb pair group (arms or legs)
        per second of video, each lasting a uniform integer number of frames in the range.
    miss_rate_hz, miss_frames : runs of frames with no person detected (NaN positions,
        visibility 0), per second of video, each lasting a number of frames in the range.
    """

    enabled: bool = True
    sd_m: float = 0.012
    joint_factor: dict = field(default_factory=lambda: {
        "face": 0.8, "torso": 1.0, "elbow_knee": 1.3, "wrist_ankle": 1.6, "hand_foot": 1.9})
    depth_factor: float = 2.0
    correlation_s: float = 0.1
    occlusion_gain: float = 1.0
    swap_rate_hz: float = 0.15
    swap_frames: tuple[int, int] = (2, 6)
    miss_rate_hz: float = 0.1
    miss_frames: tuple[int, int] = (1, 4)

    def landmark_sd(self) -> np.ndarray:
        """In-plane SD (33,) per landmark, metres."""
        sd = np.full(N_LANDMARKS, np.nan)
        for group, idx in LANDMARK_GROUPS.items():
            sd[list(idx)] = self.sd_m * float(self.joint_factor[group])
        return sd


def _events(n_frames: int, fps: float, rate_hz: float, frames: tuple[int, int],
            rng: np.random.Generator) -> list[tuple[int, int]]:
    """Poisson number of (start, stop) frame runs, rate per second, uniform lengths."""
    n = int(rng.poisson(rate_hz * n_frames / fps))
    starts = rng.integers(0, max(n_frames, 1), size=n)
    lengths = rng.integers(frames[0], frames[1] + 1, size=n)
    return [(int(s), int(min(s + k, n_frames))) for s, k in zip(starts, lengths)]


def ar1_noise(n_frames: int, shape: tuple[int, ...], fps: float, correlation_s: float,
              rng: np.random.Generator) -> np.ndarray:
    """Unit-variance first-order autoregressive noise (n_frames, *shape), correlation
    ``exp(-1 / (fps * correlation_s))`` between consecutive frames (stationary from frame 0)."""
    from scipy.signal import lfilter

    phi = float(np.exp(-1.0 / max(fps * correlation_s, 1e-9)))
    w = rng.standard_normal((n_frames,) + tuple(shape))
    if n_frames < 2 or phi == 0.0:
        return w
    rest = lfilter([np.sqrt(1.0 - phi * phi)], [1.0, -phi], w[1:], axis=0, zi=phi * w[:1])[0]
    return np.concatenate([w[:1], rest], axis=0)


def detector_landmarks(
    landmarks_world: np.ndarray,
    vis: np.ndarray,
    camera: Camera,
    frame_index: np.ndarray,
    fps: float,
    error: LandmarkError,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Detector-like landmarks from the true ones: (noisy world points (T,33,3) with NaN rows
    where no person is detected, visibility (T,33), summary dict for ``synthetic_truth``).

    The error is drawn in camera axes, so depth can be worse than in-plane, and added to the
    lab-frame points; image and world landmarks are then both derived from the same noisy
    points (``Camera.project`` / ``mediapipe_world``), as a detector's two outputs are.
    Per landmark and axis: AR(1) noise in time (``correlation_s``) with SD
    ``sd_m * joint_factor[group]`` (x ``depth_factor`` on camera z), inflated by
    ``1 + occlusion_gain * (1 - vis / 0.95)`` where the landmark is hidden; short runs where
    one limb group's left and right labels are swapped (positions and visibility); runs of
    frames with no detection. ``frame_index`` are the delivered frames in the nominal
    sequence (noise and events live on the nominal sequence, so dropped frames do not change
    their time scale).
    """
    L = np.asarray(landmarks_world, dtype=np.float64)
    vis = np.asarray(vis, dtype=np.float64)
    T = L.shape[0]
    frame_index = np.asarray(frame_index, dtype=np.int64)
    n_nominal = int(frame_index.max()) + 1 if T else 0
    sd = error.landmark_sd()[None, :, None] * np.array([1.0, 1.0, error.depth_factor])  # (1,33,3)
    occluded = np.clip(1.0 - vis / VIS_VISIBLE, 0.0, 1.0)[..., None]  # (T,33,1)
    unit = ar1_noise(n_nominal, (N_LANDMARKS, 3), fps, error.correlation_s, rng)[frame_index]
    e_cam = unit * sd * (1.0 + error.occlusion_gain * occluded)
    noisy = L + e_cam @ camera.R  # camera-axis error -> lab frame (rotation only)
    vis_out = vis.copy()
    # label swaps and missed detections, on the nominal frame sequence
    pos = np.full(n_nominal, -1, dtype=np.int64)
    pos[frame_index] = np.arange(T)
    swaps = _events(n_nominal, fps, error.swap_rate_hz, error.swap_frames, rng)
    swapped = np.zeros(T, dtype=bool)
    for (a, b), limb in zip(swaps, rng.choice(sorted(SWAP_LIMBS), size=len(swaps))):
        rows = pos[a:b][pos[a:b] >= 0]
        pairs = np.array(SWAP_LIMBS[str(limb)])
        left, right = pairs[:, 0], pairs[:, 1]
        for arr in (noisy, vis_out):
            lv, rv = arr[rows[:, None], left].copy(), arr[rows[:, None], right].copy()
            arr[rows[:, None], left], arr[rows[:, None], right] = rv, lv
        swapped[rows] = True
    misses = _events(n_nominal, fps, error.miss_rate_hz, error.miss_frames, rng)
    missed = np.zeros(T, dtype=bool)
    for a, b in misses:
        missed[pos[a:b][pos[a:b] >= 0]] = True
    noisy[missed] = np.nan
    vis_out[missed] = 0.0
    summary = {
        "swap_events": len(swaps), "swapped_frames": int(swapped.sum()),
        "missed_frames": int(missed.sum()), "frames": int(T),
    }
    return noisy, vis_out, summary
