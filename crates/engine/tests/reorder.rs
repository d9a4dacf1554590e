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
