//! Outbox cost per message: fsync at every commit vs group commit vs none,
//! one message per commit and batches of 10; acknowledge.
//!
//! `cargo bench -p picketd --bench outbox`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use picketd::outbox::{FsyncPolicy, Outbox, OutboxLimits};

/// A track-sized payload (~600 bytes of JSON).
fn payload(seq: u64) -> Vec<u8> {
    let mut p = format!("{{\"schema\":1,\"seq\":{seq},\"site\":\"t1\"").into_bytes();
    p.resize(600, b' ');
    p.push(b'}');
    p
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbox");
    let policies = [
        ("always", FsyncPolicy::Always),
        ("group_10ms", FsyncPolicy::GroupCommit { interval_ms: 10 }),
        ("never", FsyncPolicy::Never),
    ];
    for (name, fsync) in policies {
        for batch in [1usize, 10] {
            let dir = tempfile::tempdir().unwrap();
            let limits = OutboxLimits {
                max_entries: usize::MAX,
                max_bytes: u64::MAX,
                fsync,
            };
            let mut outbox = Outbox::open(dir.path(), limits).unwrap();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(BenchmarkId::new(format!("commit_{name}"), batch), |b| {
                b.iter(|| {
                    let mut last = 0;
                    for _ in 0..batch {
                        last = outbox
                            .stage_raw("picket/t1/tracks/1".to_string(), true, |s| Ok(payload(s)))
                            .unwrap();
                    }
                    outbox.commit().unwrap();
                    // Keep the outbox small, as a connected publisher does.
                    for seq in last + 1 - batch as u64..=last {
                        outbox.acknowledge(seq).unwrap();
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
