//! 1 MiB without a frame delimiter on a serial line, four times (issue 7,
//! category 1), through a whole picketd reading a real socat pty: each
//! blob is one `frame_too_long` drop, memory stays bounded (the decoder
//! discards instead of buffering), and the frame after the delimiter
//! decodes. Alone in its test binary so the memory figures are its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use picket_system_tests::faults::{Rng, assert_all_delivered, mb, rss_bytes};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mebibyte_without_a_delimiter_is_one_oversize_frame_and_memory_stays_bounded() {
    const BLOBS: u64 = 4;
    let rig = rig("fault-oversize", |t| t).await;
    let mut rng = Rng::new(0x5EED_0002);
    let mut writer = rig.pty.writer();
    let mut sequence = 0u32;
    let mut written = 0u64;
    let mut walk = |writer: &mut std::fs::File, steps: u32, written: &mut u64| {
        for _ in 0..steps {
            sequence += 1;
            let frame = walker_frame(sequence, sequence);
            *written += frame.len() as u64;
            write_all(writer, &frame);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    walk(&mut writer, 20, &mut written);
    let rss_before = rss_bytes();
    let mut rss_after = Vec::new();
    for _ in 0..BLOBS {
        // 1 MiB of non-zero bytes: no delimiter anywhere.
        let blob: Vec<u8> = rng.bytes(1 << 20).into_iter().map(|b| b | 1).collect();
        written += blob.len() as u64 + 1;
        let mut w = writer.try_clone().unwrap();
        tokio::task::spawn_blocking(move || {
            write_all(&mut w, &blob);
            write_all(&mut w, &[0]);
        })
        .await
        .unwrap();
        // The frame right after the delimiter decodes again.
        walk(&mut writer, 10, &mut written);
        let key = format!("{}.bytes", rig.port_key);
        rig.sub
            .wait_for(WAIT, |m| status_counter(m, &key) == Some(written))
            .await
            .expect("every byte read");
        rss_after.push(rss_bytes());
    }
    let (report, _) = rig.daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    let d = report.engine.dropped;
    assert_eq!(d.frame_too_long, BLOBS, "{d:?}");
    assert_eq!(d.total(), BLOBS, "nothing else dropped: {d:?}");
    assert_eq!(
        report.engine.messages,
        u64::from(sequence),
        "every frame around the blobs decoded"
    );
    // Bounded: the decoder discards rather than buffers, so 4 MiB of
    // oversize input may not cost megabytes per blob.
    let growth = rss_after.iter().max().unwrap().saturating_sub(rss_before);
    let last_growth = rss_after[BLOBS as usize - 1].saturating_sub(rss_after[0]);
    assert!(
        growth < 8_000_000 && last_growth < 2_000_000,
        "RSS {} before, {:?} after each MiB",
        mb(rss_before),
        rss_after.iter().map(|b| mb(*b)).collect::<Vec<_>>()
    );
    assert!(confirmed_tracks(&rig.sub.messages()) > 0);
    assert_all_delivered(&rig.sub, report.outputs_enqueued, WAIT).await;
    eprintln!(
        "{BLOBS} x 1 MiB without delimiter: frame_too_long {}, {} good frames all decoded; \
         RSS {} before, after each: {:?}",
        d.frame_too_long,
        sequence,
        mb(rss_before),
        rss_after.iter().map(|b| mb(*b)).collect::<Vec<_>>()
    );
    rig.sub.close().await;
}
