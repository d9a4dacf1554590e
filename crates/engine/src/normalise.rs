//! From a sensor's message to what the pipeline works with: a tracker
//! measurement in the site frame, a radiation sample or a heartbeat, each
//! stamped with engine time (Unix microseconds).
//!
//! Measurement models follow design.md §4: a ground node is presence at the
//! node (or a bearing from it, when its array gives one); a camera is a
//! position when it geolocates, else a bearing; a radar is a range-bearing,
//! a geolocated detector a position. Configured noise figures are floors:
//! a sensor may report itself worse than configured, never better.

use nalgebra::{Matrix2, Vector2};
use picket_track::Measurement;
use picket_wire::{
    AlarmFlags, Bearing, CameraTarget, CameraTrigger, GeoPosition, GroundEvent, Heartbeat, Message,
    PositionReport, RadiationSample, RangeBearingReport, TargetClass, TimeBase,
};

use crate::classify::{ClassEvidence, TrackClass};
use crate::config::{CameraCalibration, SensorKind};
use crate::counters::DropReason;
use crate::geodesy::{Geodetic, LocalFrame};
use crate::registry::Sensor;

/// A sensor message turned into engine terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Report {
    /// A detection for the tracker.
    Detection {
        /// The measurement in the site frame.
        measurement: Measurement,
        /// What the sensor said the target is, if anything.
        class: Option<ClassEvidence>,
    },
    /// A radiation detector's counts.
    Radiation(RadiationReport),
    /// A health report.
    Heartbeat(Heartbeat),
}

/// One counting interval of a radiation detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RadiationReport {
    /// Start of the interval, engine time (µs).
    pub start_us: i64,
    /// Length of the interval, seconds.
    pub interval_s: f64,
    /// Gamma counts.
    pub gamma_counts: u32,
    /// Neutron counts.
    pub neutron_counts: u32,
    /// The detector's own alarm bits.
    pub alarms: AlarmFlags,
}

/// A report and its engine time: the measurement time, or for a radiation
/// sample the end of its interval (when the counts are complete).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimedReport {
    /// Engine time, Unix microseconds.
    pub time_us: i64,
    /// The report.
    pub report: Report,
}

/// Limits that depend on the site, not the sensor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiteLimits<'a> {
    /// The site frame.
    pub frame: &'a LocalFrame,
    /// Square of the area radius, m².
    pub area_radius_squared: f64,
    /// Allowed lead of a sensor clock over the receive time, µs.
    pub max_clock_skew_us: i64,
}

/// Normalises `message` from `sensor`, received at `received_us`.
/// `Hello` is handled by the caller and is unsupported here.
pub(crate) fn normalise(
    sensor: &Sensor,
    message: &Message,
    received_us: i64,
    limits: &SiteLimits<'_>,
) -> Result<TimedReport, DropReason> {
    let kind = sensor.config.kind;
    let timed = match message {
        Message::Heartbeat(heartbeat) => TimedReport {
            time_us: event_time(sensor, heartbeat.sensor_time_us, received_us, limits)?,
            report: Report::Heartbeat(heartbeat.clone()),
        },
        Message::GroundEvent(event) if kind == SensorKind::GroundNode => detection(
            sensor,
            event.sensor_time_us,
            received_us,
            limits,
            |sensor| ground_event(sensor, event),
        )?,
        Message::CameraTrigger(trigger) if kind == SensorKind::Camera => detection(
            sensor,
            trigger.sensor_time_us,
            received_us,
            limits,
            |sensor| camera_trigger(sensor, limits.frame, trigger),
        )?,
        Message::PositionReport(report)
            if matches!(kind, SensorKind::Radar | SensorKind::GeolocatedDetector) =>
        {
            detection(
                sensor,
                report.sensor_time_us,
                received_us,
                limits,
                |sensor| position_report(sensor, limits.frame, report),
            )?
        }
        Message::RangeBearingReport(report)
            if matches!(kind, SensorKind::Radar | SensorKind::GeolocatedDetector) =>
        {
            detection(
                sensor,
                report.sensor_time_us,
                received_us,
                limits,
                |sensor| range_bearing_report(sensor, report),
            )?
        }
        Message::RadiationSample(sample) if kind == SensorKind::RadiationDetector => {
            radiation_sample(sensor, sample, received_us, limits)?
        }
        _ => return Err(DropReason::UnsupportedMessage),
    };
    Ok(timed)
}

