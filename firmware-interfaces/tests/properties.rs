//! Property tests: arbitrary messages round-trip through the frame and JSON,
//! and any single corruption of a stream costs only the frame(s) it touches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heapless::{String, Vec};
use picket_wire::*;
use proptest::prelude::*;

/// Finite floats only: NaN != NaN would make equality meaningless, and JSON
/// cannot carry non-finite values at all.
fn real() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1.0e6f32..1.0e6f32,
        Just(0.0f32),
        Just(-0.0f32),
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE),
        Just(-f32::MAX),
    ]
}

fn sensor_id() -> impl Strategy<Value = SensorId> {
    any::<std::string::String>().prop_map(|text| {
        let mut id = String::new();
        for character in text.chars() {
            if id.push(character).is_err() {
                break;
            }
        }
        id
    })
}

fn class() -> impl Strategy<Value = TargetClass> {
    prop_oneof![
        Just(TargetClass::Unknown),
        Just(TargetClass::Person),
        Just(TargetClass::Vehicle),
        Just(TargetClass::Animal),
        Just(TargetClass::Aircraft),
        Just(TargetClass::Vessel),
    ]
}

fn bearing() -> impl Strategy<Value = Bearing> {
    (real(), real()).prop_map(|(azimuth_deg, variance_deg2)| Bearing {
        azimuth_deg,
        variance_deg2,
    })
}

fn elevation() -> impl Strategy<Value = Elevation> {
    (real(), real()).prop_map(|(elevation_deg, variance_deg2)| Elevation {
        elevation_deg,
        variance_deg2,
    })
}

fn geo_position() -> impl Strategy<Value = GeoPosition> {
    (any::<i32>(), any::<i32>(), real(), real(), real()).prop_map(|(lat, lon, e, n, en)| {
        GeoPosition {
            latitude_e7: lat,
            longitude_e7: lon,
            variance_east_m2: e,
            variance_north_m2: n,
            covariance_east_north_m2: en,
        }
    })
}

fn hello() -> impl Strategy<Value = Message> {
    (
        sensor_id(),
        0..5u8,
        any::<[u16; 3]>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(
            |(sensor_id, kind, [major, minor, patch], protocol_version, epoch)| {
                Message::Hello(Hello {
                    sensor_id,
                    kind: [
                        SensorKind::GroundNode,
                        SensorKind::RadiationDetector,
                        SensorKind::Camera,
                        SensorKind::Radar,
                        SensorKind::GeolocatedDetector,
                    ][usize::from(kind)],
                    firmware: FirmwareVersion {
                        major,
                        minor,
                        patch,
                    },
                    protocol_version,
                    time_base: if epoch {
                        TimeBase::UnixEpoch
                    } else {
                        TimeBase::SinceBoot
                    },
                })
            },
        )
}

fn heartbeat() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<Option<u16>>(),
        any::<i16>(),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(time, uptime, battery, temperature, tamper, faults)| {
            Message::Heartbeat(Heartbeat {
                sensor_time_us: time,
                uptime_s: uptime,
                battery_mv: battery,
                temperature_decicelsius: temperature,
                tamper,
                faults: FaultFlags(faults),
            })
        })
}

fn ground_event() -> impl Strategy<Value = Message> {
    (
        any::<u32>(),
        any::<u64>(),
        0..4usize,
        real(),
        any::<u32>(),
        class(),
        proptest::option::of(bearing()),
    )
        .prop_map(
            |(sequence, time, modality, snr_db, energy, class_hint, bearing)| {
                Message::GroundEvent(GroundEvent {
                    sequence,
                    sensor_time_us: time,
                    modality: [
                        GroundModality::Seismic,
                        GroundModality::Acoustic,
                        GroundModality::Magnetic,
                        GroundModality::PassiveInfrared,
                    ][modality],
                    snr_db,
                    energy,
                    class_hint,
                    bearing,
                })
            },
        )
}

fn radiation_sample() -> impl Strategy<Value = Message> {
    let spectrum = (
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u32>(), 0..=MAX_SPECTRUM_BINS),
    )
        .prop_map(|(start_kev, bin_width_kev, bins)| GammaSpectrum {
            start_kev,
            bin_width_kev,
            bins: Vec::from_slice(&bins).unwrap(),
        });
    (
        any::<[u32; 4]>(),
        any::<u64>(),
        proptest::option::of(spectrum),
        any::<u16>(),
    )
        .prop_map(
            |([sequence, interval_ms, gamma_counts, neutron_counts], start, spectrum, alarms)| {
                Message::RadiationSample(RadiationSample {
                    sequence,
                    interval_start_us: start,
                    interval_ms,
                    gamma_counts,
                    neutron_counts,
                    spectrum,
                    alarms: AlarmFlags(alarms),
                })
            },
        )
}

