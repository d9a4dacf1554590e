"""Golden vectors for picket-track's filter, from filterpy (an independent
implementation). Regenerate with:

    pip install filterpy==1.4.5 numpy
    python3 crates/track/tests/golden/gen_filterpy.py > crates/track/tests/golden/filterpy.csv

Each row: kind, dt, q, the prior mean (4) and covariance (16, row-major),
the measurement parameters (6, meaning per kind below), then the posterior
mean (4) and covariance (16) after predict(dt) + update. The state order
is picket's [x, y, vx, vy]; filterpy's Q_continuous_white_noise works in
[x, vx, y, vy] blocks, so it is permuted (which also checks picket's Q).

measurement parameters:
  position:      x, y, var_x, var_y, 0, 0
  range_bearing: sensor_x, sensor_y, range, bearing, var_range, var_bearing
  bearing:       sensor_x, sensor_y, bearing, var_bearing, 0, 0
Bearings are azimuths clockwise from north: atan2(dx, dy).
"""
import sys

import numpy as np
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import ExtendedKalmanFilter, KalmanFilter

PERM = [0, 2, 1, 3]  # picket index -> filterpy block index


def wrap(a):
    a = np.mod(a, 2 * np.pi)
    return a - 2 * np.pi if a > np.pi else a


def transition(dt):
    f = np.eye(4)
    f[0, 2] = f[1, 3] = dt
    return f


def process_noise(dt, q):
    blocks = Q_continuous_white_noise(dim=2, dt=dt, spectral_density=q, block_size=2)
    return blocks[np.ix_(PERM, PERM)]


def random_prior(rng):
    x = rng.uniform([-500, -500, -10, -10], [500, 500, 10, 10])
    a = rng.normal(size=(4, 4)) * rng.uniform([5, 5, 1, 1], [30, 30, 4, 4])[:, None]
    p = a @ a.T + np.diag([1.0, 1.0, 0.1, 0.1])
    return x, p


def main(out):
    rng = np.random.default_rng(20260301)
    for case in range(30):
        kind = ["position", "range_bearing", "bearing"][case % 3]
        dt = float(rng.uniform(0.1, 3.0))
        q = float(rng.uniform(0.01, 5.0))
        x0, p0 = random_prior(rng)
        f, qm = transition(dt), process_noise(dt, q)
        truth = f @ x0
        if kind == "position":
            var = rng.uniform(4, 200, size=2)
            z = truth[:2] + rng.normal(size=2) * np.sqrt(var)
            kf = KalmanFilter(dim_x=4, dim_z=2)
            kf.x, kf.P, kf.F, kf.Q = x0.copy(), p0.copy(), f, qm
            kf.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
            kf.R = np.diag(var)
            kf.predict()
            kf.update(z)
            params = [z[0], z[1], var[0], var[1], 0.0, 0.0]
            x1, p1 = kf.x, kf.P
        else:
            sensor = rng.uniform(-800, 800, size=2)
            # Half the cases put the target south of the sensor so the
            # azimuth sits near +-pi and the innovation must wrap.
            if case % 2 == 0:
                sensor = np.array([truth[0] + rng.uniform(-3, 3), truth[1] + 300.0])
            d = truth[:2] - sensor
            ekf = ExtendedKalmanFilter(dim_x=4, dim_z=2 if kind == "range_bearing" else 1)
            ekf.x, ekf.P, ekf.F, ekf.Q = x0.copy(), p0.copy(), f, qm

            def rb(x):
                dx, dy = x[0] - sensor[0], x[1] - sensor[1]
                return np.array([np.hypot(dx, dy), np.arctan2(dx, dy)])

            def rb_jacobian(x):
                dx, dy = x[0] - sensor[0], x[1] - sensor[1]
                r2 = dx * dx + dy * dy
                r = np.sqrt(r2)
                full = np.array([[dx / r, dy / r, 0, 0], [dy / r2, -dx / r2, 0, 0]])
                return full if kind == "range_bearing" else full[1:]

            ekf.predict()
            if kind == "range_bearing":
                var = np.array([rng.uniform(4, 100), rng.uniform(1e-5, 1e-3)])
                z = rb(truth) + rng.normal(size=2) * np.sqrt(var)
                z[1] = wrap(z[1])
                ekf.R = np.diag(var)
                ekf.update(z, rb_jacobian, rb,
                           residual=lambda a, b: np.array([a[0] - b[0], wrap(a[1] - b[1])]))
                params = [sensor[0], sensor[1], z[0], z[1], var[0], var[1]]
            else:
                var = rng.uniform(1e-5, 1e-3)
                z = np.array([wrap(rb(truth)[1] + rng.normal() * np.sqrt(var))])
                ekf.R = np.array([[var]])
                ekf.update(z, rb_jacobian, lambda x: rb(x)[1:],
                           residual=lambda a, b: np.array([wrap(a[0] - b[0])]))
                params = [sensor[0], sensor[1], z[0], var, 0.0, 0.0]
            x1, p1 = ekf.x, ekf.P
        row = [kind, dt, q, *x0, *p0.ravel(), *params, *np.ravel(x1), *p1.ravel()]
        out.write(",".join(r if isinstance(r, str) else repr(float(r)) for r in row) + "\n")


if __name__ == "__main__":
    main(sys.stdout)
