//! The per-track publication limit (`tracker.min_update_interval_s`): a
//! 50 Hz radar track is published at about 10 Hz, nothing is lost at the
//! end (held updates go out on the second tick or at flush), and setting
//! the limit to 0 publishes every update; tracks that share scans publish
//! in staggered slots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::{Engine, EngineConfig, Output, OutputMessage};
use picket_schema::{Timestamp, TrackStatus};
use support::*;

/// A target walking north past the radar, reported every `period_us`.
fn radar_report(sequence: u32, time_us: i64) -> picket_engine::RawInput {
    let t = (time_us - T0_US) as f64 / 1e6;
    let (east, north) = (0.0, -20.0 + 1.5 * t);
    let (dx, dy) = (east - RADAR.0, north - RADAR.1);
    let range = dx.hypot(dy) as f32;
    let azimuth = dx.atan2(dy).to_degrees().rem_euclid(360.0) as f32;
    mqtt(
        &format!("picket/checkpoint-1/{RADAR_TOPIC}"),
        time_us,
        json(&range_bearing(sequence, time_us, range, azimuth)),
    )
}

/// Confirmed track messages: (time µs, track id).
fn confirmed(outputs: &[Output]) -> Vec<(i64, u64)> {
    outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Track(track) if track.status == TrackStatus::Confirmed => {
                Some((track.time.as_unix_micros(), track.track_id))
            }
            _ => None,
        })
        .collect()
}

/// Feeds `seconds` of 50 Hz reports with a tick every 100 ms; returns the
/// outputs and the last report time.
fn run_radar(config: EngineConfig, seconds: i64) -> (Vec<Output>, Engine, i64) {
    let mut engine = Engine::new(config).unwrap();
    let mut outputs = Vec::new();
    let period_us = 20_000;
    let mut last = T0_US;
    for step in 0..(seconds * 50) {
        let time_us = T0_US + step * period_us;
        outputs.extend_from_slice(engine.handle_input(&radar_report(step as u32 + 1, time_us)));
        if step % 5 == 4 {
            let tick = Timestamp::from_unix_micros(time_us + 1_000).unwrap();
            outputs.extend_from_slice(engine.handle_tick(tick));
        }
        last = time_us;
    }
    (outputs, engine, last)
}

fn config_with_interval(interval_s: Option<f64>) -> EngineConfig {
    let mut config = site_config();
    config.site.reorder_lag_ms = 0;
    config.tracker.min_update_interval_s = interval_s;
    config
}

#[test]
fn a_fifty_hertz_track_is_published_at_about_ten_hertz() {
    let (mut outputs, mut engine, last) = run_radar(config_with_interval(None), 4);
    outputs.extend_from_slice(engine.flush());
    let published = confirmed(&outputs);
    let first = published.first().unwrap().0;
    let span_s = (last - first) as f64 / 1e6;
    let rate = published.len() as f64 / span_s;
    assert!(
        (9.0..=12.5).contains(&rate),
        "{} messages over {span_s:.2} s = {rate:.1} Hz",
        published.len()
    );
    // No two consecutive messages of the track closer than the interval,
    // except for the final state published at flush.
    for pair in published[..published.len() - 1].windows(2) {
        assert!(pair[1].0 - pair[0].0 >= 100_000, "{pair:?}");
    }
    // The newest state is never lost: the last message carries the last
    // report's time.
    assert_eq!(published.last().unwrap().0, last);
}

#[test]
fn a_held_update_goes_out_by_the_tick_after_its_interval() {
    let (outputs, mut engine, last) = run_radar(config_with_interval(None), 2);
    let before = confirmed(&outputs);
    // Reports stopped at `last`; if that one was held, it is published by
    // the first tick after its interval, before any flush.
    let mut later = Vec::new();
    for k in 1..=2 {
        let tick = Timestamp::from_unix_micros(last + k * 100_000).unwrap();
        later.extend_from_slice(engine.handle_tick(tick));
    }
    let newest = confirmed(&later)
        .last()
        .copied()
        .or(before.last().copied())
        .unwrap();
    assert_eq!(newest.0, last, "the final update was published");
    assert!(
        confirmed(engine.flush()).is_empty(),
        "nothing left held at flush"
    );
}

#[test]
fn zero_interval_publishes_every_update() {
    let (outputs, _, _) = run_radar(config_with_interval(Some(0.0)), 2);
    let published = confirmed(&outputs);
    let first = published.first().unwrap().0;
    let updates_after_confirmation = (0..100)
        .map(|step| T0_US + step * 20_000)
        .filter(|time| *time >= first)
        .count();
    assert_eq!(published.len(), updates_after_confirmation);
}

#[test]
fn replayed_inputs_give_identical_coalesced_output() {
    let (a, _, _) = run_radar(config_with_interval(None), 3);
    let (b, _, _) = run_radar(config_with_interval(None), 3);
    assert_eq!(encoded(&a), encoded(&b));
}

