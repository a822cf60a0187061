"""Contact sheets: one PNG per action class for eyeballing a raw synthetic dataset.

    python -m evaluation.contact_sheets [--raw data/raw/synth] [--out reports/contact_sheets]
                                        [--per-class 1]

For each action class in the manifest, the first clip(s) with force plates (a ``grf.npz`` in
the manifest, i.e. the 'pro' preset) are preferred, else any clip. One sheet shows:

    title    action, fault, athlete sex / height / mass, preset, clip, sanity numbers
    row 1    6 side-view skeletons (lab X-Y of keypoints.npz ``ground``; left blue, right red,
             floor y=0, equal aspect, the same axis limits for the 6 frames)
    row 2    the 6 corresponding video frames (video.mp4)
    row 3    IMU: pelvis |acc| and shank_r / shank_l gyro z (IMU clock)
    row 4    vertical GRF of both plates and their sum in body weights (plate clock), events
    row 5    knee / hip flexion angles (angles.mot) and knee moments, OpenSim ID (moments.sto,
             solid) vs Newton-Euler (moments_ne.sto, dashed) (video clock)

Streams are drawn on their own clocks (no synchronisation is attempted); the x axes of rows
3-5 all span the clip duration so that they line up roughly. The first sheet of a class is
``<action>.png``; further ones (``--per-class`` > 1) are ``<action>_2.png``, ...

Exit status: 0 all sheets written; 1 some clip could not be drawn (message on stderr, the
other sheets are still written); 2 the raw directory or its manifest is missing or empty.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec  # noqa: E402

from biomech.camera import MEDIAPIPE_LANDMARKS  # noqa: E402
from biomech.conventions import ACTIONS, GRAVITY  # noqa: E402
from biomech.io import RawDataError, read_json, read_manifest, read_mot, read_npz  # noqa: E402
from biomech.render import VideoReadError, read_mp4  # noqa: E402

N_FRAMES = 6
FIG_SIZE_IN = (14.0, 16.0)
DPI = 80
RIGHT_COLOR = "tab:red"
LEFT_COLOR = "tab:blue"
MID_COLOR = "0.35"

# MediaPipe pose connections (mediapipe.solutions.pose.POSE_CONNECTIONS).
POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),
)
FOOT_LANDMARKS = tuple(MEDIAPIPE_LANDMARKS.index(n) for n in (
    "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index"))


def _side(i: int) -> str:
    name = MEDIAPIPE_LANDMARKS[i]
    return "l" if "left" in name else "r" if "right" in name else "m"


def _bone_color(a: int, b: int) -> str:
    sa, sb = _side(a), _side(b)
    if sa == sb == "l":
        return LEFT_COLOR
    if sa == sb == "r":
        return RIGHT_COLOR
    return MID_COLOR


# ----------------------------------------------------------------------------- selection

def select_clips(rows: list[dict], per_class: int) -> dict[str, list[tuple[str, str]]]:
    """action -> up to ``per_class`` (athlete_id, clip_id), clips with force plates first."""
    clips: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["athlete_id"], r["clip_id"])
        c = clips.setdefault(key, {"action": r["action"], "preset": r.get("preset", ""), "grf": False})
        if r.get("file") == "grf.npz":
            c["grf"] = True
    by_action: dict[str, list[tuple[bool, tuple[str, str]]]] = {}
    for key in sorted(clips):
        c = clips[key]
        has_plate = c["grf"] or c["preset"] == "pro"
        by_action.setdefault(c["action"], []).append((not has_plate, key))
    order = [a for a in ACTIONS if a in by_action] + sorted(a for a in by_action if a not in ACTIONS)
    return {a: [k for _, k in sorted(by_action[a])[:per_class]] for a in order}


# ----------------------------------------------------------------------------- loading

def load_clip(clip_dir: Path) -> dict:
    """Every stream a sheet needs; raises RawDataError / VideoReadError / FileNotFoundError."""
    meta = read_json(clip_dir / "meta.json")
    _, kp = read_npz(clip_dir / "keypoints.npz", ("time", "ground"))
    imu_header, imu = read_npz(clip_dir / "imu.npz", ("time", "acc", "gyro"))
    grf = None
    if meta.get("modalities", {}).get("grf"):
        _, grf = read_npz(clip_dir / "grf.npz", ("time", "force"))
    frames, fps = read_mp4(clip_dir / "video.mp4")
    angles = read_mot(clip_dir / "angles.mot")
    moments = read_mot(clip_dir / "moments.sto")
    moments_ne = read_mot(clip_dir / "moments_ne.sto")
    return {"meta": meta, "kp": kp, "imu": imu, "imu_sensors": list(imu_header.get("sensors", [])),
            "grf": grf, "frames": frames, "fps": fps, "angles": angles, "moments": moments,
            "moments_ne": moments_ne}


def _column(table: tuple, name: str) -> np.ndarray | None:
    t, cols, data, _ = table
    return data[:, cols.index(name)] if name in cols else None


# ----------------------------------------------------------------------------- drawing

def _skeleton(ax, P: np.ndarray, xlim, ylim) -> None:
    """Side view (lab X horizontal, Y up) of one frame of 33 landmarks."""
    ax.axhline(0.0, color="0.2", lw=1.2, zorder=0)
    # left side wide and pale underneath, right side thin on top: in a symmetric pose the
    # right limb shows as a red core inside a blue halo instead of hiding the left one.
    style = {"l": dict(color=LEFT_COLOR, lw=3.6, alpha=0.55), "m": dict(color=MID_COLOR, lw=1.8),
             "r": dict(color=RIGHT_COLOR, lw=1.5)}
    for layer in ("l", "m", "r"):
        for a, b in POSE_CONNECTIONS:
            col = _bone_color(a, b)
            side = "l" if col == LEFT_COLOR else "r" if col == RIGHT_COLOR else "m"
            if side == layer:
                ax.plot(P[[a, b], 0], P[[a, b], 1], solid_capstyle="round", **style[layer])
    sides = np.array([_side(i) for i in range(len(P))])
    for s, col, ms in (("l", LEFT_COLOR, 3.0), ("m", MID_COLOR, 2.0), ("r", RIGHT_COLOR, 1.8)):
        m = sides == s
        ax.plot(P[m, 0], P[m, 1], "o", ms=ms, color=col)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=7)
    ax.grid(True, lw=0.3, alpha=0.5)


def _line(color: str) -> dict:
    """Line style: left side wide and pale under the thin right side (both stay visible)."""
    if color == LEFT_COLOR:
        return dict(color=color, lw=2.8, alpha=0.5)
    return dict(color=color, lw=1.0)


def _events(ax, events: dict, label: bool = False) -> None:
    for name, t in events.items():
        key = name in ("takeoff", "landing")
        ax.axvline(t, color="k" if key else "0.6", ls="-" if key else ":", lw=1.0 if key else 0.8, zorder=0)
        if label:
            ax.text(t, 0.98, f" {name}", transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="left", fontsize=7, color="k" if key else "0.45")


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="0.4")


def draw_sheet(clip: dict, out_path: Path, clip_label: str) -> dict:
    """Render one contact sheet; returns the sanity numbers printed in its subtitle."""
    meta, kp = clip["meta"], clip["kp"]
    ath = meta.get("athlete", {})
    mass = float(ath.get("mass_kg", np.nan))
    bw = mass * GRAVITY
    duration = float(meta.get("duration_s") or kp["time"][-1])
    events = {k: float(v) for k, v in (meta.get("events_s") or {}).items()}
    checks: dict[str, float] = {}

    fig = plt.figure(figsize=FIG_SIZE_IN, dpi=DPI)
    outer = GridSpec(5, 1, figure=fig, height_ratios=[1.25, 1.0, 1.05, 0.95, 1.25],
                     hspace=0.32, left=0.06, right=0.985, top=0.925, bottom=0.04)
    title = (f"{meta.get('action', '?')}  |  fault: {meta.get('fault', '?')}  |  "
             f"{ath.get('sex', '?')}, {float(ath.get('height_m', np.nan)):.2f} m, {mass:.1f} kg  |  "
             f"preset: {meta.get('preset', '?')}  |  {clip_label}")
    fig.suptitle(title, fontsize=14, fontweight="bold", y=0.992)

    # --- rows 1-2: skeletons and video frames at the same delivered-frame indices
    t_kp, G = kp["time"], kp["ground"].astype(float)
    idx = np.unique(np.clip(np.searchsorted(t_kp, np.linspace(t_kp[0], t_kp[-1], N_FRAMES)), 0, len(t_kp) - 1))
    # Clips that travel (run, sprint, long jump ...) would shrink to stick figures on a common
    # absolute X axis; for them X is drawn relative to the frame's hip midpoint instead (the
    # limits are still shared by the 6 frames, and each title gives the hip midpoint's X).
    hip_x = G[:, [23, 24], 0].mean(1)
    span_x = np.nanmax(G[..., 0]) - np.nanmin(G[..., 0])
    height = np.nanmax(G[..., 1]) - min(np.nanmin(G[..., 1]), 0.0)
    relative = bool(span_x > 1.2 * max(height, 1.0))
    S = G[idx].copy()
    if relative:
        S[..., 0] -= hip_x[idx, None]
    finite = S[np.isfinite(S).all(-1)] if relative else G[np.isfinite(G).all(-1)]
    lo, hi = finite[:, :2].min(0), finite[:, :2].max(0)
    pad = 0.08 * max(hi[1] - min(lo[1], 0.0), 0.5)
    xlim = (lo[0] - pad, hi[0] + pad)
    ylim = (min(lo[1], 0.0) - pad, hi[1] + pad)
    checks["foot_min_y_cm"] = 100 * float(np.nanmin(G[:, FOOT_LANDMARKS, 1]))
    row1 = GridSpecFromSubplotSpec(1, N_FRAMES, subplot_spec=outer[0], wspace=0.12)
    row2 = GridSpecFromSubplotSpec(1, N_FRAMES, subplot_spec=outer[1], wspace=0.06)
    frames = clip["frames"]
    for j in range(N_FRAMES):
        ax = fig.add_subplot(row1[0, j])
        axv = fig.add_subplot(row2[0, j])
        axv.set_xticks([]), axv.set_yticks([])
        if j >= len(idx):
            ax.axis("off"), axv.axis("off")
            continue
        i = int(idx[j])
        _skeleton(ax, S[j], xlim, ylim)
        ax.set_title(f"t = {t_kp[i]:.2f} s" + (f", hip X = {hip_x[i]:.2f} m" if relative else ""), fontsize=9)
        if j == 0:
            ax.set_ylabel("lab Y (m)", fontsize=8)
        ax.set_xlabel("lab X - hip X (m)" if relative else "lab X (m)", fontsize=7, labelpad=1)
        if i < len(frames):
            axv.imshow(frames[i], interpolation="nearest")
            nominal = int(kp["frame_index"][i]) if "frame_index" in kp else i
            axv.set_title(f"frame #{nominal} (t = {t_kp[i]:.2f} s)", fontsize=8)
        else:
            _no_data(axv, "no frame")

    # --- rows 3-5: time series
    # the right 15 % of rows 3-5 holds the legends
    row3 = GridSpecFromSubplotSpec(2, 2, subplot_spec=outer[2], hspace=0.08, width_ratios=[0.85, 0.15])
    row4 = GridSpecFromSubplotSpec(1, 2, subplot_spec=outer[3], width_ratios=[0.85, 0.15])
    row5 = GridSpecFromSubplotSpec(2, 2, subplot_spec=outer[4], hspace=0.08, width_ratios=[0.85, 0.15])
    ax_acc = fig.add_subplot(row3[0, 0])
    ax_gyr = fig.add_subplot(row3[1, 0], sharex=ax_acc)
    ax_grf = fig.add_subplot(row4[0, 0], sharex=ax_acc)
    ax_ang = fig.add_subplot(row5[0, 0], sharex=ax_acc)
    ax_mom = fig.add_subplot(row5[1, 0], sharex=ax_acc)

    imu, sensors = clip["imu"], clip["imu_sensors"]
    t_imu = imu["time"]
    if "pelvis" in sensors:
        acc = np.linalg.norm(imu["acc"][:, sensors.index("pelvis")], axis=-1)
        ax_acc.plot(t_imu, acc, color="k", lw=0.9, label="pelvis |acc|")
        ax_acc.axhline(GRAVITY, color="0.5", ls="--", lw=0.8, label="g")
        checks["pelvis_acc_max_g"] = float(acc.max() / GRAVITY)
    else:
        _no_data(ax_acc, "no pelvis IMU")
    for s, col in (("shank_l", LEFT_COLOR), ("shank_r", RIGHT_COLOR)):
        if s in sensors:
            ax_gyr.plot(t_imu, imu["gyro"][:, sensors.index(s), 2], label=f"{s} gyro z", **_line(col))
    ax_gyr.axhline(0.0, color="0.5", lw=0.6)
    ax_acc.set_ylabel("m/s²", fontsize=9)
    ax_gyr.set_ylabel("rad/s", fontsize=9)
    ax_acc.set_title("IMU (IMU clock)", fontsize=10, loc="left")

    grf = clip["grf"]
    if grf is not None:
        t_g, Fy = grf["time"], grf["force"][:, :, 1].astype(float) / bw
        ax_grf.plot(t_g, Fy[:, 1], label="plate l", **_line(LEFT_COLOR))
        ax_grf.plot(t_g, Fy[:, 0], label="plate r", **_line(RIGHT_COLOR))
        ax_grf.plot(t_g, Fy.sum(1), color="k", lw=1.1, label="total")
        ax_grf.axhline(1.0, color="0.5", ls="--", lw=0.8)
        ax_grf.axhline(0.0, color="0.5", lw=0.6)
        checks["grf_min_bw"] = float(Fy.sum(1).min())
        checks["grf_peak_bw"] = float(Fy.sum(1).max())
    else:
        _no_data(ax_grf, f"no force plates (preset {meta.get('preset', '?')})")
    ax_grf.set_ylabel("Fy / BW", fontsize=9)
    ax_grf.set_title(f"vertical GRF (plate clock), BW = {bw:.0f} N; events on the video clock",
                     fontsize=10, loc="left")

    ang = clip["angles"]
    for name, col, ls in (("knee_angle_l", LEFT_COLOR, "-"), ("knee_angle_r", RIGHT_COLOR, "-"),
                          ("hip_flexion_l", LEFT_COLOR, ":"), ("hip_flexion_r", RIGHT_COLOR, ":")):
        y = _column(ang, name)
        if y is not None:
            ax_ang.plot(ang[0], y, ls=ls, label=name, **_line(col))
    ax_ang.set_ylabel("deg", fontsize=9)
    ax_ang.set_title("joint angles and knee moments (video clock)", fontsize=10, loc="left")

    mom, ne = clip["moments"], clip["moments_ne"]
    diffs = []
    for name, col in (("knee_angle_l_moment", LEFT_COLOR), ("knee_angle_r_moment", RIGHT_COLOR)):
        y_os, y_ne = _column(mom, name), _column(ne, name)
        short = name.replace("_angle", "").replace("_moment", "")
        if y_os is not None:
            ax_mom.plot(mom[0], y_os, label=f"{short} OpenSim ID", **_line(col))
        if y_ne is not None:
            ax_mom.plot(ne[0], y_ne, color="k" if col == RIGHT_COLOR else "0.45", ls="--", lw=0.9,
                        label=f"{short} Newton-Euler")
        if y_os is not None and y_ne is not None and len(y_os) == len(y_ne):
            diffs.append(np.abs(y_os - y_ne).max())
    if diffs:
        checks["knee_moment_id_vs_ne_max_nm"] = float(max(diffs))
    ax_mom.axhline(0.0, color="0.5", lw=0.6)
    ax_mom.set_ylabel("N m", fontsize=9)
    ax_mom.set_xlabel("time (s), each stream on its own clock", fontsize=9)

    for k, ax in enumerate((ax_acc, ax_gyr, ax_grf, ax_ang, ax_mom)):
        _events(ax, events, label=ax is ax_grf)
        for i in idx:  # the times of the 6 frames above
            if ax is not ax_grf:
                ax.axvline(t_kp[i], color="tab:green", lw=0.6, alpha=0.35, zorder=0)
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.tick_params(labelsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, borderaxespad=0.0,
                      frameon=False, handlelength=2.2)
        if ax is not ax_mom and ax is not ax_grf:
            plt.setp(ax.get_xticklabels(), visible=False)
    ax_acc.set_xlim(0.0, duration)

    check_txt = "   ".join(f"{k} = {v:.2f}" for k, v in checks.items())
    fig.text(0.5, 0.962, f"checks: {check_txt}", ha="center", fontsize=9, color="0.25")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=DPI)
    plt.close(fig)
    return checks


# ----------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.contact_sheets", description=__doc__.split("\n")[0])
    p.add_argument("--raw", default="data/raw/synth", type=Path, help="raw dataset directory (with manifest.csv)")
    p.add_argument("--out", default="reports/contact_sheets", type=Path, help="output directory for the PNGs")
    p.add_argument("--per-class", default=1, type=int, help="sheets per action class (default 1)")
    args = p.parse_args(argv)
    if args.per_class < 1:
        print(f"contact_sheets: --per-class must be >= 1 (got {args.per_class})", file=sys.stderr)
        return 2
    if not args.raw.is_dir():
        print(f"contact_sheets: raw dataset directory not found: {args.raw}", file=sys.stderr)
        return 2
    try:
        rows = read_manifest(args.raw)
    except (RawDataError, OSError, csv.Error) as exc:
        print(f"contact_sheets: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"contact_sheets: {args.raw / 'manifest.csv'} lists no clips", file=sys.stderr)
        return 2
    try:
        selection = select_clips(rows, args.per_class)
    except KeyError as exc:
        print(f"contact_sheets: {args.raw / 'manifest.csv'}: missing column {exc}", file=sys.stderr)
        return 2

    failed = 0
    for action, keys in selection.items():
        for n, (athlete_id, clip_id) in enumerate(keys):
            out_path = args.out / (f"{action}.png" if n == 0 else f"{action}_{n + 1}.png")
            clip_dir = args.raw / athlete_id / clip_id
            try:
                clip = load_clip(clip_dir)
                checks = draw_sheet(clip, out_path, f"{athlete_id}/{clip_id}")
            except (RawDataError, VideoReadError, FileNotFoundError, KeyError, ValueError) as exc:
                failed += 1
                plt.close("all")
                print(f"contact_sheets: skipped {action} {athlete_id}/{clip_id}: {exc}", file=sys.stderr)
                continue
            summary = ", ".join(f"{k}={v:.2f}" for k, v in checks.items())
            print(f"wrote {out_path} ({action}, {athlete_id}/{clip_id}; {summary})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
