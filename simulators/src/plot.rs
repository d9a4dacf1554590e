//! An SVG picture of tracks against truth, so a person can see at a glance
//! where a tracker broke, swapped or invented a track.

use picket_cli::formats::{TrackRecord, TruthRecord};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Distinct, colour-blind-safe hues (Okabe-Ito) cycled over track ids.
const TRACK_COLOURS: [&str; 7] = [
    "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442",
];

/// Renders truth (grey, wide) under tracks (coloured by id, thin) in the
/// local frame, north up, scaled to `width` pixels.
pub fn tracks_svg(truth: &[TruthRecord], tracks: &[TrackRecord], width: f64) -> String {
    let mut truth_paths: BTreeMap<u64, Vec<[f64; 2]>> = BTreeMap::new();
    for r in truth {
        truth_paths.entry(r.id).or_default().push([r.x, r.y]);
    }
    let mut track_paths: BTreeMap<u64, Vec<[f64; 2]>> = BTreeMap::new();
    for r in tracks {
        track_paths.entry(r.track_id).or_default().push([r.x, r.y]);
    }
    let points = || truth_paths.values().chain(track_paths.values()).flatten();
    let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points() {
        for axis in 0..2 {
            min[axis] = min[axis].min(p[axis]);
            max[axis] = max[axis].max(p[axis]);
        }
    }
    if !min[0].is_finite() {
        (min, max) = ([0.0, 0.0], [1.0, 1.0]);
    }
    let margin = 20.0;
    let span = [(max[0] - min[0]).max(1.0), (max[1] - min[1]).max(1.0)];
    let scale = (width - 2.0 * margin) / span[0];
    let height = span[1] * scale + 2.0 * margin;
    let to_px = |p: &[f64; 2]| {
        (
            margin + (p[0] - min[0]) * scale,
            // SVG's y grows downwards; north is up on a map.
            height - margin - (p[1] - min[1]) * scale,
        )
    };
    let polyline = |svg: &mut String, path: &[[f64; 2]], style: &str| {
        let mut pts = String::new();
        for p in path {
            let (x, y) = to_px(p);
            let _ = write!(pts, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" {style} points="{}"/>"#,
            pts.trim_end()
        );
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{margin}" y="14" font-family="sans-serif" font-size="12">grey: truth ({} targets); colour: tracks ({}); {:.0} m across</text>"#,
        truth_paths.len(),
        track_paths.len(),
        span[0]
    );
    for path in truth_paths.values() {
        polyline(
            &mut svg,
            path,
            r##"stroke="#bbbbbb" stroke-width="5" stroke-linecap="round""##,
        );
    }
    for (id, path) in &track_paths {
        let colour = TRACK_COLOURS[(*id as usize) % TRACK_COLOURS.len()];
        polyline(
            &mut svg,
            path,
            &format!(r#"stroke="{colour}" stroke-width="1.5""#),
        );
        if let Some(first) = path.first() {
            let (x, y) = to_px(first);
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-family="sans-serif" font-size="10" fill="{colour}">{id}</text>"#,
                x + 3.0,
                y - 3.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_polyline_per_object_north_up() {
        let truth = [
            TruthRecord {
                t: 0.0,
                id: 1,
                x: 0.0,
                y: 0.0,
                vx: 0.0,
                vy: 1.0,
            },
            TruthRecord {
                t: 1.0,
                id: 1,
                x: 0.0,
                y: 100.0,
                vx: 0.0,
                vy: 1.0,
            },
        ];
        let tracks = [TrackRecord {
            t: 1.0,
            track_id: 3,
            x: 100.0,
            y: 100.0,
            vx: 0.0,
            vy: 0.0,
        }];
        let svg = tracks_svg(&truth, &tracks, 240.0);
        assert_eq!(svg.matches("<polyline").count(), 2);
        // 100 m across 200 px: the truth's northern end is at the top margin.
        assert!(svg.contains(r#"points="20.0,220.0 20.0,20.0""#), "{svg}");
        assert!(svg.contains(">3</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }

    #[test]
    fn empty_input_is_still_a_picture() {
        let svg = tracks_svg(&[], &[], 100.0);
        assert!(svg.contains("0 targets"));
    }
}