fn camera_trigger() -> impl Strategy<Value = Message> {
    let target = prop_oneof![
        (bearing(), elevation())
            .prop_map(|(azimuth, elevation)| CameraTarget::Direction { azimuth, elevation }),
        any::<[u16; 6]>().prop_map(|[x, y, width, height, image_width, image_height]| {
            CameraTarget::ImageBox(ImageBox {
                x,
                y,
                width,
                height,
                image_width,
                image_height,
            })
        }),
    ];
    (
        any::<u32>(),
        any::<u64>(),
        target,
        class(),
        any::<u8>(),
        proptest::option::of(geo_position()),
    )
        .prop_map(
            |(sequence, time, target, class, confidence_pct, ground_position)| {
                Message::CameraTrigger(CameraTrigger {
                    sequence,
                    sensor_time_us: time,
                    target,
                    class,
                    confidence_pct,
                    ground_position,
                })
            },
        )
}

fn position_report() -> impl Strategy<Value = Message> {
    let velocity =
        (real(), real(), real()).prop_map(|(east_mps, north_mps, variance_m2ps2)| GroundVelocity {
            east_mps,
            north_mps,
            variance_m2ps2,
        });
    (
        any::<u32>(),
        any::<u64>(),
        geo_position(),
        proptest::option::of(real()),
        proptest::option::of(velocity),
        any::<Option<u32>>(),
        class(),
    )
        .prop_map(
            |(sequence, time, position, altitude_m, velocity, sensor_track_id, class)| {
                Message::PositionReport(PositionReport {
                    sequence,
                    sensor_time_us: time,
                    position,
                    altitude_m,
                    velocity,
                    sensor_track_id,
                    class,
                })
            },
        )
}

fn range_bearing_report() -> impl Strategy<Value = Message> {
    let radial = (real(), real()).prop_map(|(velocity_mps, variance_m2ps2)| RadialVelocity {
        velocity_mps,
        variance_m2ps2,
    });
    (
        (any::<u32>(), any::<u64>(), real(), real()),
        bearing(),
        proptest::option::of(elevation()),
        proptest::option::of(radial),
        any::<Option<u32>>(),
        class(),
    )
        .prop_map(
            |(
                (sequence, time, range_m, range_variance_m2),
                azimuth,
                elevation,
                radial_velocity,
                track,
                class,
            )| {
                Message::RangeBearingReport(RangeBearingReport {
                    sequence,
                    sensor_time_us: time,
                    range_m,
                    range_variance_m2,
                    azimuth,
                    elevation,
                    radial_velocity,
                    sensor_track_id: track,
                    class,
                })
            },
        )
}

/// Boxed: the unboxed union of seven tuple strategies has value trees big
/// enough to overflow a test thread's stack in debug builds.
fn message() -> BoxedStrategy<Message> {
    prop_oneof![
        hello().boxed(),
        heartbeat().boxed(),
        ground_event().boxed(),
        radiation_sample().boxed(),
        camera_trigger().boxed(),
        position_report().boxed(),
        range_bearing_report().boxed(),
    ]
    .boxed()
}

fn frame_bytes(message: &Message) -> std::vec::Vec<u8> {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    encode_frame(message, &mut buffer).unwrap().to_vec()
}

