#!/usr/bin/env python3
"""Stock Stone Soup GNN tracker over a neutral detections.jsonl.

Reference only (CI never runs this): it reproduces the Stone Soup figures in
shared/formats/sample/REFERENCE.md so that picket's tests can compare against
an independent tracker on seeded scenarios. Configuration, as REFERENCE.md:

  * CombinedLinearGaussianTransitionModel of ConstantVelocity(q = 0.5) per axis,
    state [x, vx, y, vy];
  * KalmanPredictor / KalmanUpdater;
  * DistanceHypothesiser with Mahalanobis distance, missed_distance 3;
  * GNNWith2DAssignment;
  * MultiMeasurementInitiator confirming after 3 updates (min_points = 3),
    with the same hypothesiser/associator, updater and deleter (stock usage);
  * CompositeDeleter(intersect=False) of UpdateTimeDeleter(5 s) and
    CovarianceBasedDeleter(var_x + var_y > 7200 m^2);
  * one LinearGaussian measurement model per declared variance, attached to
    each Detection.

Initiator prior (REFERENCE.md does not give one; Stone Soup requires it): zero
mean, velocity variance PRIOR_VEL_VAR m^2/s^2 per axis. The position part of the
prior is replaced by the first detection and its measurement noise.

Usage: stonesoup_gnn.py DETECTIONS.jsonl TRACKS.jsonl [PRIOR_VEL_VAR]
"""
import datetime
import json
import sys
import time

import numpy as np
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.error import CovarianceBasedDeleter
from stonesoup.deleter.multi import CompositeDeleter
from stonesoup.deleter.time import UpdateTimeDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.transition.linear import (
    CombinedLinearGaussianTransitionModel, ConstantVelocity)
from stonesoup.predictor.kalman import KalmanPredictor
from stonesoup.tracker.simple import MultiTargetTracker
from stonesoup.types.detection import Detection
from stonesoup.types.state import GaussianState
from stonesoup.updater.kalman import KalmanUpdater

Q = 0.5                 # ConstantVelocity noise diffusion, m^2/s^3, per axis
MISSED_DISTANCE = 3.0   # Mahalanobis gate / missed-detection cost
MIN_POINTS = 3          # updates needed to confirm a track
DELETE_AFTER_S = 5.0    # no update for this long -> delete
MAX_POS_VAR = 7200.0    # var_x + var_y above this -> delete
PRIOR_VEL_VAR = 25.0    # initiator prior velocity variance, (m/s)^2 per axis (see REFERENCE-SEEDED.md)

EPOCH = datetime.datetime(2000, 1, 1)  # scenario t = 0 (any fixed instant)


def read_scans(path):
    """Yield (t, sensor, [(x, y, var_x, var_y), ...]) per scan, in file order.

    A scan is a run of consecutive rows sharing t and sensor.
    """
    scan_key, rows = None, []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            if d.get("kind") != "position":
                raise SystemExit(f"{path}:{lineno}: unsupported kind {d.get('kind')!r}")
            key = (float(d["t"]), d["sensor"])
            if key != scan_key and rows:
                yield (*scan_key, rows)
                rows = []
            scan_key = key
            rows.append((float(d["x"]), float(d["y"]), float(d["var"][0]), float(d["var"][1])))
    if rows:
        yield (*scan_key, rows)


def build_tracker(scans, prior_vel_var):
    transition = CombinedLinearGaussianTransitionModel(
        [ConstantVelocity(Q), ConstantVelocity(Q)])
    # Default model for the updater; every Detection carries its own, which wins.
    default_meas = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.diag([25.0, 25.0]))
    predictor = KalmanPredictor(transition)
    updater = KalmanUpdater(default_meas)
    hypothesiser = DistanceHypothesiser(
        predictor, updater, measure=Mahalanobis(), missed_distance=MISSED_DISTANCE)
    associator = GNNWith2DAssignment(hypothesiser)
    deleter = CompositeDeleter(
        [UpdateTimeDeleter(datetime.timedelta(seconds=DELETE_AFTER_S)),
         CovarianceBasedDeleter(covar_trace_thresh=MAX_POS_VAR, mapping=[0, 2])],
        intersect=False)
    prior = GaussianState(np.zeros((4, 1)), np.diag([0.0, prior_vel_var, 0.0, prior_vel_var]))
    initiator = MultiMeasurementInitiator(
        prior_state=prior, measurement_model=default_meas, deleter=deleter,
        data_associator=associator, updater=updater, min_points=MIN_POINTS)
    return MultiTargetTracker(
        initiator=initiator, deleter=deleter, detector=scans,
        data_associator=associator, updater=updater)


def main(det_path, out_path, prior_vel_var=PRIOR_VEL_VAR):
    # Build all Detections up front (not timed): one measurement model per
    # distinct declared variance, shared by the detections that declare it.
    models, scans, n_det = {}, [], 0
    for t, _sensor, rows in read_scans(det_path):
        ts = EPOCH + datetime.timedelta(seconds=t)
        dets = set()
        for x, y, vx, vy in rows:
            model = models.get((vx, vy))
            if model is None:
                model = models[(vx, vy)] = LinearGaussian(
                    ndim_state=4, mapping=(0, 2), noise_covar=np.diag([vx, vy]))
            dets.add(Detection(np.array([[x], [y]]), timestamp=ts, measurement_model=model))
        n_det += len(rows)
        scans.append((ts, dets))

    tracker = build_tracker(scans, prior_vel_var)
    ids = {}      # Track object -> small integer id, in order of confirmation
    out = []
    start = time.perf_counter()
    for ts, tracks in tracker:
        t = (ts - EPOCH).total_seconds()
        # New tracks get ids in a deterministic order (by position).
        for tr in sorted((tr for tr in tracks if tr not in ids),
                         key=lambda tr: (float(tr.state_vector[0]), float(tr.state_vector[2]))):
            ids[tr] = len(ids) + 1
        for tr in tracks:
            sv = tr.state_vector
            out.append((t, ids[tr], float(sv[0]), float(sv[2]), float(sv[1]), float(sv[3])))
    elapsed = time.perf_counter() - start

    out.sort(key=lambda r: (r[0], r[1]))
    with open(out_path, "w") as f:
        for t, i, x, y, vx, vy in out:
            f.write(json.dumps({"t": t, "track_id": i, "x": round(x, 3), "y": round(y, 3),
                                "vx": round(vx, 4), "vy": round(vy, 4)}) + "\n")
    print(f"{n_det} detections, {len(scans)} scans, {len(ids)} confirmed tracks, "
          f"tracking loop {elapsed:.2f} s, {n_det / elapsed:.0f} detections/s")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], *(float(a) for a in sys.argv[3:]))