/// Engine time of a sensor timestamp.
///
/// A Unix-time sensor keeps its own time (it is closer to the measurement
/// than the receive time) but may not lead the host clock by more than the
/// allowed skew. A boot-clock sensor's time cannot be related to Unix time
/// without a handshake the protocol does not have, so its reports take the
/// receive time less the configured latency: this assumes transport delay
/// is steady and small next to the reorder lag (serial at 115 200 baud
/// delivers a frame in under 4 ms).
fn event_time(
    sensor: &Sensor,
    sensor_time_us: u64,
    received_us: i64,
    limits: &SiteLimits<'_>,
) -> Result<i64, DropReason> {
    match sensor.time_base {
        TimeBase::UnixEpoch => {
            let time = i64::try_from(sensor_time_us).map_err(|_| DropReason::TooFarFuture)?;
            if time > received_us.saturating_add(limits.max_clock_skew_us) {
                return Err(DropReason::TooFarFuture);
            }
            Ok(time)
        }
        TimeBase::SinceBoot => Ok(received_us.saturating_sub(sensor.latency_us)),
    }
}

/// Shared path of every detection: time, measurement, validation, area.
fn detection(
    sensor: &Sensor,
    sensor_time_us: u64,
    received_us: i64,
    limits: &SiteLimits<'_>,
    build: impl FnOnce(&Sensor) -> Result<(Measurement, Option<ClassEvidence>), DropReason>,
) -> Result<TimedReport, DropReason> {
    let time_us = event_time(sensor, sensor_time_us, received_us, limits)?;
    let (measurement, class) = build(sensor)?;
    measurement.validate().map_err(|error| match error {
        picket_track::MeasurementError::NonFinite => DropReason::NonFinite,
        _ => DropReason::InvalidMeasurement,
    })?;
    if let Some((position, _)) = measurement.position_estimate()
        && position.norm_squared() > limits.area_radius_squared
    {
        return Err(DropReason::OutOfArea);
    }
    Ok(TimedReport {
        time_us,
        report: Report::Detection { measurement, class },
    })
}

/// Fails with [`DropReason::NonFinite`] unless every value is finite: the
/// noise floors below use `max`, which would silently swallow a NaN.
fn require_finite(values: &[f32]) -> Result<(), DropReason> {
    if values.iter().all(|value| value.is_finite()) {
        Ok(())
    } else {
        Err(DropReason::NonFinite)
    }
}

/// Reported variances must be positive: zero or negative is a broken
/// sensor (or a forged report), not a very precise one, and flooring it at
/// the configured noise would track whatever it says.
fn require_positive(variances: &[f32]) -> Result<(), DropReason> {
    if variances.iter().all(|variance| *variance > 0.0) {
        Ok(())
    } else {
        Err(DropReason::InvalidMeasurement)
    }
}

/// A reported azimuth (degrees from true north at the sensor) as a tracker
/// bearing (radians from the site frame's north) with its variance floored.
fn bearing_measurement(sensor: &Sensor, bearing: &Bearing) -> Result<Measurement, DropReason> {
    require_finite(&[bearing.azimuth_deg, bearing.variance_deg2])?;
    require_positive(&[bearing.variance_deg2])?;
    check_field_of_view(sensor, f64::from(bearing.azimuth_deg))?;
    let variance_deg2 = f64::from(bearing.variance_deg2).max(sensor.bearing_variance_deg2());
    Ok(Measurement::Bearing {
        sensor: sensor.enu,
        bearing: f64::from(bearing.azimuth_deg).to_radians() + sensor.azimuth_correction,
        variance: variance_deg2.to_radians().to_radians(),
    })
}

/// A direction outside the sensor's field of view cannot have been
/// measured by it: a firmware bug, or a sensor knocked off its mounting.
/// Three noise sigmas of slack keep honest edge detections.
fn check_field_of_view(sensor: &Sensor, azimuth_deg: f64) -> Result<(), DropReason> {
    let config = &sensor.config;
    if config.field_of_view_deg >= 360.0 {
        return Ok(());
    }
    let off_axis = (azimuth_deg - config.heading_deg + 540.0).rem_euclid(360.0) - 180.0;
    if off_axis.abs() > config.field_of_view_deg / 2.0 + 3.0 * config.bearing_sigma_deg {
        return Err(DropReason::InvalidMeasurement);
    }
    Ok(())
}

