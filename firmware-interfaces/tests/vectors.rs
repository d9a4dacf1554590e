//! Byte-exact test vectors in `test-vectors/vectors.json`, checked in both
//! directions: encode(message) == frame bytes, decode(frame bytes) == message.
//! Frames are also rebuilt with a from-the-spec CRC-32C and COBS written here,
//! independently of the crate, so the file is a trustworthy reference for C
//! firmware.
//!
//! After an intentional change, regenerate with
//! `PICKET_WIRE_BLESS=1 cargo test -p picket-wire --test vectors`
//! and review the diff: any change to an existing frame is a wire-format break.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heapless::Vec as BoundedVec;
use picket_wire::*;
use serde::{Deserialize, Serialize};

const VECTOR_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-vectors/vectors.json");

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct VectorFile {
    about: Vec<String>,
    frames: Vec<FrameVector>,
    rejected: Vec<RejectedVector>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct FrameVector {
    name: String,
    description: String,
    message: Message,
    frame_hex: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct RejectedVector {
    name: String,
    description: String,
    frame_hex: String,
    /// One of the names in `error_name`.
    error: String,
}

fn error_name(error: FrameError) -> &'static str {
    match error {
        FrameError::Empty => "empty",
        FrameError::TooLong => "too_long",
        FrameError::Cobs => "cobs",
        FrameError::TooShort => "too_short",
        FrameError::Crc => "crc",
        FrameError::UnknownVersion(_) => "unknown_version",
        FrameError::Payload => "payload",
    }
}

/// Bit-at-a-time CRC-32C straight from the parameters in SPEC.md.
fn reference_crc32c(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    crc ^ 0xFFFF_FFFF
}

/// COBS from the SPEC.md C sketch, plus the delimiter.
fn reference_cobs_frame(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    let mut code_at = 0;
    for &byte in raw {
        if byte == 0 {
            code_at = out.len();
            out.push(0);
        } else {
            out.push(byte);
        }
        let code = out.len() - code_at;
        out[code_at] = code as u8;
        if code == 0xFF {
            code_at = out.len();
            out.push(0);
        }
    }
    let code = out.len() - code_at;
    out[code_at] = code as u8;
    out.push(0);
    out
}

/// `version ‖ payload ‖ CRC` framed by the reference implementations.
fn reference_frame(version: u8, payload: &[u8]) -> Vec<u8> {
    let mut raw = vec![version];
    raw.extend_from_slice(payload);
    let crc = reference_crc32c(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    reference_cobs_frame(&raw)
}

fn postcard_payload(message: &Message) -> Vec<u8> {
    let mut buffer = [0u8; MAX_FRAME_LEN];
    postcard::to_slice(message, &mut buffer).unwrap().to_vec()
}

fn id(text: &str) -> SensorId {
    SensorId::try_from(text).unwrap()
}

/// The vector set. Each entry exercises a message kind or an encoding edge.
fn frame_cases() -> Vec<(&'static str, &'static str, Message)> {
    let full_spectrum = GammaSpectrum {
        start_kev: u16::MAX,
        bin_width_kev: u16::MAX,
        bins: BoundedVec::from_slice(&[u32::MAX; MAX_SPECTRUM_BINS]).unwrap(),
    };
    let border_position = GeoPosition {
        latitude_e7: 317_591_234,
        longitude_e7: -1_064_865_432,
        variance_east_m2: 4.0,
        variance_north_m2: 9.0,
        covariance_east_north_m2: -1.5,
    };
    vec![
        (
            "hello",
            "Registration of a ground node with GNSS time.",
            Message::Hello(Hello {
                sensor_id: id("gn-07"),
                kind: SensorKind::GroundNode,
                firmware: FirmwareVersion {
                    major: 1,
                    minor: 2,
                    patch: 300,
                },
                protocol_version: 1,
                time_base: TimeBase::UnixEpoch,
            }),
        ),
        (
            "hello_max_length_id",
            "Sensor id of exactly 32 bytes, the maximum; free-running clock.",
            Message::Hello(Hello {
                sensor_id: id("rad-portal-checkpoint-south-0001"),
                kind: SensorKind::RadiationDetector,
                firmware: FirmwareVersion {
                    major: 65535,
                    minor: 0,
                    patch: 0,
                },
                protocol_version: 1,
                time_base: TimeBase::SinceBoot,
            }),
        ),
        (
            "hello_utf8_id",
            "Non-ASCII sensor id: the length prefix counts UTF-8 bytes, not characters.",
            Message::Hello(Hello {
                sensor_id: id("kamera-nord-ø1"),
                kind: SensorKind::Camera,
                firmware: FirmwareVersion {
                    major: 3,
                    minor: 0,
                    patch: 1,
                },
                protocol_version: 1,
                time_base: TimeBase::UnixEpoch,
            }),
        ),
        (
            "heartbeat",
            "Battery-powered node, sub-zero temperature (zigzag), no faults. The SPEC.md worked example.",
            Message::Heartbeat(Heartbeat {
                sensor_time_us: 1_764_288_000_000_000,
                uptime_s: 86_400,
                battery_mv: Some(3712),
                temperature_decicelsius: -45,
                tamper: false,
                faults: FaultFlags(0),
            }),
        ),
        (
            "heartbeat_mains_tamper_faults",
            "Mains powered (battery absent), tamper open, two fault bits, extreme temperature.",
            Message::Heartbeat(Heartbeat {
                sensor_time_us: 12_345_678,
                uptime_s: 12,
                battery_mv: None,
                temperature_decicelsius: i16::MIN,
                tamper: true,
                faults: FaultFlags(FaultFlags::CLOCK_UNSYNCED | FaultFlags::MESSAGES_DROPPED),
            }),
        ),
        (
            "ground_event_seismic",
            "Seismic event without bearing.",
            Message::GroundEvent(GroundEvent {
                sequence: 1,
                sensor_time_us: 1_764_288_000_250_000,
                modality: GroundModality::Seismic,
                snr_db: 12.5,
                energy: 4_200,
                class_hint: TargetClass::Person,
                bearing: None,
            }),
        ),
        (
            "ground_event_acoustic_bearing",
            "Acoustic array event with a bearing.",
            Message::GroundEvent(GroundEvent {
                sequence: 300,
                sensor_time_us: 1_764_288_001_000_000,
                modality: GroundModality::Acoustic,
                snr_db: 18.25,
                energy: 91_000,
                class_hint: TargetClass::Vehicle,
                bearing: Some(Bearing {
                    azimuth_deg: 271.5,
                    variance_deg2: 25.0,
                }),
            }),
        ),
        (
            "ground_event_max_integers",
            "Largest sequence and time (10- and 5-byte varints), negative SNR, PIR.",
            Message::GroundEvent(GroundEvent {
                sequence: u32::MAX,
                sensor_time_us: u64::MAX,
                modality: GroundModality::PassiveInfrared,
                snr_db: -3.0,
                energy: u32::MAX,
                class_hint: TargetClass::Unknown,
                bearing: None,
            }),
        ),
        (
            "radiation_sample_counts",
            "One-second gamma/neutron counts without a spectrum.",
            Message::RadiationSample(RadiationSample {
                sequence: 7,
                interval_start_us: 1_764_288_000_000_000,
                interval_ms: 1000,
                gamma_counts: 312,
                neutron_counts: 0,
                spectrum: None,
                alarms: AlarmFlags(0),
            }),
        ),
        (
            "radiation_sample_alarm_spectrum",
            "Gamma and isotope alarm with an 8-bin spectrum.",
            Message::RadiationSample(RadiationSample {
                sequence: 8,
                interval_start_us: 1_764_288_001_000_000,
                interval_ms: 1000,
                gamma_counts: 2_950,
                neutron_counts: 3,
                spectrum: Some(GammaSpectrum {
                    start_kev: 30,
                    bin_width_kev: 360,
                    bins: BoundedVec::from_slice(&[1200, 900, 400, 200, 120, 80, 40, 10]).unwrap(),
                }),
                alarms: AlarmFlags(AlarmFlags::GAMMA | AlarmFlags::ISOTOPE | AlarmFlags::OCCUPIED),
            }),
        ),
        (
            "radiation_sample_max_size",
            "The largest v1 message (367 bytes before COBS): every integer at its maximum, full 64-bin spectrum.",
            Message::RadiationSample(RadiationSample {
                sequence: u32::MAX,
                interval_start_us: u64::MAX,
                interval_ms: u32::MAX,
                gamma_counts: u32::MAX,
                neutron_counts: u32::MAX,
                spectrum: Some(full_spectrum),
                alarms: AlarmFlags(u16::MAX),
            }),
        ),
        (
            "camera_trigger_direction_position",
            "Camera with pointing knowledge and terrain geolocation (western hemisphere: negative longitude).",
            Message::CameraTrigger(CameraTrigger {
                sequence: 55,
                sensor_time_us: 1_764_288_002_500_000,
                target: CameraTarget::Direction {
                    azimuth: Bearing {
                        azimuth_deg: 184.25,
                        variance_deg2: 0.25,
                    },
                    elevation: Elevation {
                        elevation_deg: -2.5,
                        variance_deg2: 0.25,
                    },
                },
                class: TargetClass::Person,
                confidence_pct: 87,
                ground_position: Some(border_position),
            }),
        ),
        (
            "camera_trigger_image_box",
            "Camera that only knows the image box; no ground position.",
            Message::CameraTrigger(CameraTrigger {
                sequence: 56,
                sensor_time_us: 1_764_288_002_600_000,
                target: CameraTarget::ImageBox(ImageBox {
                    x: 1210,
                    y: 388,
                    width: 64,
                    height: 150,
                    image_width: 1920,
                    image_height: 1080,
                }),
                class: TargetClass::Animal,
                confidence_pct: 100,
                ground_position: None,
            }),
        ),
        (
            "position_report_minimal",
            "Geolocated detection with every optional field absent.",
            Message::PositionReport(PositionReport {
                sequence: 1000,
                sensor_time_us: 1_764_288_003_000_000,
                position: border_position,
                altitude_m: None,
                velocity: None,
                sensor_track_id: None,
                class: TargetClass::Unknown,
            }),
        ),
        (
            "position_report_full",
            "Geolocated detection with altitude, velocity and track id (southern/eastern hemisphere).",
            Message::PositionReport(PositionReport {
                sequence: 1001,
                sensor_time_us: 1_764_288_003_100_000,
                position: GeoPosition {
                    latitude_e7: -339_000_000,
                    longitude_e7: 1_512_000_000,
                    variance_east_m2: 16.0,
                    variance_north_m2: 16.0,
                    covariance_east_north_m2: 0.0,
                },
                altitude_m: Some(-12.5),
                velocity: Some(GroundVelocity {
                    east_mps: -1.5,
                    north_mps: 0.75,
                    variance_m2ps2: 0.5,
                }),
                sensor_track_id: Some(17),
                class: TargetClass::Vessel,
            }),
        ),
        (
            "range_bearing_report_minimal",
            "2-D radar plot without Doppler or track id.",
            Message::RangeBearingReport(RangeBearingReport {
                sequence: 2,
                sensor_time_us: 5_000_000,
                range_m: 1523.5,
                range_variance_m2: 25.0,
                azimuth: Bearing {
                    azimuth_deg: 45.0,
                    variance_deg2: 1.0,
                },
                elevation: None,
                radial_velocity: None,
                sensor_track_id: None,
                class: TargetClass::Unknown,
            }),
        ),
        (
            "range_bearing_report_full",
            "3-D radar plot with negative elevation, approaching Doppler and track id.",
            Message::RangeBearingReport(RangeBearingReport {
                sequence: 3,
                sensor_time_us: 5_100_000,
                range_m: 820.0,
                range_variance_m2: 9.0,
                azimuth: Bearing {
                    azimuth_deg: 359.75,
                    variance_deg2: 0.5,
                },
                elevation: Some(Elevation {
                    elevation_deg: -1.25,
                    variance_deg2: 0.5,
                }),
                radial_velocity: Some(RadialVelocity {
                    velocity_mps: -4.5,
                    variance_m2ps2: 0.25,
                }),
                sensor_track_id: Some(70_000),
                class: TargetClass::Vehicle,
            }),
        ),
    ]
}

/// Frames the decoder must reject, built from the reference implementations.
fn rejected_cases(heartbeat: &Message) -> Vec<(&'static str, &'static str, Vec<u8>, FrameError)> {
    let payload = postcard_payload(heartbeat);

    let mut bad_crc_raw = vec![PROTOCOL_VERSION];
    bad_crc_raw.extend_from_slice(&payload);
    let crc = reference_crc32c(&bad_crc_raw) ^ 0x0000_0100;
    bad_crc_raw.extend_from_slice(&crc.to_le_bytes());

    let mut flipped_payload = payload.clone();
    flipped_payload[3] ^= 0x04;
    let mut flipped_raw = vec![PROTOCOL_VERSION];
    flipped_raw.extend_from_slice(&flipped_payload);
    flipped_raw.extend_from_slice(
        &reference_crc32c(&{
            let mut original = vec![PROTOCOL_VERSION];
            original.extend_from_slice(&payload);
            original
        })
        .to_le_bytes(),
    );

    let mut trailing = payload.clone();
    trailing.push(0x2A);

    vec![
        (
            "crc_error_bad_trailer",
            "The worked-example heartbeat with one bit of its CRC flipped.",
            reference_cobs_frame(&bad_crc_raw),
            FrameError::Crc,
        ),
        (
            "crc_error_bad_payload",
            "The worked-example heartbeat with one payload bit flipped after the CRC was computed.",
            reference_cobs_frame(&flipped_raw),
            FrameError::Crc,
        ),
        (
            "unknown_version",
            "A valid CRC over version byte 2: newer firmware, not noise.",
            reference_frame(2, &payload),
            FrameError::UnknownVersion(2),
        ),
        (
            "payload_bad_variant",
            "Version 1 and a valid CRC, but message variant 99 does not exist.",
            reference_frame(PROTOCOL_VERSION, &[99, 0, 0]),
            FrameError::Payload,
        ),
        (
            "payload_trailing_bytes",
            "The worked-example heartbeat with one extra payload byte, CRC valid.",
            reference_frame(PROTOCOL_VERSION, &trailing),
            FrameError::Payload,
        ),
        (
            "payload_truncated",
            "The worked-example heartbeat with its last payload byte missing, CRC valid.",
            reference_frame(PROTOCOL_VERSION, &payload[..payload.len() - 1]),
            FrameError::Payload,
        ),
        (
            "too_short",
            "Decodes to 3 bytes: no room for version and CRC.",
            reference_cobs_frame(&[1, 2, 3]),
            FrameError::TooShort,
        ),
        (
            "cobs_code_past_end",
            "The first COBS code byte (0x20) points beyond the end of the frame.",
            vec![0x20, 0x01, 0x02, 0x00],
            FrameError::Cobs,
        ),
        ("empty", "A lone delimiter.", vec![0x00], FrameError::Empty),
        (
            "too_long",
            "600 non-zero bytes before the delimiter: longer than any valid frame. \
             The receiver skips to the delimiter and resynchronises.",
            {
                let mut long = vec![0x01; 600];
                long.push(0x00);
                long
            },
            FrameError::TooLong,
        ),
    ]
}

fn build_vector_file() -> VectorFile {
    let cases = frame_cases();
    let heartbeat = &cases
        .iter()
        .find(|(name, ..)| *name == "heartbeat")
        .unwrap()
        .2;
    VectorFile {
        about: vec![
            "picket-wire protocol version 1 test vectors; see SPEC.md for the format.".into(),
            "frame_hex is the complete frame as sent on the serial line, trailing 0x00 included."
                .into(),
            "message is the decoded value in the MQTT JSON form.".into(),
            "rejected frames must be rejected with the given error kind (SPEC.md, receiver rules)."
                .into(),
            "Generated by tests/vectors.rs with PICKET_WIRE_BLESS=1; never edit frame_hex by hand."
                .into(),
        ],
        frames: cases
            .iter()
            .map(|(name, description, message)| FrameVector {
                name: (*name).into(),
                description: (*description).into(),
                message: message.clone(),
                frame_hex: hex::encode(reference_frame(
                    PROTOCOL_VERSION,
                    &postcard_payload(message),
                )),
            })
            .collect(),
        rejected: rejected_cases(heartbeat)
            .into_iter()
            .map(|(name, description, bytes, error)| RejectedVector {
                name: name.into(),
                description: description.into(),
                frame_hex: hex::encode(bytes),
                error: error_name(error).into(),
            })
            .collect(),
    }
}

fn decode_all(bytes: &[u8]) -> Vec<Result<Message, FrameError>> {
    let mut decoder: FrameDecoder = FrameDecoder::new();
    let mut outcomes = Vec::new();
    let mut input = bytes;
    loop {
        match decoder.feed(input) {
            FeedResult::Consumed => return outcomes,
            FeedResult::Frame { message, remaining } => {
                outcomes.push(Ok(message));
                input = remaining;
            }
            FeedResult::Error { error, remaining } => {
                outcomes.push(Err(error));
                input = remaining;
            }
        }
    }
}

/// Reads the vector file, first rewriting it when blessing. Every test goes
/// through here so a blessing run never races a reader against the writer.
fn load_vector_file() -> VectorFile {
    static BLESS: std::sync::Once = std::sync::Once::new();
    BLESS.call_once(|| {
        if std::env::var_os("PICKET_WIRE_BLESS").is_some() {
            let json = serde_json::to_string_pretty(&build_vector_file()).unwrap() + "\n";
            std::fs::write(VECTOR_FILE, json).unwrap();
        }
    });
    serde_json::from_str(&std::fs::read_to_string(VECTOR_FILE).unwrap()).unwrap()
}

#[test]
fn vector_file_is_current() {
    assert_eq!(
        load_vector_file(),
        build_vector_file(),
        "test-vectors/vectors.json is stale; see the module docs"
    );
}

#[test]
fn frames_encode_and_decode_exactly() {
    let file = load_vector_file();
    assert!(file.frames.len() >= 7);
    for vector in &file.frames {
        let bytes = hex::decode(&vector.frame_hex).unwrap();
        let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
        let encoded = encode_frame(&vector.message, &mut buffer).unwrap();
        assert_eq!(
            hex::encode(&encoded),
            vector.frame_hex,
            "encoding {}",
            vector.name
        );
        assert_eq!(
            decode_all(&bytes),
            vec![Ok(vector.message.clone())],
            "decoding {}",
            vector.name
        );
    }
}

#[test]
fn rejected_frames_fail_with_the_documented_error() {
    let file = load_vector_file();
    let heartbeat = file.frames.iter().find(|v| v.name == "heartbeat").unwrap();
    let heartbeat_bytes = hex::decode(&heartbeat.frame_hex).unwrap();
    for vector in &file.rejected {
        // Each bad frame is followed by a good one: rejection must not cost
        // the next frame.
        let mut stream = hex::decode(&vector.frame_hex).unwrap();
        stream.extend_from_slice(&heartbeat_bytes);
        let outcomes = decode_all(&stream);
        assert_eq!(outcomes.len(), 2, "{}", vector.name);
        let error = outcomes[0].as_ref().expect_err(&vector.name);
        assert_eq!(error_name(*error), vector.error, "{}", vector.name);
        assert_eq!(
            outcomes[1],
            Ok(heartbeat.message.clone()),
            "{}",
            vector.name
        );
    }
}

#[test]
fn reference_crc_matches_spec_check_value() {
    assert_eq!(reference_crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn max_size_message_fits_with_room() {
    let cases = frame_cases();
    let largest = &cases
        .iter()
        .find(|(name, ..)| *name == "radiation_sample_max_size")
        .unwrap()
        .2;
    let raw_len = 1 + postcard_payload(largest).len() + 4;
    assert_eq!(raw_len, 367, "update MAX_FRAME_LEN docs and SPEC.md");
    assert!(raw_len <= MAX_FRAME_LEN);
}
