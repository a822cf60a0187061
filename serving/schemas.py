"""Request / response schemas of the service (pydantic). Every array field takes either nested JSON
lists or the compact form ``{"b64": <base64 of little-endian float32 bytes>, "shape": [...]}``;
a wrong shape, NaN / inf or an impossible rate is a 400 naming the field (never a 500).

Units and axes (also in ``GET /model``): landmarks are MediaPipe Pose's 33 world landmarks in metres,
camera axes (x right, y down, z away from the camera), optionally a 4th visibility column; image
landmarks are image-normalised (x, y in [0, 1] of the frame, z MediaPipe's relative depth). IMUs are
the 6 sensors of ``biomech.conventions.IMU_SENSORS`` (pelvis, trunk, wrist_l, wrist_r, shank_l,
shank_r), specific force in m/s^2 (gravity included) and angular velocity in rad/s in the sensor
frame. Plates are [right, left] foot plates in the ground frame (X forward, Y up, Z right): force N,
centre of pressure m, free moment N m. Joint angles in degrees (OpenSim names and signs), moments N m.
"""
from __future__ import annotations

import base64
import math
from typing import Annotated, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, PrivateAttr, model_validator
from pydantic.json_schema import SkipJsonSchema

from biomech.conventions import IMU_SENSORS

MAX_SAMPLES = 200_000          # per stream; configurable by the service (serve.max_samples)
N_LANDMARKS = 33


def _bounds30(node) -> None:
    """JSON Schema 2020 numeric exclusive bounds -> OpenAPI 3.0's (``minimum`` + ``exclusiveMinimum: true``)."""
    if isinstance(node, dict):
        for k, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(k), (int, float)) and not isinstance(node.get(k), bool):
                node[base], node[k] = node[k], True
        for v in node.values():
            _bounds30(v)
    elif isinstance(node, list):
        for v in node:
            _bounds30(v)


def _openapi30(schema: dict, cls=None) -> None:
    """OpenAPI 3.0 (BentoML's docs.json) has no ``type: null`` and boolean exclusive bounds: an optional
    field's ``anyOf [..., null]`` becomes its other branch with ``nullable: true``, so schema-driven
    clients and fuzzers (schemathesis) read the schema."""
    for prop in schema.get("properties", {}).values():
        alts = prop.get("anyOf")
        if alts and {"type": "null"} in alts:
            rest = [a for a in alts if a != {"type": "null"}]
            prop.pop("anyOf")
            if len(rest) == 1 and "$ref" not in rest[0]:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
            prop["nullable"] = True
    _bounds30(schema)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_openapi30)


class _StreamModel(_Model):
    """A request stream whose arrays are checked (shape / NaN / length: 400s naming the field) when
    the request is parsed, before any work; ``arrays()`` returns them, ``_arrays()`` builds them."""
    _cache: tuple | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_arrays(self):  # shape / NaN / length errors are 400s naming the field, before any work
        self._cache = self._arrays()
        return self

    def arrays(self) -> tuple:
        return self._cache if self._cache is not None else self._arrays()

    def _arrays(self) -> tuple:  # pragma: no cover - every stream defines it
        raise NotImplementedError


class EncodedArray(_Model):
    b64: str = Field(description="base64 of the little-endian float32 bytes, C order")
    shape: list[Annotated[int, Field(strict=True, ge=1, le=MAX_SAMPLES)]] = Field(min_length=1, max_length=4)


# numpy arrays are accepted from in-process callers and the binary body (POST /binary/recognize,
# serving.binary), never from JSON (so not in the OpenAPI schema)
ArrayIn = Union[SkipJsonSchema[InstanceOf[np.ndarray]], EncodedArray, list]


