//! WGS84 geodetic ↔ ECEF ↔ local East-North-Up at the site origin.
//!
//! Exact transformations, not a flat-earth approximation: a flat-earth
//! projection is metres off at 20 km, while the tracker wants centimetres.
//! The inverse (ECEF → geodetic) iterates the latitude a fixed number of
//! times so the result is bit-identical on every run.

/// WGS84 semi-major axis, metres.
const SEMI_MAJOR_M: f64 = 6_378_137.0;
/// WGS84 flattening.
const FLATTENING: f64 = 1.0 / 298.257_223_563;
/// First eccentricity squared, `f (2 − f)`.
const ECCENTRICITY_SQUARED: f64 = FLATTENING * (2.0 - FLATTENING);
/// WGS84 semi-minor axis, metres.
const SEMI_MINOR_M: f64 = SEMI_MAJOR_M * (1.0 - FLATTENING);
/// Second eccentricity squared, `e² / (1 − e²)`.
const SECOND_ECCENTRICITY_SQUARED: f64 = ECCENTRICITY_SQUARED / (1.0 - ECCENTRICITY_SQUARED);
/// Refinements after Bowring's starting latitude.
const INVERSE_ITERATIONS: usize = 1;

/// Earth-centred, earth-fixed coordinates, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ecef {
    /// Towards latitude 0, longitude 0.
    pub x: f64,
    /// Towards latitude 0, longitude 90° E.
    pub y: f64,
    /// Towards the north pole.
    pub z: f64,
}

/// A position in the site frame, metres from the origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Enu {
    /// East.
    pub east: f64,
    /// North.
    pub north: f64,
    /// Up, along the ellipsoid normal at the origin.
    pub up: f64,
}

/// A WGS84 position: degrees and metres above the ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geodetic {
    /// Latitude, degrees north.
    pub lat_deg: f64,
    /// Longitude, degrees east.
    pub lon_deg: f64,
    /// Height above the ellipsoid, metres.
    pub alt_m: f64,
}

impl Geodetic {
    /// Geodetic → ECEF.
    pub fn to_ecef(self) -> Ecef {
        let (sin_lat, cos_lat) = self.lat_deg.to_radians().sin_cos();
        let (sin_lon, cos_lon) = self.lon_deg.to_radians().sin_cos();
        let prime_vertical = prime_vertical_radius(sin_lat);
        let horizontal = (prime_vertical + self.alt_m) * cos_lat;
        Ecef {
            x: horizontal * cos_lon,
            y: horizontal * sin_lon,
            z: (prime_vertical * (1.0 - ECCENTRICITY_SQUARED) + self.alt_m) * sin_lat,
        }
    }
}

impl Ecef {
    /// ECEF → geodetic: Bowring's formula for the latitude, then one
    /// fixed-point refinement. Bowring alone is good to well under a
    /// millimetre near the surface; the refinement makes it exact to
    /// floating point, and a fixed number of steps keeps it deterministic.
    ///
    /// Both steps are written with the latitude as an unnormalised
    /// direction `(sin, cos)·r`, so they need square roots only, and one
    /// `atan2` at the end gives the angle: with the angles themselves, four
    /// `atan2` and two `sin_cos` calls made this conversion half the cost
    /// of building a track message.
    pub fn to_geodetic(self) -> Geodetic {
        let horizontal = (self.x * self.x + self.y * self.y).sqrt();
        let lon = self.y.atan2(self.x);
        // Bowring: the parametric latitude's direction, then the
        // latitude's.
        let along_minor = self.z * SEMI_MAJOR_M;
        let along_major = horizontal * SEMI_MINOR_M;
        let norm = (along_minor * along_minor + along_major * along_major).sqrt();
        let (sin_parametric, cos_parametric) = if norm > 0.0 {
            (along_minor / norm, along_major / norm)
        } else {
            (0.0, 1.0)
        };
        let mut direction = (
            self.z + SECOND_ECCENTRICITY_SQUARED * SEMI_MINOR_M * sin_parametric.powi(3),
            horizontal - ECCENTRICITY_SQUARED * SEMI_MAJOR_M * cos_parametric.powi(3),
        );
        for _ in 0..INVERSE_ITERATIONS {
            let (alt, prime_vertical) = self.height(horizontal, direction);
            direction = (
                self.z,
                horizontal * (1.0 - ECCENTRICITY_SQUARED * prime_vertical / (prime_vertical + alt)),
            );
        }
        let (alt, _) = self.height(horizontal, direction);
        Geodetic {
            lat_deg: direction.0.atan2(direction.1).to_degrees(),
            lon_deg: lon.to_degrees(),
            alt_m: alt,
        }
    }

    /// Height above the ellipsoid and the prime vertical radius at the
    /// latitude whose direction is `(sin, cos)·r`. Near the poles `cos → 0`;
    /// the z form of the height is then the well-conditioned one.
    fn height(self, horizontal: f64, (sin_r, cos_r): (f64, f64)) -> (f64, f64) {
        let r = (sin_r * sin_r + cos_r * cos_r).sqrt();
        if r == 0.0 {
            // The Earth's centre: no direction; any latitude is as good.
            return (-SEMI_MAJOR_M, SEMI_MAJOR_M);
        }
        let prime_vertical = prime_vertical_radius(sin_r / r);
        let alt = if cos_r.abs() >= sin_r.abs() {
            horizontal * r / cos_r - prime_vertical
        } else {
            self.z * r / sin_r - prime_vertical * (1.0 - ECCENTRICITY_SQUARED)
        };
        (alt, prime_vertical)
    }
}

