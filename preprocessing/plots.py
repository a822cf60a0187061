"""One PNG per class: a preprocessed window, every modality on one time axis, phases shaded."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from biomech.conventions import ACTIONS, JOINT_ANGLES, MOMENTS  # noqa: E402

PHASE_COLORS = ("#dbe9f6", "#fde0c5", "#dff0d8")  # preparation, core, recovery
PHASE_NAMES = ("preparation", "core", "recovery")


def _shade(ax, t, phase):
    edges = np.flatnonzero(np.diff(phase)) + 1
    bounds = np.concatenate([[0], edges, [len(phase)]])
    dt = t[1] - t[0] if len(t) > 1 else 0.02
    for a, b in zip(bounds[:-1], bounds[1:]):
        ax.axvspan(t[a] - dt / 2, t[b - 1] + dt / 2, color=PHASE_COLORS[int(phase[a])], zorder=0, lw=0)


def plot_windows(windows: dict, out_dir: Path, p) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("window_*.png"):
        old.unlink()
    paths = []
    fs = p.timeline_hz
    for c, w in sorted(windows.items()):
        L = w["imu"].shape[0]
        t = w["t_start_s"] + np.arange(L) / fs
        mask = w["modality_mask"]
        fig = plt.figure(figsize=(11, 11), dpi=70)
        gs = fig.add_gridspec(6, 1, height_ratios=[1.1, 1, 1, 1, 1, 1], hspace=0.45)
        axv = fig.add_subplot(gs[0])
        Tv = w["video"].shape[0]
        if mask[0]:
            strip = np.concatenate([f.transpose(1, 2, 0) for f in w["video"]], 1)
            axv.imshow(strip, aspect="auto", extent=(t[0], t[-1] + 1 / fs, 0, 1))
        else:
            axv.text(0.5, 0.5, "no video", ha="center", transform=axv.transAxes)
        axv.set_yticks([])
        axv.set_xlim(t[0], t[-1] + 1 / fs)
        axv.set_title(f"{ACTIONS[c]}  ({w['split']}, clip {w['clip_id']}, t0 = {w['t_start_s']:.2f} s, "
                      f"Tv = {Tv}, phases: blue prep / orange core / green recovery)", fontsize=9)
        panels = [
            ("landmarks: hip/knee/ankle y (trunk lengths)", [w["landmarks"][:, j, 1] for j in (24, 26, 28)],
             ["r_hip y", "r_knee y", "r_ankle y"], mask[1]),
            ("IMU pelvis: acc (m/s^2)", [w["imu"][:, 0, k] for k in range(3)], ["acc x", "acc y", "acc z"], mask[2]),
            ("IMU pelvis/shank_r: gyro z (rad/s), euler 1 (deg/10)",
             [w["imu"][:, 0, 5], w["imu"][:, 5, 5], w["imu"][:, 0, 6] / 10], ["pelvis gz", "shank_r gz", "pelvis eul/10"],
             mask[2]),
            ("GRF Fy (BW)", [w["grf"][:, 0, 1], w["grf"][:, 1, 1]], ["right", "left"], mask[3]),
            ("targets: angles (deg), knee moments (N m / 10)",
             [w["angles"][:, JOINT_ANGLES.index("knee_angle_r")], w["angles"][:, JOINT_ANGLES.index("hip_flexion_r")],
              w["moments"][:, MOMENTS.index("knee_angle_r_moment")] / 10],
             ["knee_angle_r", "hip_flexion_r", "knee_r moment/10"], True),
        ]
        for i, (title, ys, labels, present) in enumerate(panels):
            ax = fig.add_subplot(gs[i + 1], sharex=axv)
            _shade(ax, t, w["phase"])
            if present:
                for y, lab in zip(ys, labels):
                    ax.plot(t, y, lw=1.2, label=lab)
                ax.legend(fontsize=7, loc="upper right", ncol=3)
            else:
                ax.text(0.5, 0.5, "modality absent", ha="center", transform=ax.transAxes)
            ax.set_title(title, fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
        ax.set_xlabel("video-clock time (s)")
        path = out_dir / f"window_{ACTIONS[c]}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(str(path))
    return paths
