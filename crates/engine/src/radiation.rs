//! Radiation alarms: a per-detector background estimate and an n-sigma
//! test on Poisson counts, plus the geometry that ties an alarm to tracks.
//!
//! # Why n-sigma and not SPRT
//! A carrier passes a portal in one to three counting intervals, so there is
//! no long sequence for a sequential test to accumulate, and an SPRT needs a
//! source strength for its alternative hypothesis that nobody knows in
//! advance. The per-interval test `(counts − expected) / sqrt(expected)` is
//! what portal vendors quote, what operators can read off an alert (the
//! `sigma` field), and has a known false-alarm rate for a given threshold.
//!
//! # Background
//! An exponentially weighted mean of the count *rate* with a time constant
//! (default 120 s), so intervals of any length combine correctly. It is
//! frozen while the detector is alarming, so a slow carrier cannot raise
//! the background and hide itself, and the test only runs after a warm-up
//! number of samples. Detector-reported alarm bits (gamma, neutron,
//! isotope) are honoured from the first sample.

use nalgebra::Vector2;
use picket_track::Tracker;

use crate::config::RadiationConfig;
use crate::normalise::RadiationReport;

/// Background state of one detector (both channels).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Background {
    gamma_rate: f64,
    neutron_rate: f64,
    samples: u32,
    /// Set while the latest sample alarmed: the current alarm episode.
    pub alarming: bool,
    /// Tracks already named in an alert of the current episode.
    pub alerted_tracks: Vec<u64>,
}

/// The outcome of testing one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Assessment {
    /// Expected gamma counts in the interval from the background.
    pub expected_gamma: f64,
    /// Excess in standard deviations (the larger of gamma and neutron);
    /// `None` before the warm-up is over.
    pub sigma: Option<f64>,
    /// picket's own test alarmed.
    pub picket_alarm: bool,
}

impl Background {
    /// Tests `sample` against the background, then folds it in unless it
    /// alarmed (`detector_alarm` included).
    pub fn assess(
        &mut self,
        sample: &RadiationReport,
        detector_alarm: bool,
        config: &RadiationConfig,
    ) -> Assessment {
        let gamma = f64::from(sample.gamma_counts);
        let neutron = f64::from(sample.neutron_counts);
        let expected_gamma = self.gamma_rate * sample.interval_s;
        let expected_neutron = self.neutron_rate * sample.interval_s;
        let warmed_up = self.samples >= config.warmup_samples;
        let sigma = warmed_up.then(|| {
            let excess = |counts: f64, expected: f64| {
                (counts - expected) / expected.max(config.min_expected_counts).sqrt()
            };
            excess(gamma, expected_gamma).max(excess(neutron, expected_neutron))
        });
        let picket_alarm = sigma.is_some_and(|sigma| sigma >= config.sigma_threshold);
        if !(picket_alarm || detector_alarm) {
            let weight = if self.samples == 0 {
                1.0
            } else {
                1.0 - (-sample.interval_s / config.background_time_constant_s).exp()
            };
            self.gamma_rate += weight * (gamma / sample.interval_s - self.gamma_rate);
            self.neutron_rate += weight * (neutron / sample.interval_s - self.neutron_rate);
            self.samples = self.samples.saturating_add(1);
        }
        Assessment {
            expected_gamma,
            sigma,
            picket_alarm,
        }
    }
}

/// Ids of the tracks (tentative ones included) that came within `reach`
/// metres of `detector` during `[start_s, end_s]`, in increasing id order.
///
/// Each track is extrapolated along its estimated velocity from the time
/// of its estimate (the latest scan), and its closest approach over the interval is compared,
/// so a vehicle that drives through the portal within one interval counts
/// even if no estimate falls inside the radius.
pub(crate) fn tracks_near(
    tracker: &Tracker,
    detector: Vector2<f64>,
    reach: f64,
    start_s: f64,
    end_s: f64,
) -> Vec<u64> {
    let now = tracker.estimate_time().unwrap_or(start_s);
    let mut ids: Vec<u64> = tracker
        .tracks()
        .filter(|track| {
            let mean = &track.estimate().mean;
            let position = Vector2::new(mean[0], mean[1]);
            let velocity = Vector2::new(mean[2], mean[3]);
            let at_start = position + velocity * (start_s - now) - detector;
            let travel = velocity * (end_s - start_s);
            let along = if travel.norm_squared() > 0.0 {
                (-at_start.dot(&travel) / travel.norm_squared()).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (at_start + travel * along).norm() <= reach
        })
        .map(|track| track.id().0)
        .collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_wire::AlarmFlags;

    fn sample(gamma: u32) -> RadiationReport {
        RadiationReport {
            start_us: 0,
            interval_s: 1.0,
            gamma_counts: gamma,
            neutron_counts: 0,
            alarms: AlarmFlags(0),
        }
    }

    #[test]
    fn background_learns_then_alarms_and_freezes() {
        let config = RadiationConfig::default();
        let mut background = Background::default();
        for _ in 0..config.warmup_samples {
            assert!(!background.assess(&sample(100), false, &config).picket_alarm);
        }
        let quiet = background.assess(&sample(110), false, &config);
        assert!(!quiet.picket_alarm);
        let hot = background.assess(&sample(200), false, &config);
        assert!(hot.picket_alarm);
        assert!(hot.sigma.unwrap() > 9.0);
        let after = background.assess(&sample(100), false, &config);
        // Frozen during the alarm: the 200 did not raise the background.
        assert!((after.expected_gamma - hot.expected_gamma).abs() < 1e-9);
    }
}
