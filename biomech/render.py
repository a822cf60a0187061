"""Fast synthetic video rendering of a capsule body, plus mp4 I/O.

``render_video`` draws (all with cv2 primitives, RGB uint8 output):

* a per-clip random background textured in *world* coordinates: a perspective-correct
  floor (``y = 0``: tiles + court lines) and a vertical back wall 2-6 m behind the athlete
  (colour gradient + clutter: posters/rectangles, poles/lines, blobs), plus texture noise.
  Both live in a texture atlas sampled with ``cv2.remap``; a dolly camera
  (``Camera.track``, along X and Z) shifts the sampling maps, so the background scrolls with correct
  perspective (fixed-point maps + integer atlas slicing: ~0.1 ms/frame at 128x128);
* an optional contact shadow: a dark ellipse on the floor under the body's centre;
* the body: each capsule as a thick cv2 line with round caps (width = projected diameter
  at the mean depth of its endpoints), painter's algorithm per frame (far first), simple
  shading (colour darkened with depth, a lighter highlight stroke along the axis); left-side
  segments (name containing ``left``/``_l``/``l_``) are tinted blue, right-side red, the
  rest neutral; the head is skin-coloured;
* 1-2 random occluders (rectangles or ellipses) sweeping across the body's image region
  for part of the clip (their per-frame geometry is returned with ``return_info=True``; use
  ``points_in_occluders`` to lower landmark visibility under them);
* lighting change over the clip (global gain/offset ramp + sinusoidal flicker, random per
  clip) applied with a per-frame cv2.LUT, and mild sensor noise (a small bank of noise
  frames, randomly cropped per frame).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

from biomech.camera import Camera, Capsule

__all__ = [
    "Capsule",
    "RenderInfo",
    "render_video",
    "points_in_occluders",
    "write_mp4",
    "read_mp4",
    "VideoReadError",
]

_SHIFT = 4  # cv2 sub-pixel bits
_SCALE = 1 << _SHIFT


class VideoReadError(RuntimeError):
    """Raised when a video file cannot be opened/decoded or has no frames."""


@dataclass
class RenderInfo:
    """Side information from ``render_video(..., return_info=True)``.

    occluders: list of dicts with ``kind`` ('rect' | 'ellipse'), ``center`` (T,2) pixels,
    ``half_size`` (2,) pixels (rect half width/height or ellipse semi-axes), ``active`` (T,)
    bool, ``color`` (3,) RGB. ``gain``/``offset`` (T,) are the lighting curves.
    """

    occluders: list[dict[str, Any]] = field(default_factory=list)
    gain: np.ndarray | None = None
    offset: np.ndarray | None = None


def points_in_occluders(uv: np.ndarray, info: RenderInfo) -> np.ndarray:
    """Boolean (T,N): pixel points ``uv`` (T,N,2) covered by an active occluder."""
    uv = np.asarray(uv, dtype=np.float64)
    out = np.zeros(uv.shape[:-1], dtype=bool)
    for occ in info.occluders:
        c = occ["center"][:, None, :]
        hs = np.asarray(occ["half_size"], dtype=np.float64)
        d = (uv - c) / hs
        if occ["kind"] == "rect":
            hit = np.all(np.abs(d) <= 1.0, axis=-1)
        else:
            hit = np.sum(d * d, axis=-1) <= 1.0
        out |= hit & occ["active"][:, None]
    return out


# ----------------------------------------------------------------------------- background


def _side(name: str) -> str:
    n = name.lower()
    if "left" in n or n.startswith("l_") or n.endswith("_l") or "_l_" in n:
        return "left"
    if "right" in n or n.startswith("r_") or n.endswith("_r") or "_r_" in n:
        return "right"
    return "center"


def _background_model(camera: Camera, rng: np.random.Generator, target: np.ndarray, clutter: bool):
    """Static textured world (floor y=0 + a vertical back wall) seen by ``camera``.

    Returns (atlas uint8 (Ha,Wa,3), map_x (H,W) f32, map_y (H,W) f32, shifts, ppm, shadow_rgb)
    with ``shifts = (mx_dx, mx_dz, my_dz)`` (H,W) f32 weights. The frame for a dolly offset
    (dx, dz) is ``cv2.remap(atlas, map_x + (mx_dx * dx + mx_dz * dz) * ppm, map_y + my_dz *
    dz * ppm)``: the textures live in world coordinates (floor: (x, z); wall: (along,
    height)), so a dolly camera sees the floor move with correct perspective, and the wall
    move along itself. The wall is parallel to X (like the side of a track or a gym wall)
    when the camera looks mostly sideways (|forward_z| >= 0.35), else perpendicular to X;
    a dolly towards or away from the wall is not rendered as a change of scale.
    """
    H, W = camera.height, camera.width
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    rays = pix @ np.linalg.inv(camera.K).T @ camera.R  # world directions (H,W,3)
    C = camera.center
    fwd = camera.R[2]
    wall_axis = 2 if abs(fwd[2]) >= 0.35 else 0  # wall normal along Z (parallel to X) or X
    along_axis = 0 if wall_axis == 2 else 2
    sgn = np.sign(fwd[wall_axis]) or 1.0
    wall_pos = target[wall_axis] + sgn * rng.uniform(2.0, 6.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(rays[..., 1] < -1e-9, -C[1] / rays[..., 1], np.inf)
        t_wall = (wall_pos - C[wall_axis]) / rays[..., wall_axis]
    t_wall = np.where(np.isfinite(t_wall) & (t_wall > 0), t_wall, 1e3)
    floor = t_floor < t_wall
    tt = np.where(floor, t_floor, t_wall)
    hit = C + rays * tt[..., None]
    track_x = camera.track[:, 0] if camera.track is not None else np.zeros(1)
    track_z = camera.track[:, 2] if camera.track is not None else np.zeros(1)
    tmin, tmax = float(track_x.min()), float(track_x.max())
    zmin, zmax = float(track_z.min()), float(track_z.max())
    scale = max(H, W) / 128.0
    ppm = 24.0 * scale

    # ranges (metres) of each region, widened by the dolly travel along X
    def range_of(a, lo_pad, hi_pad, default):
        if a.size == 0:
            return default
        return float(np.min(a)) + lo_pad - 0.5, float(np.max(a)) + hi_pad + 0.5

    f_x = range_of(hit[..., 0][floor], tmin, tmax, (0.0, 1.0))
    f_z = range_of(hit[..., 2][floor], zmin, zmax, (0.0, 1.0))
    dolly_on_wall = along_axis == 0
    w_lo, w_hi = (tmin, tmax) if dolly_on_wall else (zmin, zmax)
    w_a = range_of(hit[..., along_axis][~floor], w_lo, w_hi, (0.0, 1.0))
    w_y = (0.0, max(range_of(hit[..., 1][~floor], 0.0, 0.0, (0.0, 3.0))[1], 0.5))
    # one shared atlas x origin when both regions are indexed by world X
    if dolly_on_wall:
        lo = min(f_x[0], w_a[0])
        hi = max(f_x[1], w_a[1])
        f_x = w_a = (lo, hi)
    span = max(f_x[1] - f_x[0], f_z[1] - f_z[0], w_a[1] - w_a[0], w_y[1] - w_y[0])
    ppm = min(ppm, 3000.0 / max(span, 1e-3))  # cap the atlas size
    Wf, Hf = int(np.ceil((f_x[1] - f_x[0]) * ppm)) + 2, int(np.ceil((f_z[1] - f_z[0]) * ppm)) + 2
    Ww, Hw = int(np.ceil((w_a[1] - w_a[0]) * ppm)) + 2, int(np.ceil((w_y[1] - w_y[0]) * ppm)) + 2
    Wa = max(Wf, Ww)

    # ---- wall texture (atlas rows [0, Hw)): gradient + clutter placed in metres
    wall_col = rng.uniform(90, 200, size=3)
    wall_col2 = np.clip(wall_col + rng.uniform(-50, 50, size=3), 0, 255)
    g = np.linspace(0.0, 1.0, Hw)[:, None, None]
    wall_column = (wall_col2 * (1 - g) + wall_col * g).astype(np.uint8)  # (Hw,1,3)
    wall = np.ascontiguousarray(np.broadcast_to(wall_column, (Hw, Wa, 3)))

    def px(a_, y_):
        return int((a_ - w_a[0]) * ppm), int((w_y[1] - y_) * ppm)

    if clutter:
        area = (w_a[1] - w_a[0]) * min(w_y[1], 4.0)
        n_items = int(np.clip(rng.poisson(0.6 * area) + 6, 6, 80))
        for _ in range(n_items):
            col = tuple(int(c) for c in rng.integers(0, 256, size=3))
            ca = rng.uniform(w_a[0], w_a[1])
            cy = rng.uniform(0.0, min(w_y[1], 3.5))
            kind = rng.integers(0, 4)
            if kind <= 1:  # posters / doors / benches
                w_, h_ = rng.uniform(0.2, 1.8), rng.uniform(0.2, 1.8)
                cv2.rectangle(wall, px(ca - w_ / 2, cy + h_ / 2), px(ca + w_ / 2, cy - h_ / 2), col, -1)
            elif kind == 2:  # lines / poles / stripes
                p1 = px(ca + rng.uniform(-2, 2), cy + rng.uniform(-2, 2))
                cv2.line(wall, px(ca, cy), p1, col, max(1, int(rng.uniform(0.03, 0.15) * ppm)), cv2.LINE_AA)
            else:  # blobs
                ax = (max(1, int(rng.uniform(0.1, 0.6) * ppm)), max(1, int(rng.uniform(0.1, 0.6) * ppm)))
                cv2.ellipse(wall, px(ca, cy), ax, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
    # ---- floor texture (atlas rows [Hw, Hw+Hf)): tiles + court lines, in metres
    # separable construction: 1-D index arrays along x and z, then a palette lookup
    xs = f_x[0] + (np.arange(Wa) + 0.5) / ppm
    zs = f_z[0] + (np.arange(Hf) + 0.5) / ppm
    floor_col = rng.uniform(60, 170, size=3)
    floor_col2 = np.clip(floor_col * rng.uniform(0.75, 0.95), 0, 255)
    tile = rng.uniform(0.5, 1.5)
    cx = np.floor(xs / tile).astype(np.int64) % 2
    cz = np.floor(zs / tile).astype(np.int64) % 2
    idx = (cz[:, None] + cx[None, :]) % 2  # (Hf,Wa) checker 0/1
    palette = [floor_col, floor_col2]
    if clutter:
        palette.append(rng.uniform(180, 255, size=3))  # court lines
        period = rng.uniform(2.0, 5.0)
        lw = 0.04
        lx = np.abs(((xs + rng.uniform(0, period)) % period) - period / 2) < lw
        lz = np.abs(((zs + rng.uniform(0, period)) % period) - period / 2) < lw
        idx = np.where(lz[:, None] | lx[None, :], 2, idx)
    floor_img = np.asarray(palette, dtype=np.float64).astype(np.uint8)[idx]
    atlas = np.concatenate([wall, floor_img], axis=0)
    if clutter:
        noise = rng.integers(-9, 10, size=atlas.shape[:2] + (1,), dtype=np.int16)
        atlas = np.clip(atlas + noise, 0, 255).astype(np.uint8)
    atlas = cv2.GaussianBlur(atlas, (3, 3), 0)

    map_x = np.where(floor, (hit[..., 0] - f_x[0]) * ppm, (hit[..., along_axis] - w_a[0]) * ppm)
    map_y = np.where(floor, Hw + (hit[..., 2] - f_z[0]) * ppm, (w_y[1] - hit[..., 1]) * ppm)
    mx_dx = np.where(floor | dolly_on_wall, 1.0, 0.0).astype(np.float32)
    mx_dz = np.where(~floor & (along_axis == 2), 1.0, 0.0).astype(np.float32)
    my_dz = np.where(floor, 1.0, 0.0).astype(np.float32)
    return (
        np.ascontiguousarray(atlas),
        (map_x - 0.5).astype(np.float32),
        (map_y - 0.5).astype(np.float32),
        (mx_dx, mx_dz, my_dz),
        ppm,
        floor_col2 * 0.45,
    )


# ----------------------------------------------------------------------------- render


def _default_colors(capsules: Sequence[Capsule], rng: np.random.Generator) -> list[np.ndarray]:
    shirt = rng.uniform(60, 230, size=3)
    shorts = rng.uniform(20, 120, size=3)
    skin = np.array([224.0, 172.0, 140.0]) * rng.uniform(0.6, 1.05)
    cols = []
    for c in capsules:
        n = c.name.lower()
        if "head" in n or "neck" in n:
            base = skin
        elif any(k in n for k in ("thigh", "pelvis", "hip")):
            base = shorts
        elif any(k in n for k in ("shank", "shin", "leg", "calf", "forearm", "hand")):
            base = skin
        elif any(k in n for k in ("foot", "toe", "shoe")):
            base = np.array([40.0, 40.0, 50.0])
        else:
            base = shirt
        side = _side(n)
        tint = {"left": np.array([-35.0, -5.0, 45.0]), "right": np.array([45.0, -5.0, -35.0])}.get(side, np.zeros(3))
        cols.append(np.clip(base + tint, 0, 255))
    return cols


def _plan_occluders(rng, T, body_uv_min, body_uv_max, W, H) -> list[dict[str, Any]]:
    occs = []
    n = int(rng.integers(1, 3))
    for _ in range(n):
        dur = int(np.clip(round(T * rng.uniform(0.2, 0.5)), 1, T))
        t0 = int(rng.integers(0, T - dur + 1))
        active = np.zeros(T, dtype=bool)
        active[t0 : t0 + dur] = True
        # body box at mid-window
        tm = t0 + dur // 2
        lo, hi = body_uv_min[tm], body_uv_max[tm]
        bh = max(hi[1] - lo[1], 4.0)
        half = np.array([rng.uniform(0.08, 0.2), rng.uniform(0.1, 0.25)]) * bh
        y = rng.uniform(lo[1], hi[1])
        # sweep horizontally across the body box during the active window
        start_x = lo[0] - half[0]
        end_x = hi[0] + half[0]
        if rng.random() < 0.5:
            start_x, end_x = end_x, start_x
        frac = np.clip((np.arange(T) - t0) / max(dur - 1, 1), 0.0, 1.0)
        cx = start_x + (end_x - start_x) * frac
        cy = y + rng.uniform(-0.15, 0.15) * bh * frac
        occs.append(
            {
                "kind": "rect" if rng.random() < 0.5 else "ellipse",
                "center": np.stack([cx, cy], axis=-1),
                "half_size": half,
                "active": active,
                "color": rng.integers(0, 256, size=3),
            }
        )
    return occs


def render_video(
    capsules: Sequence[Capsule],
    camera: Camera,
    fps: float,
    duration_frames: int,
    rng: np.random.Generator,
    *,
    clutter: bool = True,
    lighting_change: bool = True,
    occluders: bool = True,
    colors: dict[str, Sequence[float]] | Sequence[Sequence[float]] | None = None,
    shadow: bool = True,
    noise_sd: float = 3.0,
    draw_body: bool = True,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, RenderInfo]:
    """Render ``duration_frames`` RGB frames (T,H,W,3) uint8 of the capsule body.

    ``colors``: optional RGB per capsule (dict name->rgb, or list aligned with ``capsules``);
    missing names get the default palette. Capsules must have at least ``duration_frames``
    frames. ``fps`` sets the flicker frequency of the lighting change. All randomness comes
    from ``rng`` (same seed -> identical video). ``draw_body=False`` renders the same clip
    without the body (useful for masks/tests). With ``return_info=True`` returns
    ``(frames, RenderInfo)``.
    """
    rng = np.random.default_rng(rng)
    T = int(duration_frames)
    H, W = camera.height, camera.width
    K = len(capsules)
    for c in capsules:
        if c.p0.shape[0] < T:
            raise ValueError(f"capsule {c.name!r} has {c.p0.shape[0]} frames < duration_frames={T}")
    info = RenderInfo()

    if K:
        P0 = np.stack([c.p0[:T] for c in capsules], axis=1)  # (T,K,3)
        P1 = np.stack([c.p1[:T] for c in capsules], axis=1)
        rad = np.array([c.radius for c in capsules])
        uv0, d0 = camera.project(P0)
        uv1, d1 = camera.project(P1)
        dmean = 0.5 * (d0 + d1)
        valid = (d0 > 0.05) & (d1 > 0.05)
        r_px = camera.fx * rad[None, :] / np.maximum(dmean, 0.05)
        allpts = np.concatenate([uv0, uv1], axis=1)
        body_min = allpts.min(axis=1) - r_px.max(axis=1, keepdims=True)
        body_max = allpts.max(axis=1) + r_px.max(axis=1, keepdims=True)
        body_center = 0.5 * (P0 + P1).mean(axis=1)  # (T,3)
    else:
        body_min = np.tile([W * 0.4, H * 0.3], (T, 1))
        body_max = np.tile([W * 0.6, H * 0.9], (T, 1))
        body_center = None

    target = body_center.mean(0) if body_center is not None else camera.center + 4.0 * camera.R[2]
    atlas, map_x, map_y, (mx_dx, mx_dz, my_dz), ppm, shadow_col = _background_model(camera, rng, target, clutter)
    track = camera.track[:T] if camera.track is not None else np.zeros((1, 3))
    moving = bool(np.ptp(track[:, 0]) > 0 or np.ptp(track[:, 2]) > 0)
    bg = None
    fast_pan = moving and np.ptp(track[:, 2]) == 0 and bool(np.all(mx_dx == 1.0))
    if fast_pan:
        # pure horizontal atlas shift: slice the atlas by the integer part and use
        # fixed-point maps precomputed for 4 sub-pixel phases (1/4 atlas px accuracy)
        track_x = track[:, 0]
        off = (track_x - track_x.min()) * ppm
        k_int = np.floor(off).astype(np.int64)
        q_sub = np.round((off - k_int) * 4).astype(np.int64)
        k_int += q_sub // 4
        q_sub %= 4
        base_x = map_x + np.float32(track_x.min() * ppm)
        fixed_maps = [cv2.convertMaps(base_x + np.float32(q / 4.0), map_y, cv2.CV_16SC2) for q in range(4)]
    elif not moving:
        dx0, dz0 = np.float32(track[0, 0] * ppm), np.float32(track[0, 2] * ppm)
        bg = cv2.remap(atlas, map_x + (mx_dx * dx0 + mx_dz * dz0), map_y + my_dz * dz0, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)

    # colours
    default_cols = _default_colors(capsules, rng)
    if colors is not None:
        if isinstance(colors, dict):
            cols = [np.asarray(colors.get(c.name, dc), float) for c, dc in zip(capsules, default_cols)]
        else:
            cols = [np.asarray(c, float) for c in colors]
    else:
        cols = default_cols

    # depth shading: 1.0 at nearest capsule depth, darker further away
    if K:
        dn = (dmean - dmean.min()) / max(float(np.ptp(dmean)), 1e-6)
        shade = 1.0 - 0.35 * dn  # (T,K)
        base_cols = np.stack(cols)[None] * shade[..., None]  # (T,K,3)
        hi_cols = np.clip(base_cols * 1.25 + 25.0, 0, 255)
        order = np.argsort(-dmean, axis=1)  # far first
        q0 = np.round(uv0 * _SCALE).astype(np.int64)
        q1 = np.round(uv1 * _SCALE).astype(np.int64)
        thick = np.maximum(np.round(2.0 * r_px).astype(np.int64), 1)
        hi_thick = np.maximum(np.round(0.7 * r_px).astype(np.int64), 1)
        # highlight offset toward the upper-left light (in pixels)
        hoff = np.round(-0.35 * r_px * _SCALE).astype(np.int64)
        # capsules to draw: in front of the camera, endpoints within cv2's coordinate range
        huge = 1 << 20
        drawable = valid & (np.abs(q0) <= huge).all(-1) & (np.abs(q1) <= huge).all(-1)
        # plain Python containers are much faster than numpy scalars in the draw loop
        q0l, q1l = q0.tolist(), q1.tolist()
        thickl, hithl, hoffl = thick.tolist(), hi_thick.tolist(), hoff.tolist()
        bcl, hcl = base_cols.tolist(), hi_cols.tolist()
        orderl, validl = order.tolist(), drawable.tolist()

    # shadow: ellipse on the floor under the body centre
    shadow_polys = None
    if shadow and K:
        ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = np.stack([0.45 * np.cos(ang), np.zeros_like(ang), 0.3 * np.sin(ang)], axis=-1)
        pts = np.array([body_center[:, 0], np.zeros(T), body_center[:, 2]]).T[:, None, :] + ring[None]
        suv, sd = camera.project(pts)
        shadow_ok = np.all(sd > 0.05, axis=1)
        shadow_polys = np.round(suv * _SCALE).astype(np.int32)
        shadow_c = tuple(float(x) for x in shadow_col)

    if occluders:
        info.occluders = _plan_occluders(rng, T, body_min, body_max, W, H)

    # lighting curves
    tt = np.arange(T) / max(fps, 1e-6)
    if lighting_change:
        g0, g1 = rng.uniform(0.75, 1.15, size=2)
        amp = rng.uniform(0.0, 0.08)
        freq = rng.uniform(0.3, 3.0)
        phase = rng.uniform(0, 2 * np.pi)
        gain = g0 + (g1 - g0) * np.linspace(0, 1, T) + amp * np.sin(2 * np.pi * freq * tt + phase)
        offset = rng.uniform(-15, 15) * np.linspace(0, 1, T) + rng.uniform(-10, 10)
    else:
        gain = np.ones(T)
        offset = np.zeros(T)
    info.gain, info.offset = gain, offset
    luts = np.clip(np.arange(256)[None, :] * gain[:, None] + offset[:, None], 0, 255).astype(np.uint8)

    # sensor noise bank (signed noise split into +/- uint8 parts), cropped at random offsets
    pad = 8
    nb = 4
    if noise_sd > 0:
        nz = rng.normal(0.0, noise_sd, size=(nb, H + pad, W + pad, 3))
        npos = np.clip(nz, 0, 255).astype(np.uint8)
        nneg = np.clip(-nz, 0, 255).astype(np.uint8)
        offs = rng.integers(0, pad + 1, size=(T, 2))

    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    for t in range(T):
        img = frames[t]
        if bg is not None:
            img[...] = bg
        elif fast_pan:
            m1, m2 = fixed_maps[q_sub[t]]
            cv2.remap(atlas[:, k_int[t] :], m1, m2, cv2.INTER_LINEAR, dst=img, borderMode=cv2.BORDER_REPLICATE)
        else:
            dx, dz = np.float32(track[t, 0] * ppm), np.float32(track[t, 2] * ppm)
            cv2.remap(atlas, map_x + (mx_dx * dx + mx_dz * dz), map_y + my_dz * dz, cv2.INTER_LINEAR,
                      dst=img, borderMode=cv2.BORDER_REPLICATE)
        if shadow_polys is not None and shadow_ok[t]:
            cv2.fillConvexPoly(img, shadow_polys[t], shadow_c, cv2.LINE_AA, _SHIFT)
        if K and draw_body:
            a_t, b_t, th_t, hth_t, ho_t = q0l[t], q1l[t], thickl[t], hithl[t], hoffl[t]
            bc_t, hc_t, v_t = bcl[t], hcl[t], validl[t]
            for k in orderl[t]:
                if not v_t[k]:
                    continue
                a, b = a_t[k], b_t[k]
                cv2.line(img, a, b, bc_t[k], th_t[k], cv2.LINE_AA, _SHIFT)
                o = ho_t[k]
                cv2.line(img, (a[0] + o, a[1] + o), (b[0] + o, b[1] + o), hc_t[k], hth_t[k], cv2.LINE_AA, _SHIFT)
        for occ in info.occluders:
            if not occ["active"][t]:
                continue
            c = occ["center"][t]
            hs = occ["half_size"]
            col = tuple(float(x) for x in occ["color"])
            if occ["kind"] == "rect":
                p0 = (int(round((c[0] - hs[0]) * _SCALE)), int(round((c[1] - hs[1]) * _SCALE)))
                p1 = (int(round((c[0] + hs[0]) * _SCALE)), int(round((c[1] + hs[1]) * _SCALE)))
                cv2.rectangle(img, p0, p1, col, -1, cv2.LINE_AA, _SHIFT)
            else:
                cv2.ellipse(
                    img,
                    (int(round(c[0] * _SCALE)), int(round(c[1] * _SCALE))),
                    (int(round(hs[0] * _SCALE)), int(round(hs[1] * _SCALE))),
                    0.0, 0.0, 360.0, col, -1, cv2.LINE_AA, _SHIFT,
                )
        cv2.LUT(img, luts[t], dst=img)
        if noise_sd > 0:
            j = t % nb
            oy, ox = offs[t]
            cv2.add(img, npos[j, oy : oy + H, ox : ox + W], dst=img)
            cv2.subtract(img, nneg[j, oy : oy + H, ox : ox + W], dst=img)
    if return_info:
        return frames, info
    return frames


# ----------------------------------------------------------------------------- mp4 I/O


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Write RGB uint8 frames (T,H,W,3) to an mp4 (fourcc 'mp4v')."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_mp4: expected uint8 (T,H,W,3), got {frames.dtype} {frames.shape}")
    T, H, W, _ = frames.shape
    if T == 0:
        raise ValueError(f"write_mp4: no frames to write to {path}")
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (W, H))
    if not writer.isOpened():
        raise OSError(f"write_mp4: cannot open video writer for {path}")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def read_mp4(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a video -> (RGB uint8 frames (T,H,W,3), fps).

    Raises FileNotFoundError if ``path`` does not exist and ``VideoReadError`` (naming the
    path) if it cannot be opened/decoded, has zero frames, or decodes fewer frames than its
    container declares (truncated file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_mp4: video file not found: {path}")
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise VideoReadError(f"read_mp4: cannot open/decode video {path} (corrupt or truncated?)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        out = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not out:
        raise VideoReadError(f"read_mp4: no frames could be decoded from {path} (corrupt, truncated or empty)")
    if declared > 0 and len(out) < declared:
        raise VideoReadError(
            f"read_mp4: decoded only {len(out)} of {declared} declared frames from {path} (truncated?)"
        )
    return np.stack(out), fps