/// Radius of curvature in the prime vertical at a latitude.
fn prime_vertical_radius(sin_lat: f64) -> f64 {
    SEMI_MAJOR_M / (1.0 - ECCENTRICITY_SQUARED * sin_lat * sin_lat).sqrt()
}

/// The site's local tangent frame: converts between WGS84 and ENU metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    origin: Geodetic,
    origin_ecef: Ecef,
    sin_lat: f64,
    cos_lat: f64,
    sin_lon: f64,
    cos_lon: f64,
    /// Meridional radius of curvature `M` at the origin, plus its height.
    meridional_radius: f64,
    /// Prime-vertical radius of curvature `N` at the origin, plus its
    /// height.
    prime_vertical_radius: f64,
}

impl LocalFrame {
    /// The ENU frame with its origin at `origin`.
    pub fn new(origin: Geodetic) -> Self {
        let (sin_lat, cos_lat) = origin.lat_deg.to_radians().sin_cos();
        let (sin_lon, cos_lon) = origin.lon_deg.to_radians().sin_cos();
        let prime_vertical = prime_vertical_radius(sin_lat);
        let meridional = prime_vertical * (1.0 - ECCENTRICITY_SQUARED)
            / (1.0 - ECCENTRICITY_SQUARED * sin_lat * sin_lat);
        Self {
            meridional_radius: meridional + origin.alt_m,
            prime_vertical_radius: prime_vertical + origin.alt_m,
            origin,
            origin_ecef: origin.to_ecef(),
            sin_lat,
            cos_lat,
            sin_lon,
            cos_lon,
        }
    }

    /// The origin.
    pub fn origin(&self) -> Geodetic {
        self.origin
    }

    /// Rotates an ECEF difference vector into east, north, up.
    fn rotate_to_enu(&self, dx: f64, dy: f64, dz: f64) -> Enu {
        Enu {
            east: -self.sin_lon * dx + self.cos_lon * dy,
            north: -self.sin_lat * self.cos_lon * dx - self.sin_lat * self.sin_lon * dy
                + self.cos_lat * dz,
            up: self.cos_lat * self.cos_lon * dx
                + self.cos_lat * self.sin_lon * dy
                + self.sin_lat * dz,
        }
    }

    /// Geodetic → ENU.
    pub fn to_enu(&self, position: Geodetic) -> Enu {
        let ecef = position.to_ecef();
        self.rotate_to_enu(
            ecef.x - self.origin_ecef.x,
            ecef.y - self.origin_ecef.y,
            ecef.z - self.origin_ecef.z,
        )
    }

    /// ENU → geodetic.
    pub fn to_geodetic(&self, enu: Enu) -> Geodetic {
        // The transpose of the ECEF → ENU rotation.
        let dx = -self.sin_lon * enu.east - self.sin_lat * self.cos_lon * enu.north
            + self.cos_lat * self.cos_lon * enu.up;
        let dy = self.cos_lon * enu.east - self.sin_lat * self.sin_lon * enu.north
            + self.cos_lat * self.sin_lon * enu.up;
        let dz = self.cos_lat * enu.north + self.sin_lat * enu.up;
        Ecef {
            x: self.origin_ecef.x + dx,
            y: self.origin_ecef.y + dy,
            z: self.origin_ecef.z + dz,
        }
        .to_geodetic()
    }

    /// The WGS84 position of a ground point given only east and north: the
    /// tracker is 2-D, so the point is taken at the origin's height above
    /// the ellipsoid, i.e. below the tangent plane (31 m below it 20 km
    /// out). This inverts [`LocalFrame::to_enu`] for points at that height,
    /// which is how sensor positions entered the tracker.
    pub fn ground_to_geodetic(&self, east: f64, north: f64) -> Geodetic {
        // The surface falls below the tangent plane by (n²/M + e²/N)/2 (the
        // normal-section curvatures, Euler's formula); the next term is
        // d⁴/R³, under a millimetre at 20 km and tilted by under 0.2°, so
        // its horizontal effect is micrometres.
        let up = -(north * north / self.meridional_radius
            + east * east / self.prime_vertical_radius)
            / 2.0;
        self.to_geodetic(Enu { east, north, up })
    }

    /// The angle, radians, to add to an azimuth measured from true north at
    /// `position` to get it in this frame (from grid north): the meridian
    /// convergence. About `Δlon · sin(lat)`, a few hundredths of a degree
    /// across a tower's field, which is a metre at a kilometre's range.
    pub fn azimuth_correction(&self, position: Geodetic) -> f64 {
        let (sin_lat, cos_lat) = position.lat_deg.to_radians().sin_cos();
        let (sin_lon, cos_lon) = position.lon_deg.to_radians().sin_cos();
        // Local north at `position`, in ECEF, rotated into this frame.
        let north = self.rotate_to_enu(-sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat);
        north.east.atan2(north.north)
    }
}
