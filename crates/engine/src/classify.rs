//! Fusing class reports into a track's class.
//!
//! A track holds a posterior over {person, vehicle, animal}, starting
//! uniform. A report "class k with confidence c" is read through a
//! symmetric confusion model: the classifier names the true class with
//! probability c and each other class with (1 − c)/2. Bayes' rule then
//! multiplies the posterior by that likelihood. Reports are treated as
//! independent, which overstates agreement between consecutive frames of one
//! camera; clamping c to at most [`MAX_CONFIDENCE`] bounds how fast a run of
//! frames can lock a class, and a single confident report of another class
//! can still move it.

use picket_schema::{Classification, TargetClass};

/// Most a single report is trusted: a "100 %" classifier is still wrong
/// sometimes, and a likelihood of zero could never be undone.
const MAX_CONFIDENCE: f64 = 0.95;
/// The classes a track can have, in posterior order.
const CLASSES: [TrackClass; 3] = [TrackClass::Person, TrackClass::Vehicle, TrackClass::Animal];

/// A class a track can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackClass {
    Person,
    Vehicle,
    Animal,
}

impl TrackClass {
    fn to_schema(self) -> TargetClass {
        match self {
            TrackClass::Person => TargetClass::Person,
            TrackClass::Vehicle => TargetClass::Vehicle,
            TrackClass::Animal => TargetClass::Animal,
        }
    }
}

/// One sensor's statement about a target's class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClassEvidence {
    /// The class named.
    pub class: TrackClass,
    /// Probability that the sensor names the true class, 0..=1.
    pub confidence: f64,
}

/// A track's class posterior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClassBelief {
    posterior: [f64; 3],
    reports: u32,
}

impl Default for ClassBelief {
    fn default() -> Self {
        Self {
            posterior: [1.0 / 3.0; 3],
            reports: 0,
        }
    }
}

impl ClassBelief {
    /// Bayes update with one report.
    pub fn update(&mut self, evidence: ClassEvidence) {
        // Below 1/3 a report would be evidence *against* its class, which no
        // sensor means; clamp to "no information" instead.
        let confidence = evidence.confidence.clamp(1.0 / 3.0, MAX_CONFIDENCE);
        let other = (1.0 - confidence) / 2.0;
        let mut total = 0.0;
        for (probability, class) in self.posterior.iter_mut().zip(CLASSES) {
            *probability *= if class == evidence.class {
                confidence
            } else {
                other
            };
            total += *probability;
        }
        if total > 0.0 && total.is_finite() {
            for probability in &mut self.posterior {
                *probability /= total;
            }
        }
        self.reports = self.reports.saturating_add(1);
    }

    /// The class to publish: the most probable one with its probability, or
    /// `unknown` when it is below `min_probability`. With no report at all,
    /// `unknown` with confidence 0: nothing is known, rather than a uniform
    /// third that would read like a weak opinion.
    pub fn classification(&self, min_probability: f64) -> Classification {
        if self.reports == 0 {
            return Classification {
                class: TargetClass::Unknown,
                confidence: 0.0,
            };
        }
        let (best, probability) = self.posterior.iter().zip(CLASSES).fold(
            (TrackClass::Person, f64::MIN),
            |(best, top), (&p, class)| {
                if p > top { (class, p) } else { (best, top) }
            },
        );
        Classification {
            class: if probability >= min_probability {
                best.to_schema()
            } else {
                TargetClass::Unknown
            },
            confidence: probability.clamp(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreeing_reports_raise_confidence_and_a_dissent_lowers_it() {
        let mut belief = ClassBelief::default();
        let vehicle = ClassEvidence {
            class: TrackClass::Vehicle,
            confidence: 0.8,
        };
        belief.update(vehicle);
        let once = belief.classification(0.5);
        assert_eq!(once.class, TargetClass::Vehicle);
        assert!((once.confidence - 0.8).abs() < 1e-12);
        belief.update(vehicle);
        assert!(belief.classification(0.5).confidence > once.confidence);
        belief.update(ClassEvidence {
            class: TrackClass::Person,
            confidence: 0.9,
        });
        assert!(belief.classification(0.5).confidence < 0.95);
    }

    #[test]
    fn no_report_is_unknown() {
        let belief = ClassBelief::default();
        assert_eq!(belief.classification(0.5).class, TargetClass::Unknown);
    }
}