/// Confirmed messages per message time, after `from_us`.
fn per_scan(outputs: &[Output], from_us: i64) -> std::collections::BTreeMap<i64, usize> {
    let mut scans = std::collections::BTreeMap::new();
    for (time, _) in confirmed(outputs) {
        if time >= from_us {
            *scans.entry(time).or_insert(0) += 1;
        }
    }
    scans
}

#[test]
fn tracks_updated_by_the_same_scans_publish_in_staggered_slots() {
    // Twenty walkers 40 m apart, all in every scan of a 100 Hz radar whose
    // scans come up to 3 ms late (a jittery grid must not make tracks drift
    // out of their slots and skip one).
    let mut engine = Engine::new(config_with_interval(None)).unwrap();
    let mut outputs = Vec::new();
    let mut sequence = 0;
    let seconds = 3;
    for step in 0..(seconds * 100) {
        let time_us = T0_US + step * 10_000 + (step * 7_919) % 3_000;
        let t = (time_us - T0_US) as f64 / 1e6;
        for walker in 0..20 {
            let (east, north) = (-380.0 + 40.0 * f64::from(walker), -20.0 + 1.5 * t);
            let (dx, dy) = (east - RADAR.0, north - RADAR.1);
            let azimuth = dx.atan2(dy).to_degrees().rem_euclid(360.0) as f32;
            sequence += 1;
            let report = range_bearing(sequence, time_us, dx.hypot(dy) as f32, azimuth);
            let input = mqtt(
                &format!("picket/checkpoint-1/{RADAR_TOPIC}"),
                time_us,
                json(&report),
            );
            outputs.extend_from_slice(engine.handle_input(&input));
        }
        if step % 10 == 9 {
            let tick = Timestamp::from_unix_micros(time_us + 1_000).unwrap();
            outputs.extend_from_slice(engine.handle_tick(tick));
        }
    }
    let mut by_track = std::collections::BTreeMap::<u64, Vec<i64>>::new();
    for (time, track) in confirmed(&outputs) {
        by_track.entry(track).or_default().push(time);
    }
    assert_eq!(by_track.len(), 20, "one track per walker");
    for times in by_track.values() {
        // One per slot: never closer than the interval less a gap and a
        // half (10–13 ms gaps).
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= 80_000, "{pair:?}");
        }
        // Once per interval after its slot is reached: 10 Hz.
        let steady: Vec<_> = times.iter().filter(|t| **t >= T0_US + 1_000_000).collect();
        assert!(steady.len() >= 19, "{} messages in 2 s", steady.len());
    }
    // Without slots all twenty would publish in the same scan.
    let scans = per_scan(&outputs, T0_US + 1_000_000);
    let busiest = scans.values().max().copied().unwrap_or(0);
    assert!(busiest <= 4, "{busiest} messages in one scan: {scans:?}");
    assert!(scans.len() >= 150, "{} of 200 scans publish", scans.len());
}

/// Track messages of one status: (time µs, track id).
fn with_status(outputs: &[Output], status: TrackStatus) -> Vec<(i64, u64)> {
    outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Track(track) if track.status == status => {
                Some((track.time.as_unix_micros(), track.track_id))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_one_hertz_track_coasts_only_when_it_misses_a_sweep_and_is_never_silent_for_an_interval() {
    let mut engine = Engine::new(config_with_interval(None)).unwrap();
    let mut outputs = Vec::new();
    // A 1 Hz radar with ticks every 100 ms; the sweep at 12 s is missed.
    let missed = 12;
    for second in 0..20_i64 {
        let sweep_us = T0_US + second * 1_000_000;
        if second != missed {
            outputs
                .extend_from_slice(engine.handle_input(&radar_report(second as u32 + 1, sweep_us)));
        }
        for tick in 1..=10 {
            let now = Timestamp::from_unix_micros(sweep_us + tick * 100_000).unwrap();
            outputs.extend_from_slice(engine.handle_tick(now));
        }
    }
    assert!(
        confirmed(&outputs).len() >= 15,
        "the track is published at every sweep: {:?}",
        confirmed(&outputs)
    );
    // Consumers take a track unreported for the republish interval (1 s)
    // as ended: the missed sweep leaves no longer silence.
    let mut times: Vec<i64> = confirmed(&outputs)
        .into_iter()
        .chain(with_status(&outputs, TrackStatus::Coasting))
        .map(|(time_us, _)| time_us)
        .collect();
    times.sort_unstable();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] <= 1_000_000,
            "silent from {} to {}",
            pair[0],
            pair[1]
        );
    }
    let coasting = with_status(&outputs, TrackStatus::Coasting);
    // Overdue a gap and a half (1.5 s) after the sweep at 11 s, and only
    // then: a second after each sweep it is on time, not coasting.
    assert!(!coasting.is_empty(), "the missed sweep shows");
    for (time_us, _) in &coasting {
        let since_sweep_11 = (time_us - (T0_US + 11_000_000)) as f64 / 1e6;
        assert!(
            (1.5..2.0).contains(&since_sweep_11),
            "coasting {since_sweep_11:.1} s after the sweep at 11 s: {coasting:?}"
        );
    }
}