def encode_plain(a) -> EncodedArray:
    """A numpy array as the compact form (in-process callers, e.g. /analyze)."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return EncodedArray(b64=base64.b64encode(a.tobytes()).decode(), shape=list(a.shape))


def as_array(value, name: str, trailing: tuple, max_rows: int = MAX_SAMPLES, min_rows: int = 4) -> np.ndarray:
    """``value`` (nested lists or EncodedArray) as float64 (N, *trailing); a None in ``trailing``
    accepts any size there. Raises ValueError naming ``name``, the shape seen and the shape expected."""
    want = "(N, " + ", ".join("any" if t is None else str(t) for t in trailing) + ")"
    if isinstance(value, EncodedArray):
        try:
            raw = base64.b64decode(value.b64, validate=True)
        except ValueError as exc:
            raise ValueError(f"{name}: b64 is not valid base64 ({exc})") from None
        n = math.prod(value.shape)
        if len(raw) != 4 * n:
            raise ValueError(f"{name}: {len(raw)} bytes for shape {value.shape} (expected {4 * n}: float32)")
        arr = np.frombuffer(raw, dtype="<f4").reshape(value.shape).astype(np.float64)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{name}: dtype {value.dtype}, expected a float or integer array")
        arr = value.astype(np.float64)
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"{name}: ragged or non-numeric nested lists; expected shape {want}") from None
    if arr.ndim != 1 + len(trailing) or any(t is not None and s != t for s, t in zip(arr.shape[1:], trailing)):
        raise ValueError(f"{name}: shape {list(arr.shape)}, expected {want}")
    if not (min_rows <= arr.shape[0] <= max_rows):
        raise ValueError(f"{name}: {arr.shape[0]} samples, expected {min_rows}..{max_rows}")
    return arr


def timestamps(value, name: str, n: int) -> np.ndarray | None:
    """Optional (N,) sample times, s, strictly increasing (dropped samples leave gaps)."""
    if value is None:
        return None
    t = _finite(as_array(value, name, ()), name)
    if len(t) != n:
        raise ValueError(f"{name}: {len(t)} stamps for {n} samples")
    if (np.diff(t) <= 0).any():
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(f"{name}: not strictly increasing at index {i + 1} ({t[i]!r} -> {t[i + 1]!r})")
    return t


def columns(values: dict, name: str, time=None, time_name: str = "time", rate_hz: float | None = None
            ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Named (T,) columns of one length (``name.<column>``) and their (T,) times: ``time`` when given
    (strictly increasing, one per sample), else ``i / rate_hz`` (None without a rate). Raises
    ValueError naming the field (different lengths, wrong shape, bad stamps)."""
    cols = {k: as_array(v, f"{name}.{k}", ()) for k, v in values.items()}
    lengths = {len(v) for v in cols.values()}
    if len(lengths) != 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(lengths)}")
    n = lengths.pop()
    t = timestamps(time, time_name, n)
    if t is None and rate_hz is not None:
        t = np.arange(n) / rate_hz
    return cols, t


def _finite(arr: np.ndarray, name: str, allow_nan_rows: bool = False) -> np.ndarray:
    if np.isfinite(arr).all():   # the usual case: one pass, no masks
        return arr
    bad = ~np.isfinite(arr)
    if allow_nan_rows:  # a detector leaves whole NaN rows on frames without a person; inf is never valid
        rows = np.isnan(arr).reshape(len(arr), -1).all(1)
        bad[rows] = False
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{name}: non-finite value {arr[i]!r} at index {list(i)}")
    return arr


class Athlete(_Model):
    mass_kg: float = Field(gt=20, lt=300, description="body mass, kg")
    height_m: float = Field(gt=0.8, lt=2.6, description="standing height, m")
    sex: Optional[Literal["male", "female"]] = Field(None, description="de Leva table; unknown: average")


class LandmarksIn(_StreamModel):
    rate_hz: float = Field(ge=10, le=1000, description="video frame rate")
    world: ArrayIn = Field(description="(T, 33, 3 or 4) MediaPipe world landmarks, m, camera axes "
                                       "(+ visibility); rows of NaN (null not allowed) = no person in that frame")
    visibility: Optional[ArrayIn] = Field(None, description="(T, 33) in [0, 1]; default 1 (or world's 4th column)")
    image: Optional[ArrayIn] = Field(None, description="(T, 33, 3) image-normalised landmarks; needed to "
                                                       "synchronise IMU / plate clocks to the video")
    image_size: Optional[list[int]] = Field(None, min_length=2, max_length=2,
                                            description="[width, height] px of the video")
    time: Optional[ArrayIn] = Field(None, description="(T,) frame times, s (default: i / rate_hz)")

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        w = _finite(as_array(self.world, "landmarks.world", (N_LANDMARKS, None)), "landmarks.world", True)
        if w.shape[2] not in (3, 4):
            raise ValueError(f"landmarks.world: shape {list(w.shape)}, expected (T, 33, 3) or (T, 33, 4)")
        vis = w[..., 3] if w.shape[2] == 4 else np.ones(w.shape[:2])
        if self.visibility is not None:
            vis = _finite(as_array(self.visibility, "landmarks.visibility", (N_LANDMARKS,)), "landmarks.visibility")
            if len(vis) != len(w):
                raise ValueError(f"landmarks.visibility: {len(vis)} frames, landmarks.world has {len(w)}")
        vis = np.nan_to_num(vis, nan=0.0)
        if (vis < 0).any() or (vis > 1).any():
            raise ValueError("landmarks.visibility: values outside [0, 1]")
        img = None
        if self.image is not None:
            img = _finite(as_array(self.image, "landmarks.image", (N_LANDMARKS, 3)), "landmarks.image", True)
            if len(img) != len(w):
                raise ValueError(f"landmarks.image: {len(img)} frames, landmarks.world has {len(w)}")
        return w[..., :3], vis, img


