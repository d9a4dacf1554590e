//! Seeded generation of realistic message streams, shared by the noisy-stream
//! test and the benchmark. No `rand`: a SplitMix64 keeps the streams
//! reproducible across dependency updates.

use heapless::{String, Vec};
use picket_wire::*;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to
/// pick corruption positions and message contents.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bias is irrelevant at these bounds).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// A finite float in `[low, high)` with two decimals, like real readings.
    pub fn reading(&mut self, low: f32, high: f32) -> f32 {
        let steps = ((high - low) * 100.0) as u64;
        low + self.below(steps) as f32 / 100.0
    }
}

const CLASSES: [TargetClass; 6] = [
    TargetClass::Unknown,
    TargetClass::Person,
    TargetClass::Vehicle,
    TargetClass::Animal,
    TargetClass::Aircraft,
    TargetClass::Vessel,
];

fn class(rng: &mut SplitMix64) -> TargetClass {
    CLASSES[rng.below(CLASSES.len() as u64) as usize]
}

fn position(rng: &mut SplitMix64) -> GeoPosition {
    GeoPosition {
        latitude_e7: 317_500_000 + rng.below(1_000_000) as i32,
        longitude_e7: -1_064_800_000 - rng.below(1_000_000) as i32,
        variance_east_m2: rng.reading(1.0, 100.0),
        variance_north_m2: rng.reading(1.0, 100.0),
        covariance_east_north_m2: rng.reading(-10.0, 10.0),
    }
}

/// A message whose contents are unique to `index`, with the mix a tower
/// sees: mostly detections, some health traffic, a few spectra.
pub fn sample_message(rng: &mut SplitMix64, index: u32) -> Message {
    let time = 1_764_288_000_000_000 + u64::from(index) * 10_000 + rng.below(10_000);
    match rng.below(20) {
        0 => {
            let mut sensor_id = String::new();
            core::fmt::write(&mut sensor_id, format_args!("gn-{index}")).unwrap();
            Message::Hello(Hello {
                sensor_id,
                kind: SensorKind::GroundNode,
                firmware: FirmwareVersion {
                    major: 2,
                    minor: 4,
                    patch: index as u16,
                },
                protocol_version: PROTOCOL_VERSION,
                time_base: TimeBase::UnixEpoch,
            })
        }
        1 | 2 => Message::Heartbeat(Heartbeat {
            sensor_time_us: time,
            uptime_s: index,
            battery_mv: (rng.below(4) != 0).then(|| 3300 + rng.below(900) as u16),
            temperature_decicelsius: rng.below(900) as i16 - 300,
            tamper: rng.below(50) == 0,
            faults: FaultFlags(if rng.below(10) == 0 {
                FaultFlags::LOW_BATTERY
            } else {
                0
            }),
        }),
        3..=8 => Message::GroundEvent(GroundEvent {
            sequence: index,
            sensor_time_us: time,
            modality: [
                GroundModality::Seismic,
                GroundModality::Acoustic,
                GroundModality::Magnetic,
                GroundModality::PassiveInfrared,
            ][rng.below(4) as usize],
            snr_db: rng.reading(3.0, 40.0),
            energy: rng.below(100_000) as u32,
            class_hint: class(rng),
            bearing: (rng.below(2) == 0).then(|| Bearing {
                azimuth_deg: rng.reading(0.0, 360.0),
                variance_deg2: rng.reading(4.0, 100.0),
            }),
        }),
        9 | 10 => {
            let spectrum = (rng.below(4) == 0).then(|| {
                let mut bins = Vec::new();
                for _ in 0..32 {
                    bins.push(rng.below(5000) as u32).unwrap();
                }
                GammaSpectrum {
                    start_kev: 30,
                    bin_width_kev: 90,
                    bins,
                }
            });
            Message::RadiationSample(RadiationSample {
                sequence: index,
                interval_start_us: time,
                interval_ms: 1000,
                gamma_counts: 200 + rng.below(400) as u32,
                neutron_counts: rng.below(5) as u32,
                spectrum,
                alarms: AlarmFlags(if rng.below(100) == 0 {
                    AlarmFlags::GAMMA
                } else {
                    0
                }),
            })
        }
        11 | 12 => Message::CameraTrigger(CameraTrigger {
            sequence: index,
            sensor_time_us: time,
            target: if rng.below(2) == 0 {
                CameraTarget::Direction {
                    azimuth: Bearing {
                        azimuth_deg: rng.reading(0.0, 360.0),
                        variance_deg2: 0.25,
                    },
                    elevation: Elevation {
                        elevation_deg: rng.reading(-10.0, 10.0),
                        variance_deg2: 0.25,
                    },
                }
            } else {
                CameraTarget::ImageBox(ImageBox {
                    x: rng.below(1800) as u16,
                    y: rng.below(1000) as u16,
                    width: 40,
                    height: 80,
                    image_width: 1920,
                    image_height: 1080,
                })
            },
            class: class(rng),
            confidence_pct: rng.below(101) as u8,
            ground_position: (rng.below(3) == 0).then(|| position(rng)),
        }),
        13..=16 => Message::PositionReport(PositionReport {
            sequence: index,
            sensor_time_us: time,
            position: position(rng),
            altitude_m: (rng.below(2) == 0).then(|| rng.reading(1100.0, 1300.0)),
            velocity: (rng.below(2) == 0).then(|| GroundVelocity {
                east_mps: rng.reading(-20.0, 20.0),
                north_mps: rng.reading(-20.0, 20.0),
                variance_m2ps2: 1.0,
            }),
            sensor_track_id: (rng.below(2) == 0).then(|| rng.below(10_000) as u32),
            class: class(rng),
        }),
        _ => Message::RangeBearingReport(RangeBearingReport {
            sequence: index,
            sensor_time_us: time,
            range_m: rng.reading(50.0, 8000.0),
            range_variance_m2: 25.0,
            azimuth: Bearing {
                azimuth_deg: rng.reading(0.0, 360.0),
                variance_deg2: 1.0,
            },
            elevation: (rng.below(3) == 0).then(|| Elevation {
                elevation_deg: rng.reading(-5.0, 30.0),
                variance_deg2: 1.0,
            }),
            radial_velocity: (rng.below(2) == 0).then(|| RadialVelocity {
                velocity_mps: rng.reading(-30.0, 30.0),
                variance_m2ps2: 0.5,
            }),
            sensor_track_id: (rng.below(2) == 0).then(|| rng.below(10_000) as u32),
            class: class(rng),
        }),
    }
}

/// Encodes `message` into a fresh vector, delimiter included.
pub fn frame_bytes(message: &Message) -> std::vec::Vec<u8> {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    encode_frame(message, &mut buffer).unwrap().to_vec()
}
