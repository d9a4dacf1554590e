//! The checkpoint scenario end to end: raw serial frames and MQTT JSON in,
//! tracks, alerts and health out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use picket_engine::OutputMessage;
use picket_schema::{AlertKind, TargetClass, TrackMessage, TrackStatus};
use support::*;

const DURATION_S: u32 = 200;

/// Which mover each track followed: the one nearest to most of its
/// confirmed positions.
fn track_owners(tracks: &[&TrackMessage]) -> BTreeMap<u64, &'static str> {
    let mut votes: BTreeMap<u64, BTreeMap<&'static str, u32>> = BTreeMap::new();
    for track in tracks {
        if track.status == TrackStatus::Deleted {
            continue;
        }
        let t = (track.time.as_unix_micros() - T0_US) as f64 / 1e6;
        let nearest = MOVERS
            .iter()
            .filter_map(|mover| {
                let (east, north) = mover.position(t)?;
                let error = (east - track.enu.east_m).hypot(north - track.enu.north_m);
                Some((error, mover.name))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((error, name)) = nearest
            && error < 20.0
        {
            *votes
                .entry(track.track_id)
                .or_default()
                .entry(name)
                .or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter_map(|(id, names)| {
            let (name, _) = names.into_iter().max_by_key(|(_, count)| *count)?;
            Some((id, name))
        })
        .collect()
}

#[test]
fn carrier_track_gets_the_alarm_and_the_camera_class() {
    let emissions = scenario_emissions(DURATION_S);
    let inputs = deliver(&emissions, |index| 20_000 + (index as i64 % 5) * 10_000);
    let (engine, outputs) = run(site_config(), &inputs);

    let tracks: Vec<&TrackMessage> = outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Track(track) => Some(track),
            _ => None,
        })
        .collect();
    let owners = track_owners(&tracks);
    for mover in ["carrier", "walker", "animal"] {
        assert!(
            owners.values().any(|name| *name == mover),
            "no track for {mover}: {owners:?}"
        );
    }

    // The radiation alert names the carrier's track, and only it.
    let radiation_alerts: Vec<&Vec<u64>> = outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Alert(alert) => match &alert.kind {
                AlertKind::Radiation { track_ids, .. } => Some(track_ids),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(!radiation_alerts.is_empty(), "no radiation alert");
    let named: Vec<u64> = radiation_alerts
        .iter()
        .flat_map(|ids| ids.iter().copied())
        .collect();
    assert!(!named.is_empty(), "the alarm was attributed to no track");
    for id in &named {
        assert_eq!(
            owners.get(id),
            Some(&"carrier"),
            "alarm attributed to track {id}"
        );
    }

    // Flags: every flagged track is the carrier's; the carrier's last
    // message carries the flag and the evidence.
    for track in &tracks {
        if track.radiation.flagged {
            assert_eq!(owners.get(&track.track_id), Some(&"carrier"));
            assert!(!track.radiation.evidence.is_empty());
        }
    }
    let carrier_ids: Vec<u64> = owners
        .iter()
        .filter(|(_, name)| **name == "carrier")
        .map(|(id, _)| *id)
        .collect();
    let last_carrier = tracks
        .iter()
        .rev()
        .find(|track| carrier_ids.contains(&track.track_id))
        .unwrap();
    assert!(last_carrier.radiation.flagged);

    // The camera's classes reach the tracks.
    let class_of = |mover: &str| {
        tracks
            .iter()
            .rev()
            .find(|track| {
                owners.get(&track.track_id) == Some(&mover) && track.status != TrackStatus::Deleted
            })
            .map(|track| track.classification)
            .unwrap()
    };
    assert_eq!(class_of("carrier").class, TargetClass::Vehicle);
    assert!(class_of("carrier").confidence > 0.9);
    assert_eq!(class_of("walker").class, TargetClass::Person);

    // Intrusion into the portal lane: the carrier and the walker.
    let intruders: Vec<u64> = outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Alert(alert) => match &alert.kind {
                AlertKind::Intrusion { track_id, .. } => Some(*track_id),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(
        intruders
            .iter()
            .any(|id| owners.get(id) == Some(&"carrier")),
        "{intruders:?}"
    );
    assert!(
        intruders.iter().any(|id| owners.get(id) == Some(&"walker")),
        "{intruders:?}"
    );

    // A deleted track is cleared right after its final message.
    for pair in outputs.windows(2) {
        if let OutputMessage::Track(track) = &pair[0].message
            && track.status == TrackStatus::Deleted
        {
            assert_eq!(pair[1].message, OutputMessage::TrackCleared);
            assert_eq!(pair[1].topic, pair[0].topic);
        }
    }

    // Every output encodes (and so passes the schema's own checks).
    let encoded = encoded(&outputs);
    assert_eq!(encoded.len(), outputs.len());
    let counters = engine.counters();
    assert_eq!(counters.dropped.total(), 0, "{counters:?}");
    assert!(counters.scans > 300, "{counters:?}");
}