class ImuIn(_StreamModel):
    rate_hz: float = Field(ge=20, le=5000)
    acc: ArrayIn = Field(description=f"(N, {len(IMU_SENSORS)}, 3) specific force, m/s^2, sensor frame")
    gyro: ArrayIn = Field(description=f"(N, {len(IMU_SENSORS)}, 3) angular velocity, rad/s")
    t0_s: float = Field(0.0, ge=-60, le=60, description="its clock's stamp of the first sample, s (video clock: "
                                                        "first frame = 0); refined by synchronisation")
    time: Optional[ArrayIn] = Field(None, description="(N,) its own clock's sample times, s (dropped samples "
                                                      "leave gaps); default t0_s + i / rate_hz")

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        S = len(IMU_SENSORS)
        acc = _finite(as_array(self.acc, "imu.acc", (S, 3)), "imu.acc")
        gyro = _finite(as_array(self.gyro, "imu.gyro", (S, 3)), "imu.gyro")
        if len(acc) != len(gyro):
            raise ValueError(f"imu.gyro: {len(gyro)} samples, imu.acc has {len(acc)}")
        return acc, gyro


class GrfIn(_StreamModel):
    rate_hz: float = Field(ge=50, le=10000)
    force: ArrayIn = Field(description="(N, 2, 3) force per plate [right, left], N, ground frame")
    cop: ArrayIn = Field(description="(N, 2, 3) centre of pressure, m")
    free_moment: Optional[ArrayIn] = Field(None, description="(N, 2) free moment, N m (default 0)")
    t0_s: float = Field(0.0, ge=-60, le=60)
    time: Optional[ArrayIn] = Field(None, description="(N,) sample times, s; default t0_s + i / rate_hz")

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = _finite(as_array(self.force, "grf.force", (2, 3)), "grf.force")
        c = _finite(as_array(self.cop, "grf.cop", (2, 3)), "grf.cop")
        m = (np.zeros(f.shape[:2]) if self.free_moment is None
             else _finite(as_array(self.free_moment, "grf.free_moment", (2,)), "grf.free_moment"))
        for name, a in (("grf.cop", c), ("grf.free_moment", m)):
            if len(a) != len(f):
                raise ValueError(f"{name}: {len(a)} samples, grf.force has {len(f)}")
        return f, c, m


class RecognizeRequest(_Model):
    """One recording (a single window or a whole sequence) of any subset of modalities."""
    athlete: Athlete
    landmarks: Optional[LandmarksIn] = None
    imu: Optional[ImuIn] = None
    grf: Optional[GrfIn] = None
    synchronise: bool = Field(True, description="recover the IMU / plate clock offsets from the data (needs "
                                                "landmarks.image); false: the streams' stamps are already on the "
                                                "video clock, no recovery (about half the preprocessing time), and "
                                                "the response's sync says method 'none', error 'sync disabled'")
    top_k: int = Field(3, ge=1, le=12)


class ClassProbability(_Model):
    action: str
    probability: float


class WindowResult(_Model):
    t_start_s: float
    t_end_s: float
    action: str
    probabilities: dict[str, float]
    top_k: list[ClassProbability]
    fault: Optional[dict[str, float]] = Field(None, description="technique-fault probabilities given the predicted action (faults the action cannot have: 0)")
    moving: bool = Field(True, description="the athlete moves in this window, by the rule that cut the training windows "
                                           "(preprocessing.clip.moving_windows); false: no window like it was trained or "
                                           "scored, so its action is a guess")