fn ground_event(
    sensor: &Sensor,
    event: &GroundEvent,
) -> Result<(Measurement, Option<ClassEvidence>), DropReason> {
    require_finite(&[event.snr_db])?;
    let measurement = match &event.bearing {
        Some(bearing) => bearing_measurement(sensor, bearing)?,
        None => Measurement::Presence {
            node: sensor.enu,
            radius: sensor.config.detection_radius_m,
        },
    };
    let class = class_evidence(event.class_hint, sensor.config.class_confidence);
    Ok((measurement, class))
}

fn camera_trigger(
    sensor: &Sensor,
    frame: &LocalFrame,
    trigger: &CameraTrigger,
) -> Result<(Measurement, Option<ClassEvidence>), DropReason> {
    let measurement = match (&trigger.ground_position, &trigger.target) {
        (Some(position), _) => geo_measurement(sensor, frame, position)?,
        (None, CameraTarget::Direction { azimuth, .. }) => bearing_measurement(sensor, azimuth)?,
        (None, CameraTarget::ImageBox(image_box)) => {
            let calibration = sensor.config.camera.ok_or(DropReason::Uncalibrated)?;
            let azimuth_deg = image_box_azimuth_deg(
                &calibration,
                sensor.config.heading_deg,
                f64::from(image_box.x) + f64::from(image_box.width) / 2.0,
                f64::from(image_box.image_width),
            )?;
            Measurement::Bearing {
                sensor: sensor.enu,
                bearing: azimuth_deg.to_radians() + sensor.azimuth_correction,
                variance: sensor.bearing_variance_deg2().to_radians().to_radians(),
            }
        }
    };
    let confidence = f64::from(trigger.confidence_pct.min(100)) / 100.0;
    Ok((measurement, class_evidence(trigger.class, confidence)))
}

/// Azimuth (degrees from true north) of an image column, with a pinhole
/// model: the optical axis is the heading, and the focal length in pixels
/// follows from the field of view across the image width.
pub(crate) fn image_box_azimuth_deg(
    calibration: &CameraCalibration,
    heading_deg: f64,
    column_px: f64,
    image_width_px: f64,
) -> Result<f64, DropReason> {
    if image_width_px <= 0.0 || column_px > image_width_px {
        return Err(DropReason::InvalidMeasurement);
    }
    let principal = calibration.principal_x_px.unwrap_or(image_width_px / 2.0);
    let focal_px =
        (image_width_px / 2.0) / (calibration.horizontal_fov_deg.to_radians() / 2.0).tan();
    let offset = ((column_px - principal) / focal_px).atan().to_degrees();
    Ok(heading_deg + offset)
}

/// A reported WGS84 position as a tracker position, its covariance floored.
fn geo_measurement(
    sensor: &Sensor,
    frame: &LocalFrame,
    position: &GeoPosition,
) -> Result<Measurement, DropReason> {
    require_finite(&[
        position.variance_east_m2,
        position.variance_north_m2,
        position.covariance_east_north_m2,
    ])?;
    require_positive(&[position.variance_east_m2, position.variance_north_m2])?;
    let lat_deg = f64::from(position.latitude_e7) / 1e7;
    let lon_deg = f64::from(position.longitude_e7) / 1e7;
    if lat_deg.abs() > 90.0 || lon_deg.abs() > 180.0 {
        return Err(DropReason::InvalidMeasurement);
    }
    let enu = frame.to_enu(Geodetic {
        lat_deg,
        lon_deg,
        // Ground targets: the sensor's height is the best guess of theirs,
        // and it moves east/north by micrometres only.
        alt_m: sensor.config.position.alt_m,
    });
    let floor = sensor.position_variance_m2();
    let covariance = Matrix2::new(
        f64::from(position.variance_east_m2).max(floor),
        f64::from(position.covariance_east_north_m2),
        f64::from(position.covariance_east_north_m2),
        f64::from(position.variance_north_m2).max(floor),
    );
    Ok(Measurement::Position {
        position: Vector2::new(enu.east, enu.north),
        covariance,
    })
}

