//! Intrusion zones: polygons in the site frame.

use crate::config::ZoneConfig;
use crate::geodesy::{Geodetic, LocalFrame};

/// A zone resolved into the site frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Zone {
    /// The configured name.
    pub name: String,
    /// Vertices `(east, north)` in metres, in order; the polygon closes
    /// itself.
    vertices: Vec<(f64, f64)>,
}

impl Zone {
    /// Resolves a validated zone.
    pub fn new(config: &ZoneConfig, frame: &LocalFrame) -> Self {
        let vertices = match (&config.wgs84, &config.enu) {
            (Some(vertices), _) => vertices
                .iter()
                .map(|&[lat_deg, lon_deg]| {
                    let enu = frame.to_enu(Geodetic {
                        lat_deg,
                        lon_deg,
                        alt_m: frame.origin().alt_m,
                    });
                    (enu.east, enu.north)
                })
                .collect(),
            (None, Some(vertices)) => vertices
                .iter()
                .map(|&[east, north]| (east, north))
                .collect(),
            (None, None) => Vec::new(),
        };
        Self {
            name: config.name.clone(),
            vertices,
        }
    }

    /// Whether the point is inside (even-odd rule, so self-intersecting
    /// polygons behave predictably).
    pub fn contains(&self, east: f64, north: f64) -> bool {
        let mut inside = false;
        let mut previous = match self.vertices.last() {
            Some(vertex) => *vertex,
            None => return false,
        };
        for &current in &self.vertices {
            let ((x1, y1), (x2, y2)) = (previous, current);
            if (y1 > north) != (y2 > north) {
                let crossing = x1 + (north - y1) * (x2 - x1) / (y2 - y1);
                if east < crossing {
                    inside = !inside;
                }
            }
            previous = current;
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_contains_its_centre_only() {
        let zone = Zone {
            name: "square".into(),
            vertices: vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)],
        };
        assert!(zone.contains(5.0, 5.0));
        assert!(!zone.contains(15.0, 5.0));
        assert!(!zone.contains(5.0, -1.0));
    }
}