class Segment(_Model):
    action: str
    t_start_s: float
    t_end_s: float
    probability: float = Field(description="mean calibrated probability of the action over the segment")


class RecognizeResponse(_Model):
    model: str
    temperature: float
    temperature_source: str
    modalities_used: dict[str, bool]
    windows: list[WindowResult]
    frame_rate_hz: float
    frame_t0_s: float
    phase: list[str] = Field(description="per timeline frame: preparation / core / recovery")
    segments: list[Segment]
    sync: dict
    units: dict = Field(default_factory=lambda: {"time": "s, video clock (first frame = 0)",
                                                 "probabilities": "calibrated softmax(logits / temperature)"})


class TorqueRequest(_Model):
    """Joint angles (OpenSim names, degrees; pelvis translations m) + plates, as JSON."""
    athlete: Athlete
    rate_hz: float = Field(ge=100, le=2000, description="IK rate (>= 100 Hz, as the inverse dynamics requires)")
    coordinates: dict[str, ArrayIn] = Field(description="{OpenSim coordinate: (T,) values}")
    time: Optional[ArrayIn] = Field(None, description="(T,) s; default i / rate_hz")
    grf_rate_hz: Optional[float] = Field(None, ge=50, le=10000)
    grf_time: Optional[ArrayIn] = Field(None, description="(N,) plate sample times, s, on the IK clock "
                                                          "(dropped samples leave gaps); default i / grf_rate_hz")
    plates: Optional[dict[str, dict[str, ArrayIn]]] = Field(
        None, description="{prefix: {force (N,3) N, point (N,3) m, torque (N,3) N m}} in ground; omit: estimated")
    external_loads: Optional[dict[str, Literal["r", "l"]]] = Field(None, description="{plate prefix: foot}; "
                                                                                     "omit: automatic")
    model: Optional[str] = Field(None, description="coordinate convention: gait2392, gait2354, rajagopal2016, "
                                                   "athlete-mm (detected when omitted)")
    cutoff_hz: float = Field(12.0, ge=0, le=50, description="Butterworth low-pass of kinematics and plates; 0 = none")
    uncertainty: int = Field(8, ge=0, le=64, description="body models drawn for the per-moment sd (0 = none)")
    sync_plates_s: float = Field(0.0, ge=0, le=0.5, description="refine the plates' clock within +- this, s")


class TorqueResponse(_Model):
    time_s: list[float]
    moments: dict[str, list[float]]
    sd: Optional[dict[str, list[float]]] = None
    model_signs: str
    plate_assignment: dict[str, str]
    assignment_source: str
    grf_estimated: bool
    cutoff_hz: Optional[float]
    notes: list[str]
    sto: Optional[str] = Field(None, description="the moments as an OpenSim .sto file (torque_files output=sto)")
    units: dict = Field(default_factory=lambda: {"moments": "N m, OpenSim <coordinate>_moment, input model's signs",
                                                 "sd": "N m, spread over body models (de Leva +- segment error)",
                                                 "time": "s (the IK file's)"})


# ---------------------------------------------------------------------------------- technique feedback
class JointDeviation(_Model):
    deviation_deg: float = Field(description="largest deviation held for window_s (segment - reference), deg; "
                                             "the clean clips' spread (corridor_sd x sd) taken off first")
    rmse_deg: float = Field(description="RMSE against the reference along the DTW path, deg")
    flagged: bool = Field(description="|deviation_deg| >= threshold_deg")


class ValgusFlag(_Model):
    peak_nm: dict[str, float] = Field(description="max internal knee_adduction_<side>_moment over the segment "
                                                  "(+ = towards varus, balancing an external valgus load), N m")
    threshold_nm: float
    flagged: list[str]


class LoadFlag(_Model):
    asymmetry: float = Field(description="95th percentile of |F1 - F2| / (F1 + F2) of the two plates' vertical "
                                         "forces while both feet are down (0: even, 1: all on one foot)")
    reference_asymmetry: float = Field(description="the same figure's 95th percentile over the class's clean "
                                                   "training clips")
    margin: float = Field(description="flagged at asymmetry - reference_asymmetry >= margin")
    flagged: bool
    heavier: str = Field(description="the leg (plate-to-foot assignment) or plate carrying more")
    heavier_share: float = Field(description="its share of the load at that percentile, 0.5-1")
    double_support_s: float = Field(description="time with both feet down in the segment, s")


