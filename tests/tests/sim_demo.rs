//! The demo (README's first command) runs to completion under a time limit
//! and meets its score thresholds: embedded broker, virtual sensors on real
//! ptys and MQTT, picketd in-process, scoring against the simulator's
//! truth, and the offline sample check against Stone Soup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use picket_sim::demo::{self, DemoOptions, STONE_SOUP_GNN_GOSPA, THRESHOLDS};

/// The whole demo, release build on 2 shared cores; it takes about 15 s
/// (12 s of it the scenario at 5x).
const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn demo_runs_end_to_end_within_its_limit_and_meets_its_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions::new(dir.path().to_owned());
    let started = Instant::now();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(demo::run(&options));
    });
    let report = result
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("the demo did not finish within {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("the demo failed: {e}"));
    let took = started.elapsed();
    let text = report.render();
    assert!(
        report.failures().is_empty(),
        "{:?}\n{text}",
        report.failures()
    );

    // The same checks, spelled out.
    let live = &report.live;
    let e = &live.evaluation;
    assert!(e.gospa.gospa <= THRESHOLDS.max_gospa, "{text}");
    assert!(e.breaks <= THRESHOLDS.max_breaks, "{text}");
    assert!(e.swaps <= THRESHOLDS.max_swaps, "{text}");
    assert_eq!(e.attribution.carriers, 2, "{text}");
    assert_eq!(e.attribution.recall(), Some(1.0), "{text}");
    assert!(e.attribution.precision().unwrap() >= THRESHOLDS.min_precision);
    assert_eq!(e.truths_tracked, e.truths, "every mover tracked: {text}");
    // Both transports carried the scenario.
    assert!(
        live.sent.serial_frames > 100 && live.sent.mqtt_messages > 100,
        "{text}"
    );
    assert!(live.track_messages > 100, "{text}");
    assert!(live.wall < Duration::from_secs(60), "{text}");
    assert!(took < LIMIT);

    let sample = report
        .runs
        .iter()
        .find(|r| r.name == "public sample")
        .unwrap();
    assert!(sample.score.gospa < STONE_SOUP_GNN_GOSPA);
    for file in [
        "live.svg",
        "live-tracks.jsonl",
        "live-truth.jsonl",
        "live-alerts.jsonl",
        "picketd.toml",
        "sample.svg",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    assert!(
        text.contains(&format!(
            "mosquitto_sub -h 127.0.0.1 -p {} -t 'picket/checkpoint/#' -v",
            live.broker.1
        )),
        "{text}"
    );
    eprintln!("{text}demo took {took:?}");
}
