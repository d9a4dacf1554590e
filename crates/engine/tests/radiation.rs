//! Radiation alarms without tracks: detector alarm bits are honoured, the
//! background test fires on its own, and an alarm with nobody near the
//! detector is alerted as "no track".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::{Engine, OutputMessage};
use picket_schema::{AlarmSource, AlertKind};
use picket_wire::AlarmFlags;
use support::*;

#[test]
fn detector_and_picket_alarms_with_no_track() {
    let mut engine = Engine::new(site_config()).unwrap();
    let mut outputs = Vec::new();
    let samples = (1..=16u32).map(|second| {
        let (gamma, alarms) = match second {
            13 => (100, AlarmFlags::GAMMA),
            15 => (300, 0),
            _ => (95 + second % 10, 0),
        };
        (second, gamma, alarms)
    });
    for (second, gamma, alarms) in samples {
        let start = T0_US + i64::from(second) * 1_000_000;
        let frame = wire_frame(&radiation(second, start, gamma, alarms));
        outputs.extend_from_slice(engine.handle_input(&serial(
            PORTAL_PORT,
            start + 1_000_000,
            frame,
        )));
    }
    outputs.extend_from_slice(engine.flush());
    let alarms: Vec<(Vec<u64>, AlarmSource, Option<f64>)> = outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Alert(alert) => match &alert.kind {
                AlertKind::Radiation {
                    track_ids,
                    source,
                    sigma,
                    ..
                } => Some((track_ids.clone(), *source, *sigma)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    assert_eq!(alarms[0].0, Vec::<u64>::new());
    assert_eq!(alarms[0].1, AlarmSource::Detector);
    assert_eq!(alarms[1].1, AlarmSource::Picket);
    assert!(alarms[1].2.unwrap() > 15.0, "{alarms:?}");
    assert_eq!(engine.counters().radiation_alarms, 2);
}
