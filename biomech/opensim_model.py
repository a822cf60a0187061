"""The athlete's OpenSim model, built in code from `biomech.body`, and OpenSim inverse dynamics.

The model mirrors `biomech.body` exactly: the same segments (bodies), masses, centres of mass,
inertias, joint centres, coordinate names, axes and rotation order (CustomJoints with
body-fixed Z-X-Y rotations; welds for head and hands). `write_osim` saves it as an `.osim`
file so a biomechanist can open the athlete in the OpenSim GUI.

`inverse_dynamics` runs OpenSim's `InverseDynamicsSolver` frame by frame with the generator's
exact generalized coordinates, speeds and accelerations and the per-foot ground reaction
forces applied to the foot bodies, and returns the generalized forces in `COORDINATES` order
(N m for rotational coordinates, N for the pelvis translations).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomech.body import JOINTS, Body
from biomech.conventions import COORDINATES, GRAVITY, TRANSLATIONS

try:  # pragma: no cover - import guard gives a clear message instead of a stack trace
    import opensim as osim
except ImportError as exc:  # pragma: no cover
    raise ImportError("opensim 4.6 is required: run `make setup` (scripts/setup.sh)") from exc


def _vec3(v) -> "osim.Vec3":
    return osim.Vec3(float(v[0]), float(v[1]), float(v[2]))


def build_model(body: Body, name: str = "athlete") -> "osim.Model":
    """An OpenSim model of `body` (see module docstring)."""
    model = osim.Model()
    model.setName(name)
    model.setGravity(osim.Vec3(0.0, -GRAVITY, 0.0))
    bodies: dict[str, osim.Body] = {}
    for joint in JOINTS:
        seg = body.segments[joint.child]
        ob = osim.Body(joint.child, seg.mass, _vec3(seg.com),
                       osim.Inertia(*[float(x) for x in seg.inertia], 0.0, 0.0, 0.0))
        model.addBody(ob)
        bodies[joint.child] = ob
        parent = model.getGround() if joint.parent is None else bodies[joint.parent]
        offset = np.zeros(3) if joint.parent is None else body.joint_offsets[joint.child]
        if not joint.axes:
            oj = osim.WeldJoint(joint.name, parent, _vec3(offset), osim.Vec3(0), ob,
                                osim.Vec3(0), osim.Vec3(0))
        else:
            st = osim.SpatialTransform()
            used = {tuple(np.abs(a)) for _, a in joint.axes}
            free_axes = [a for a in ((0, 0, 1), (1, 0, 0), (0, 1, 0)) if a not in used]
            for i in range(3):
                ax = st.updTransformAxis(i)
                if i < len(joint.axes):
                    coord, axis = joint.axes[i]
                    ax.setCoordinateNames(osim.ArrayStr(coord, 1))
                    ax.setAxis(_vec3(axis))
                    ax.set_function(osim.LinearFunction(1.0, 0.0))
                else:
                    ax.setAxis(_vec3(free_axes.pop(0)))
                    ax.set_function(osim.Constant(0.0))
            for i, axis in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
                ax = st.updTransformAxis(3 + i)
                ax.setAxis(_vec3(axis))
                if joint.parent is None:
                    ax.setCoordinateNames(osim.ArrayStr(TRANSLATIONS[i], 1))
                    ax.set_function(osim.LinearFunction(1.0, 0.0))
                else:
                    ax.set_function(osim.Constant(0.0))
            oj = osim.CustomJoint(joint.name, parent, _vec3(offset), osim.Vec3(0), ob,
                                  osim.Vec3(0), osim.Vec3(0), st)
        model.addJoint(oj)
    model.finalizeConnections()
    for i in range(model.getCoordinateSet().getSize()):
        c = model.getCoordinateSet().get(i)
        c.setRangeMin(-10.0 if c.getName() not in TRANSLATIONS else -100.0)
        c.setRangeMax(10.0 if c.getName() not in TRANSLATIONS else 100.0)
    return model


def write_osim(body: Body, path: str | Path, name: str = "athlete") -> Path:
    path = Path(path)
    model = build_model(body, name)
    model.printToXML(str(path))
    return path


def write_external_loads(path: str | Path, grf_file: str | Path, plates: dict[str, str]) -> Path:
    """An OpenSim ExternalLoads .xml: one ExternalForce per plate, {column prefix ('' / '1_' ...):
    the body it acts on} (`foot_r` / `foot_l` on the project's model, e.g. `calcn_r` on a lab's),
    force and point expressed in ground, data from `grf_file`'s `<prefix>ground_force_v*` /
    `_p*` and `<prefix>ground_torque_*` columns."""
    loads = osim.ExternalLoads()
    loads.setDataFileName(str(grf_file))
    for prefix, body in plates.items():
        ef = osim.ExternalForce()
        ef.setName(f"plate_{prefix.rstrip('_') or '0'}_{body}")
        ef.set_applied_to_body(body)
        ef.set_force_expressed_in_body("ground")
        ef.set_point_expressed_in_body("ground")
        ef.set_force_identifier(f"{prefix}ground_force_v")
        ef.set_point_identifier(f"{prefix}ground_force_p")
        ef.set_torque_identifier(f"{prefix}ground_torque_")
        loads.cloneAndAppend(ef)
    loads.printToXML(str(path))
    return Path(path)


def run_inverse_dynamics_tool(model_file: str | Path, coordinates_file: str | Path, external_loads: str | Path,
                              out_dir: str | Path, t0: float, t1: float, cutoff_hz: float = -1.0) -> Path:
    """OpenSim's own InverseDynamicsTool on files (cutoff -1: coordinates not filtered); returns the
    generalized-forces .sto it writes."""
    out_dir = Path(out_dir)
    tool = osim.InverseDynamicsTool()
    tool.setName("athlete_id")
    tool.setModelFileName(str(Path(model_file).resolve()))
    tool.setCoordinatesFileName(str(Path(coordinates_file).resolve()))
    tool.setExternalLoadsFileName(str(Path(external_loads).resolve()))
    tool.setLowpassCutoffFrequency(cutoff_hz)
    tool.setStartTime(t0)
    tool.setEndTime(t1)
    tool.setResultsDir(str(out_dir.resolve()))
    tool.setOutputGenForceFileName("inverse_dynamics.sto")
    excluded = osim.ArrayStr()
    excluded.append("Muscles")
    tool.setExcludedForces(excluded)
    setup = out_dir / "id_setup.xml"
    tool.printToXML(str(setup))
    osim.InverseDynamicsTool(str(setup)).run()  # a tool built from its setup file loads its own model
    return out_dir / "inverse_dynamics.sto"


class InverseDynamics:
    """Reusable OpenSim inverse-dynamics solver for one athlete's model."""

    def __init__(self, body: Body):
        self.body = body
        self.model = build_model(body)
        self.state = self.model.initSystem()
        self.solver = osim.InverseDynamicsSolver(self.model)
        # Find which state q holds each coordinate by probing unit vectors (robust to the
        # multibody tree ordering, which the Python bindings do not expose).
        cs = self.model.getCoordinateSet()
        names = [cs.get(i).getName() for i in range(cs.getSize())]
        missing = set(COORDINATES) - set(names)
        if missing:
            raise RuntimeError(f"OpenSim model lacks coordinates {sorted(missing)}")
        nq = self.state.getNQ()
        if nq != len(COORDINATES):
            raise RuntimeError(f"model has {nq} q's, expected {len(COORDINATES)}")
        perm = np.full(len(COORDINATES), -1)
        for k in range(nq):
            e = np.zeros(nq)
            e[k] = 0.5
            self.state.setQ(osim.Vector.createFromMat(e))
            for i, c in enumerate(COORDINATES):
                if abs(cs.get(c).getValue(self.state) - 0.5) < 1e-12:
                    perm[i] = k
        if (perm < 0).any() or len(set(perm)) != nq:
            raise RuntimeError("could not map OpenSim state q's to coordinates")
        self._perm = perm
        self._inv = np.argsort(self._perm)
        self._foot_index = {
            s: self.model.getBodySet().get(f"foot_{s}").getMobilizedBodyIndex() for s in ("r", "l")
        }

    def solve(self, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray,
              foot_wrench: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Generalized forces (T, n_coords) in COORDINATES order.

        q, qd, qdd: (T, n) in COORDINATES order (rad, rad/s, rad/s^2; m for translations).
        foot_wrench: side -> (force (T,3) N in ground, moment (T,3) N m in ground about the
        foot body's origin): the external load each plate applies to that foot.
        """
        T = q.shape[0]
        n = len(COORDINATES)
        out = np.empty((T, n))
        # state vectors in OpenSim's q order, one row per frame (rows stay alive: no copies)
        Q, U, A = (np.empty((T, n)) for _ in range(3))
        Q[:, self._perm], U[:, self._perm], A[:, self._perm] = q, qd, qdd
        mob = osim.Vector(n, 0.0)
        # per foot: body index and the wrench (moment, force) per frame as plain floats
        feet = [(int(self._foot_index[side]), np.concatenate([M, F], axis=1).tolist())
                for side, (F, M) in foot_wrench.items()]
        Vec3, SpatialVec, from_mat = osim.Vec3, osim.SpatialVec, osim.Vector.createFromMat
        for t in range(T):
            self.state.setQ(from_mat(Q[t]))
            self.state.setU(from_mat(U[t]))
            udot = from_mat(A[t])
            # Applied loads as OpenSim's ID tool sees them: the model's gravity body forces
            # plus each foot's ground reaction wrench (spatial vectors at the body origin).
            self.model.realizePosition(self.state)
            forces = self.model.getGravityBodyForces(self.state)
            for i, W in feet:
                g = forces.get(i)
                gm, gf = g.get(0), g.get(1)
                w = W[t]
                forces.set(i, SpatialVec(Vec3(gm.get(0) + w[0], gm.get(1) + w[1], gm.get(2) + w[2]),
                                         Vec3(gf.get(0) + w[3], gf.get(1) + w[4], gf.get(2) + w[5])))
            out[t] = self.solver.solve(self.state, udot, mob, forces).to_numpy()
        return out[:, self._perm]


# --------------------------------------------------------------------------------------
# MediaPipe-33 marker set (for inverse kinematics from video landmarks, `biomech.ik`)
# --------------------------------------------------------------------------------------
def add_mediapipe_markers(model: "osim.Model", body: Body) -> list[str]:
    """Add one OpenSim marker per MediaPipe Pose landmark to `model`; returns their names.

    Markers are named as MediaPipe names the landmarks (`biomech.camera.MEDIAPIPE_LANDMARKS`)
    and sit on the body's anatomical points (`biomech.body.landmark_attachments`): shoulder,
    hip, knee, ankle, elbow and wrist landmarks at the joint centres (as in Pose2Sim's
    BlazePose marker set, whose knee and ankle markers sit at the distal ends of femur and
    tibia), heel and foot index on the sole, face points on the head, fingers on the hand.
    Call before `initSystem()`.
    """
    from biomech.body import landmark_attachments
    from biomech.camera import MEDIAPIPE_LANDMARKS

    bodies = model.getBodySet()
    for name, (segment, offset) in zip(MEDIAPIPE_LANDMARKS, landmark_attachments(body)):
        model.addMarker(osim.Marker(name, bodies.get(segment), _vec3(offset)))
    model.finalizeConnections()  # so that the model can be written with printToXML
    return list(MEDIAPIPE_LANDMARKS)