fn position_report(
    sensor: &Sensor,
    frame: &LocalFrame,
    report: &PositionReport,
) -> Result<(Measurement, Option<ClassEvidence>), DropReason> {
    let measurement = geo_measurement(sensor, frame, &report.position)?;
    Ok((
        measurement,
        class_evidence(report.class, sensor.config.class_confidence),
    ))
}

fn range_bearing_report(
    sensor: &Sensor,
    report: &RangeBearingReport,
) -> Result<(Measurement, Option<ClassEvidence>), DropReason> {
    require_finite(&[report.range_m, report.range_variance_m2])?;
    require_positive(&[report.range_variance_m2])?;
    let Measurement::Bearing {
        bearing, variance, ..
    } = bearing_measurement(sensor, &report.azimuth)?
    else {
        return Err(DropReason::InvalidMeasurement);
    };
    // The tracker is 2-D: a 3-D radar's slant range is projected to the
    // ground.
    let ground_range = match &report.elevation {
        Some(elevation) => {
            require_finite(&[elevation.elevation_deg])?;
            f64::from(report.range_m) * f64::from(elevation.elevation_deg).to_radians().cos()
        }
        None => f64::from(report.range_m),
    };
    let measurement = Measurement::RangeBearing {
        sensor: sensor.enu,
        range: ground_range,
        bearing,
        range_variance: f64::from(report.range_variance_m2).max(sensor.range_variance_m2()),
        bearing_variance: variance,
    };
    Ok((
        measurement,
        class_evidence(report.class, sensor.config.class_confidence),
    ))
}

fn radiation_sample(
    sensor: &Sensor,
    sample: &RadiationSample,
    received_us: i64,
    limits: &SiteLimits<'_>,
) -> Result<TimedReport, DropReason> {
    if sample.interval_ms == 0 {
        return Err(DropReason::InvalidMeasurement);
    }
    let interval_us = i64::from(sample.interval_ms) * 1_000;
    let (start_us, end_us) = match sensor.time_base {
        TimeBase::UnixEpoch => {
            let end = sample
                .interval_start_us
                .saturating_add(interval_us.unsigned_abs());
            let end_us = event_time(sensor, end, received_us, limits)?;
            (end_us - interval_us, end_us)
        }
        // The sample is sent when the interval closes.
        TimeBase::SinceBoot => {
            let end_us = received_us.saturating_sub(sensor.latency_us);
            (end_us - interval_us, end_us)
        }
    };
    Ok(TimedReport {
        time_us: end_us,
        report: Report::Radiation(RadiationReport {
            start_us,
            interval_s: f64::from(sample.interval_ms) / 1_000.0,
            gamma_counts: sample.gamma_counts,
            neutron_counts: sample.neutron_counts,
            alarms: sample.alarms,
        }),
    })
}

/// Class evidence from a sensor class, if the class is one tracks carry.
fn class_evidence(class: TargetClass, confidence: f64) -> Option<ClassEvidence> {
    let class = match class {
        TargetClass::Person => TrackClass::Person,
        TargetClass::Vehicle => TrackClass::Vehicle,
        TargetClass::Animal => TrackClass::Animal,
        // Aircraft and vessels are not ground movers; the published schema
        // has no class for them, so they say nothing about a ground track.
        TargetClass::Unknown | TargetClass::Aircraft | TargetClass::Vessel => return None,
    };
    Some(ClassEvidence { class, confidence })
}

impl Sensor {
    fn bearing_variance_deg2(&self) -> f64 {
        self.config.bearing_sigma_deg * self.config.bearing_sigma_deg
    }

    fn range_variance_m2(&self) -> f64 {
        self.config.range_sigma_m * self.config.range_sigma_m
    }

    fn position_variance_m2(&self) -> f64 {
        self.config.position_sigma_m * self.config.position_sigma_m
    }
}

/// Whether a radiation sample carries a detector alarm picket honours.
pub(crate) fn detector_alarmed(alarms: AlarmFlags) -> bool {
    alarms.0 & (AlarmFlags::GAMMA | AlarmFlags::NEUTRON | AlarmFlags::ISOTOPE) != 0
}
