//! Out-of-order delivery: within the reorder lag it changes nothing, byte
//! for byte; beyond it, reports are counted and dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;

const DURATION_S: u32 = 120;

#[test]
fn shuffled_within_the_lag_gives_identical_output() {
    let emissions = scenario_emissions(DURATION_S);
    let config = site_config();
    let lag_us = config.site.reorder_lag_ms as i64 * 1_000;

    let sorted = deliver(&emissions, |_| 10_000);
    let mut noise = Noise::new(99);
    // Random delays up to 90 % of the lag reorder reports across sensors and
    // within each sensor.
    let shuffled = deliver(&emissions, |_| {
        (noise.uniform() * 0.9 * lag_us as f64) as i64
    });
    let out_of_order = shuffled
        .windows(2)
        .filter(|pair| {
            let key = |input: &picket_engine::RawInput| input.received_at;
            key(&pair[0]) > key(&pair[1])
        })
        .count();
    assert_eq!(out_of_order, 0, "inputs are in receive order");

    let (_, sorted_outputs) = run(config.clone(), &sorted);
    let (engine, shuffled_outputs) = run(config, &shuffled);
    assert_eq!(engine.counters().dropped.total(), 0);
    assert!(sorted_outputs.len() > 200);
    assert_eq!(encoded(&sorted_outputs), encoded(&shuffled_outputs));
}

#[test]
fn reports_later_than_the_lag_are_counted_and_dropped() {
    let emissions = scenario_emissions(DURATION_S);
    let config = site_config();
    let lag_us = config.site.reorder_lag_ms as i64 * 1_000;
    // Every 25th report (Hellos aside) arrives two lags late.
    let late = |index: usize| index > 10 && index.is_multiple_of(25);
    let inputs = deliver(
        &emissions,
        |index| if late(index) { 2 * lag_us } else { 10_000 },
    );
    let (engine, _) = run(config, &inputs);
    let late_reports = (0..emissions.len()).filter(|index| late(*index)).count() as u64;
    let counters = engine.counters();
    // A late report is dropped when something newer has already been
    // released (processing it would break time order); one that finds
    // nothing newer released yet is still processed, in order. Either
    // way the tracker never sees time go backwards.
    assert!(
        counters.dropped.too_late > late_reports / 2 && counters.dropped.too_late <= late_reports,
        "{} of {late_reports} late reports dropped",
        counters.dropped.too_late
    );
    assert_eq!(counters.dropped.total(), counters.dropped.too_late);
    assert_eq!(counters.tracker_rejected, 0);
}

#[test]
fn a_release_at_next_release_time_lets_a_waiting_report_through() {
    let config = site_config();
    let lag_us = config.site.reorder_lag_ms as i64 * 1_000;
    let mut engine = picket_engine::Engine::new(config).unwrap();
    assert_eq!(engine.next_release_time(), None);

    let sent_us = T0_US + 5_000_000;
    let report = range_bearing(1, sent_us, 150.0, 45.0);
    engine.handle_input(&mqtt(RADAR_TOPIC, sent_us + 2_000, json(&report)));
    assert_eq!(engine.pending_reports(), 1);
    let due = engine.next_release_time().unwrap();
    assert_eq!(due.as_unix_micros(), sent_us + lag_us);

    // Nothing else arrives: a release a microsecond early keeps it...
    let early = picket_schema::Timestamp::from_unix_micros(sent_us + lag_us - 1).unwrap();
    engine.handle_release(early);
    assert_eq!(engine.pending_reports(), 1);
    assert_eq!(engine.tracker().stats().detections, 0);
    // ...and one at the time it named hands it to the tracker.
    engine.handle_release(due);
    assert_eq!(engine.pending_reports(), 0);
    assert_eq!(engine.next_release_time(), None);
    assert_eq!(engine.tracker().stats().detections, 1);

    // From then on the lag is measured from the release: a report older
    // than the one released is too late, as after any release.
    let older = range_bearing(2, sent_us - 1_000, 150.0, 45.0);
    engine.handle_input(&mqtt(RADAR_TOPIC, sent_us + lag_us + 10, json(&older)));
    assert_eq!(engine.counters().dropped.too_late, 1);
    assert_eq!(engine.counters().dropped.total(), 1);
}
