//! The `picket` binary end to end: files in, files and one-line summaries
//! out, and bad input reported with file and line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn picket(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picket"))
        .args(args)
        .output()
        .expect("run picket")
}

fn sample(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/sample")
        .join(file)
        .display()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("picket-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn track_then_score_the_sample() {
    let dir = scratch("sample");
    let tracks = dir.join("tracks.jsonl");
    let out = picket(&[
        "track",
        &sample("detections.jsonl"),
        "--out",
        tracks.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.starts_with("3985 detections,"), "{summary}");
    assert!(summary.contains("detections/s"), "{summary}");

    let per_time = dir.join("per-time.csv");
    let out = picket(&[
        "score",
        "--truth",
        &sample("truth.jsonl"),
        tracks.to_str().unwrap(),
        "--per-time",
        per_time.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let gospa: f64 = line
        .strip_prefix("GOSPA ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unexpected score line: {line}"));
    assert!(gospa < 27.10, "{line}");
    let csv = std::fs::read_to_string(&per_time).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 300,
        "header and one row per second"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_lines_are_reported_with_file_and_line_and_fail() {
    let dir = scratch("bad");
    let input = dir.join("detections.jsonl");
    std::fs::write(
        &input,
        "{\"t\": 0, \"sensor\": \"a\", \"kind\": \"position\", \"x\": 1, \"y\": 2, \"var\": [1, 1]}\n\
         {\"t\": 1, \"sensor\": \"a\", \"kind\": \"lidar\", \"x\": 1, \"y\": 2, \"var\": [1, 1]}\n",
    )
    .unwrap();
    let out = picket(&[
        "track",
        input.to_str().unwrap(),
        "--out",
        dir.join("t.jsonl").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("detections.jsonl: line 2:") && err.contains("lidar"),
        "{err}"
    );

    let out = picket(&[
        "score",
        "--truth",
        dir.join("missing.jsonl").to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("missing.jsonl"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
