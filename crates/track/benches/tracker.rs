//! Whole-tracker throughput in detections per second with 100, 1,000 and
//! 10,000 live targets plus clutter (seeded synthetic scenario: targets
//! spread over an area proportional to their number, Pd 0.9, Poisson
//! clutter of 0.2 false detections per target per scan).
//!
//! Each measured run starts from a tracker that has already confirmed the
//! targets (10 warm-up scans, untimed) and times the following 30 scans.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/scenario.rs"]
#[allow(dead_code)]
mod scenario;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use picket_track::{Tracker, TrackerConfig};
use scenario::{ScenarioConfig, generate};
use std::hint::black_box;
use std::time::{Duration, Instant};

const WARM_UP_SCANS: usize = 10;
const MEASURED_SCANS: usize = 30;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker");
    group.sample_size(10);
    for targets in [100, 1_000, 10_000] {
        let config = ScenarioConfig {
            scans: WARM_UP_SCANS + MEASURED_SCANS,
            ..ScenarioConfig::dense(targets, 1)
        };
        let scenario = generate(&config);
        let (warm_up, measured) = scenario.scans.split_at(WARM_UP_SCANS);
        let detections: usize = measured.iter().map(|(_, d)| d.len()).sum();
        group.throughput(Throughput::Elements(detections as u64));
        group.bench_function(format!("{targets}_targets"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
                    for (time, scan) in warm_up {
                        tracker.handle_scan(*time, scan).unwrap();
                    }
                    let started = Instant::now();
                    for (time, scan) in measured {
                        black_box(tracker.handle_scan(*time, scan).unwrap());
                    }
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
