#!/usr/bin/env python3
"""Generates geodesy/golden.csv, the reference for tests/geodesy.rs.

An independent implementation (pymap3d, `pip install pymap3d`) converts
fixed WGS84 points to ECEF and to East-North-Up about a few site origins.
Points reach 20 km from the origin in every direction, plus heights that
sensors on masts and radars on hills have. The CSV is committed so CI needs
no Python; rerun this script only to extend the cases.
"""

import csv
import math
from pathlib import Path

import pymap3d
import pymap3d.vincenty

ORIGINS = [
    # (name, lat, lon, alt_m): a desert border, the far north, the southern
    # hemisphere across the antimeridian, the equator at the prime meridian.
    ("sonora", 31.3300, -110.9400, 1200.0),
    ("lapland", 68.9000, 27.0000, 150.0),
    ("fiji", -17.7000, 179.9900, 10.0),
    ("null_island", 0.0, 0.0, 0.0),
]
# Bearings (degrees clockwise from north), ranges (m) and heights above the
# origin (m) of the test points.
BEARINGS = [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0]
RANGES = [0.0, 10.0, 1_000.0, 20_000.0]
HEIGHTS = [0.0, 35.0, -120.0]


def main() -> None:
    out = Path(__file__).with_name("golden.csv")
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([
            "origin_lat", "origin_lon", "origin_alt",
            "lat", "lon", "alt",
            "ecef_x", "ecef_y", "ecef_z",
            "east", "north", "up",
        ])
        for _, olat, olon, oalt in ORIGINS:
            for bearing in BEARINGS:
                for distance in RANGES:
                    for height in HEIGHTS:
                        if distance == 0.0 and bearing != 0.0:
                            continue
                        # Place the point with the geodesic forward problem
                        # (pymap3d's vincenty), then convert it back.
                        lat, lon = pymap3d.vincenty.vreckon(olat, olon, distance, bearing)
                        lon = (float(lon) + 180.0) % 360.0 - 180.0
                        alt = oalt + height
                        x, y, z = pymap3d.geodetic2ecef(lat, lon, alt)
                        e, n, u = pymap3d.geodetic2enu(lat, lon, alt, olat, olon, oalt)
                        writer.writerow([
                            repr(olat), repr(olon), repr(oalt),
                            repr(float(lat)), repr(float(lon)), repr(alt),
                            repr(float(x)), repr(float(y)), repr(float(z)),
                            repr(float(e)), repr(float(n)), repr(float(u)),
                        ])


if __name__ == "__main__":
    main()
