"""Names, orders and sign conventions shared by every stage.

World frame (OpenSim ground): X forward (the athlete's initial facing direction), Y up,
Z to the athlete's right; metres, seconds, newtons. The floor is y = 0; gravity is -9.81 Y.

Segment frames follow OpenSim: origin at the proximal joint centre, X anterior, Y along the
segment pointing proximally (the segment extends along -Y), Z to the right.

Joint coordinates use OpenSim gait-model names. Signs follow the Rajagopal et al. (2016)
full-body model, all rotations in degrees at the edges (files, API), radians inside:
    hip_flexion_*      + flexion            hip_adduction_*    + adduction
    hip_rotation_*     + internal rotation  knee_angle_*       + flexion (0 = straight)
    knee_adduction_*   + varus, - valgus    ankle_angle_*      + dorsiflexion
    lumbar_extension   + extension          lumbar_bending     + bending to the right
    lumbar_rotation    + rotation to the left
    arm_flex_*         + flexion            arm_add_*          + adduction
    arm_rot_*          + internal rotation  elbow_flex_*       + flexion
    pelvis_tilt        + posterior tilt (about +Z)  pelvis_list + about +X
    pelvis_rotation    + about +Y           pelvis_tx/ty/tz    metres
Net joint moments are the moments the proximal segment applies to the distal one, expressed
about the same axes and with the same signs as their coordinate (``<coordinate>_moment``, Nm),
as OpenSim's inverse dynamics reports them.
"""
from __future__ import annotations

GRAVITY = 9.80665

COORDINATES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "knee_adduction_r",
    "ankle_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "knee_adduction_l",
    "ankle_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
    "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r",
    "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l",
)
TRANSLATIONS: tuple[str, ...] = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
# Joint angles that are model targets (everything but the pelvis' global pose).
JOINT_ANGLES: tuple[str, ...] = COORDINATES[6:]
ROOT_COORDINATES: tuple[str, ...] = COORDINATES[:6]  # pelvis pose in the ground frame

MOMENT_COORDINATES: tuple[str, ...] = (
    "hip_flexion_r", "hip_adduction_r", "knee_angle_r", "knee_adduction_r", "ankle_angle_r",
    "hip_flexion_l", "hip_adduction_l", "knee_angle_l", "knee_adduction_l", "ankle_angle_l",
)
MOMENTS: tuple[str, ...] = tuple(f"{c}_moment" for c in MOMENT_COORDINATES)

IMU_SENSORS: tuple[str, ...] = ("pelvis", "trunk", "wrist_l", "wrist_r", "shank_l", "shank_r")
IMU_CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")

# One force plate under each foot, OpenSim external-loads names (r_ = right foot, l_ = left):
# force (N, ground frame), centre of pressure (m, ground frame), free moment about +Y (N m).
FEET: tuple[str, ...] = ("r", "l")
GRF_QUANTITIES: tuple[str, ...] = ("vx", "vy", "vz", "px", "py", "pz", "torque_y")
GRF_COLUMNS: tuple[str, ...] = tuple(
    f"{f}_ground_{'torque_y' if q == 'torque_y' else 'force_' + q}"
    for f in FEET
    for q in GRF_QUANTITIES
)

MODALITIES: tuple[str, ...] = ("video", "landmarks", "imu", "grf")

# Twelve action classes from the papers' sports and exercises. All are performed on the feet
# (the force plates see every external contact), see biomech/motions.py.
ACTIONS: tuple[str, ...] = (
    "walk", "run", "sprint_start", "standing_long_jump", "countermovement_jump",
    "jump_shot", "tennis_serve", "squat", "lunge", "jumping_jack", "soccer_kick",
    "lateral_shuffle",
)