/// Feeds `stream` in one piece and collects every decoded message.
fn decode_stream(stream: &[u8]) -> std::vec::Vec<Message> {
    let mut decoder: FrameDecoder = FrameDecoder::new();
    let mut decoded = std::vec::Vec::new();
    let mut input = stream;
    loop {
        match decoder.feed(input) {
            FeedResult::Consumed => return decoded,
            FeedResult::Frame { message, remaining } => {
                decoded.push(message);
                input = remaining;
            }
            FeedResult::Error { remaining, .. } => input = remaining,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Corruption {
    FlipBit { bit: u8 },
    Insert { byte: u8 },
    Delete,
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (0..8u8).prop_map(|bit| Corruption::FlipBit { bit }),
        any::<u8>().prop_map(|byte| Corruption::Insert { byte }),
        Just(Corruption::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frames_round_trip(message in message()) {
        let frame = frame_bytes(&message);
        prop_assert!(frame.len() <= MAX_ENCODED_FRAME_LEN);
        prop_assert_eq!(frame.iter().position(|&b| b == DELIMITER), Some(frame.len() - 1));
        let mut body = frame[..frame.len() - 1].to_vec();
        prop_assert_eq!(decode_frame(&mut body), Ok(message.clone()));
        prop_assert_eq!(decode_stream(&frame), vec![message]);
    }

    #[test]
    fn json_round_trips(message in message()) {
        let json = serde_json::to_string(&message).unwrap();
        let back: Message = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, message);
    }

    #[test]
    fn encoder_reports_small_buffers(message in message(), shortfall in 1..8usize) {
        let needed = frame_bytes(&message).len();
        let mut buffer = vec![0u8; needed.saturating_sub(shortfall)];
        prop_assert_eq!(encode_frame(&message, &mut buffer), Err(EncodeError::BufferTooSmall));
    }

    /// One corruption anywhere in a stream of frames. The damaged frame is
    /// rejected, and so is its neighbour if the corruption destroyed the
    /// delimiter between them; every other frame decodes, in order.
    ///
    /// A flipped bit in a data byte is a 1-bit error after COBS decoding,
    /// which CRC-32C always detects (its Hamming distance is 6 at these
    /// lengths). A flipped COBS code byte, an insertion or a deletion moves
    /// bytes around: COBS structure checks or the CRC catch those, with a
    /// residual chance of a miss of about 2^-32 per damaged frame, which this
    /// test would report as a failure rather than assume away.
    #[test]
    fn single_corruption_costs_only_the_frames_it_touches(
        messages in proptest::collection::vec(message(), 1..6),
        position_seed in any::<usize>(),
        corruption in corruption(),
        chunk_len in 1..64usize,
    ) {
        let frames: std::vec::Vec<_> = messages.iter().map(frame_bytes).collect();
        let total: usize = frames.iter().map(std::vec::Vec::len).sum();
        let position = position_seed % total;

        let mut stream = std::vec::Vec::new();
        let mut damaged = vec![false; frames.len()];
        let mut offset_in_stream = 0;
        for (index, frame) in frames.iter().enumerate() {
            for (offset, &byte) in frame.iter().enumerate() {
                let at = offset_in_stream + offset;
                if at != position {
                    stream.push(byte);
                    continue;
                }
                let is_delimiter = offset == frame.len() - 1;
                let at_frame_edge = offset == 0 || is_delimiter;
                match corruption {
                    Corruption::FlipBit { bit } => {
                        stream.push(byte ^ (1 << bit));
                        damaged[index] = true;
                    }
                    Corruption::Insert { byte: inserted } => {
                        stream.push(inserted);
                        stream.push(byte);
                        // A zero inserted right after the previous delimiter or
                        // right before this one only adds an empty frame.
                        damaged[index] = !(inserted == DELIMITER && at_frame_edge);
                    }
                    Corruption::Delete => damaged[index] = true,
                }
                let delimiter_lost = is_delimiter && !matches!(corruption, Corruption::Insert { .. });
                if delimiter_lost && index + 1 < frames.len() {
                    damaged[index + 1] = true;
                }
            }
            offset_in_stream += frame.len();
        }

        let expected: std::vec::Vec<_> = messages
            .iter()
            .zip(&damaged)
            .filter(|(_, hit)| !**hit)
            .map(|(message, _)| message.clone())
            .collect();

        prop_assert_eq!(&decode_stream(&stream), &expected);

        // Same stream in small chunks: chunking must not change the outcome.
        let mut decoder: FrameDecoder = FrameDecoder::new();
        let mut chunked = std::vec::Vec::new();
        for chunk in stream.chunks(chunk_len) {
            let mut input = chunk;
            loop {
                match decoder.feed(input) {
                    FeedResult::Consumed => break,
                    FeedResult::Frame { message, remaining } => {
                        chunked.push(message);
                        input = remaining;
                    }
                    FeedResult::Error { remaining, .. } => input = remaining,
                }
            }
        }
        prop_assert_eq!(&chunked, &expected);
    }
}