class DetectorFlag(_Model):
    value: float = Field(description="valgus_angle: direction of the bent knee inwards of straight ahead, deg "
                                     "(landmarks); landing_load_rate: peak vertical plate force after touchdown "
                                     "over the time to it, body weights / s (plates); trunk_lean_change: the trunk's tilt "
                                     "from its starting posture, 95th percentile, deg (landmarks)")
    reference_median: float = Field(description="the class's clean training clips' median (landing_load_rate: "
                                                "of the natural log)")
    reference_sd: float = Field(description="their robust sd (1.4826 MAD), on the same scale")
    z: float = Field(description="(value - median) / sd towards the fault")
    z_threshold: Optional[float] = Field(description="flagged at z >= this (None: the detector is off)")
    flagged: bool


class SegmentFeedback(_Model):
    action: str
    t_start_s: float
    t_end_s: float
    skipped: Optional[str] = Field(None, description="why no feedback was computed for this segment")
    reference: Optional[str] = None
    reference_clips: Optional[int] = Field(None, description="clean training clips behind the reference")
    threshold_deg: Optional[float] = None
    joints: dict[str, JointDeviation] = Field(default_factory=dict)
    flagged_joints: list[str] = Field(default_factory=list, description="largest deviation first")
    knee_rmse_deg: dict[str, float] = Field(default_factory=dict)
    knee_rmse_threshold_deg: Optional[float] = None
    knee_rmse_warning: list[str] = Field(default_factory=list)
    valgus: Optional[ValgusFlag] = Field(None, description="None: no moments given")
    load: Optional[LoadFlag] = Field(None, description="plate load share; None: no plates, no double support "
                                                       "or no load reference for the class")
    detectors: dict[str, DetectorFlag] = Field(default_factory=dict, description="scalar detectors measured "
                                               "(biomech.feedback.DETECTORS): valgus_angle, landing_load_rate, "
                                               "trunk_lean_change")
    messages: list[str] = Field(default_factory=list, description="what to correct, in words")


class SegmentIn(_Model):
    action: str
    t_start_s: float = Field(ge=-1e5, le=1e5)
    t_end_s: float = Field(ge=-1e5, le=1e5)


class PlatesIn(_Model):
    """Two force plates (one foot each) for the load flag of /feedback."""
    force_y: ArrayIn = Field(description="(N, 2) vertical force per plate, N")
    time: ArrayIn = Field(description="(N,) s on the angles' clock, strictly increasing")
    mass_kg: float = Field(gt=20, lt=300, description="body mass, kg (the double-support thresholds)")
    sides: Optional[list[Literal["r", "l"]]] = Field(None, min_length=2, max_length=2,
                                                     description="the foot on each plate (for the message)")


class FeedbackRequest(_Model):
    """Joint angles of one recording (OpenSim names, degrees) + its segments -> feedback per segment."""
    rate_hz: float = Field(ge=10, le=2000, description="angle sample rate")
    time: Optional[ArrayIn] = Field(None, description="(T,) s; default i / rate_hz")
    angles: dict[str, ArrayIn] = Field(description="{OpenSim coordinate: (T,) degrees}; the legs' and the "
                                                   "trunk's joints (biomech.feedback.FEEDBACK_JOINTS)")
    segments: list[SegmentIn] = Field(min_length=1, max_length=1000)
    moments: Optional[dict[str, ArrayIn]] = Field(None, description="{knee_adduction_r_moment / _l_moment: "
                                                                    "(M,) N m} for the valgus flag")
    moments_time: Optional[ArrayIn] = Field(None, description="(M,) s on the angles' clock")
    plates: Optional[PlatesIn] = Field(None, description="two force plates for the load flag (asymmetric landing)")


class FeedbackResponse(_Model):
    segments: list[SegmentFeedback]
    settings: dict
    units: dict = Field(default_factory=lambda: {"angles": "degrees, OpenSim names and signs", "moments": "N m",
                                                 "time": "s"})
