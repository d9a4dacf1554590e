//! Tracker configuration: every tunable and its default, in one place.

use crate::ConfigError;
use crate::motion::ConstantVelocity;

/// Tracker settings. Start from [`TrackerConfig::default`] and override what
/// a site needs; [`Tracker::new`](crate::Tracker::new) validates.
///
/// The defaults were tuned on the public sample scenario (radars with 5 m
/// and 10 m sigma, walkers at 1–2 m/s and vehicles at 5–15 m/s with
/// occasional turns) and checked on a second, synthetic scenario of the same
/// kinds of movers (`tests/support/scenario.rs`); a setting was only kept
/// where it helped on both. Each field says why its default is what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Acceleration noise density `q` (m²/s³) of the IMM's quiet
    /// constant-velocity mode: walkers and vehicles going straight.
    /// Default 0.005: a stiff velocity is what carries two crossing walkers'
    /// tracks through the crossing without swapping. 0.02 scores about 3%
    /// better GOSPA on the sample (22.9 against 23.7 m) but swapped
    /// identities in 6 of 40 seeded right-angle walker crossings, against 1.
    pub process_noise: f64,
    /// Noise of the IMM's manoeuvring mode per squared speed (1/s): its
    /// acceleration noise density is `manoeuvre_turn_noise · speed²`,
    /// because a turn at a given rate takes an acceleration proportional to
    /// speed. Default 0.01, i.e. q = 1 m²/s³ at 10 m/s (vehicles turning
    /// 30-90° stay on their tracks) and 0.02 at 1.5 m/s (walkers stay
    /// stiff).
    pub manoeuvre_turn_noise: f64,
    /// Mean time (s) a target stays in the quiet mode. Default 100 s: turns
    /// are occasional; shorter values keep too much weight on the noisy mode
    /// and cost localisation accuracy on straight movers.
    pub quiet_sojourn: f64,
    /// Mean time (s) a target stays in the manoeuvring mode. Default 5 s,
    /// about the length of a turn.
    pub manoeuvre_sojourn: f64,
    /// Prior probability of the quiet mode for a new track. Default 0.5:
    /// nothing is known yet.
    pub initial_quiet_probability: f64,
    /// Probability that a scanning sensor reports a target it covers.
    /// Default 0.9 (the radars' rating). Sets the cost of a missed
    /// detection in association.
    pub detection_probability: f64,
    /// Expected false detections per m² per scan. Default 1e-6. The
    /// association weighs "this detection belongs to the track" against
    /// "it is clutter or a new target" with it.
    pub clutter_density: f64,
    /// Probability mass of the chi-square validation gate. Default 0.9999:
    /// a wide gate costs little because the likelihood-based costs still
    /// prefer close detections, and it lets a turning target stay on its
    /// track.
    pub gate_probability: f64,
    /// M of the M-of-N confirmation rule. Default 3: on the sample, clutter
    /// occasionally lines up twice, almost never three times.
    pub confirm_hits: u32,
    /// N of the M-of-N confirmation rule, counted in detection
    /// opportunities (scans of sensors that have seen the track). Default 4.
    pub confirm_window: u32,
    /// Standard deviation (m/s, per axis) of the velocity of a new track,
    /// whose first detection says nothing about velocity. Default 8 m/s,
    /// covering 15 m/s vehicles within two sigma; the second detection then
    /// acts as a two-point velocity initialisation.
    pub initial_speed_sigma: f64,
    /// A confirmed track with no update for longer than this (seconds) is
    /// deleted. Default 3.5 s: rides out three missed 1 s radar scans (rare
    /// at Pd 0.9), and a vanished target's track ends soon after.
    pub max_coast_time: f64,
    /// A tentative track with no update for longer than this (seconds) is
    /// dropped. Default 2.5 s, about two missed radar revisits.
    pub tentative_timeout: f64,
    /// A track whose position variance (`var_x + var_y`, m²) grows beyond
    /// this is deleted: it no longer says where the target is. Default
    /// 7200 m², the threshold of the reference Stone Soup tracker.
    pub max_position_variance: f64,
    /// Hard bound on live tracks (tentative included); detections that
    /// would start more are counted and ignored, bounding memory under a
    /// clutter flood. Default 100 000.
    pub max_tracks: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            process_noise: 0.005,
            manoeuvre_turn_noise: 0.01,
            quiet_sojourn: 100.0,
            manoeuvre_sojourn: 5.0,
            initial_quiet_probability: 0.5,
            detection_probability: 0.9,
            clutter_density: 1e-6,
            gate_probability: 0.9999,
            confirm_hits: 3,
            confirm_window: 4,
            initial_speed_sigma: 8.0,
            max_coast_time: 3.5,
            tentative_timeout: 2.5,
            max_position_variance: 7200.0,
            max_tracks: 100_000,
        }
    }
}

impl TrackerConfig {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let probability = |value: f64, name| {
            if value > 0.0 && value < 1.0 {
                Ok(())
            } else {
                Err(ConfigError::Probability(name))
            }
        };
        let positive = |value: f64, name| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::NotPositive(name))
            }
        };
        ConstantVelocity::new(self.process_noise)?;
        positive(self.manoeuvre_turn_noise, "manoeuvre_turn_noise")?;
        positive(self.quiet_sojourn, "quiet_sojourn")?;
        positive(self.manoeuvre_sojourn, "manoeuvre_sojourn")?;
        probability(self.initial_quiet_probability, "initial_quiet_probability")?;
        probability(self.detection_probability, "detection_probability")?;
        probability(self.gate_probability, "gate_probability")?;
        positive(self.clutter_density, "clutter_density")?;
        positive(self.initial_speed_sigma, "initial_speed_sigma")?;
        positive(self.max_coast_time, "max_coast_time")?;
        positive(self.tentative_timeout, "tentative_timeout")?;
        positive(self.max_position_variance, "max_position_variance")?;
        if self.max_tracks == 0 {
            return Err(ConfigError::NotPositive("max_tracks"));
        }
        if !(1..=32).contains(&self.confirm_hits)
            || !(self.confirm_hits..=32).contains(&self.confirm_window)
        {
            return Err(ConfigError::ConfirmationRule);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(TrackerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let config = TrackerConfig {
            detection_probability: 1.0,
            ..TrackerConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::Probability("detection_probability"))
        );
        let config = TrackerConfig {
            confirm_hits: 5,
            confirm_window: 4,
            ..TrackerConfig::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::ConfirmationRule));
    }
}
