//! Shared fixtures for picket's whole-system tests (the tests themselves are
//! in `tests/`).

use std::path::PathBuf;

pub mod faults;
pub mod mosquitto;

/// The public sample scenario (`tests/data/sample/`): 10 targets, 300 s,
/// two radars and 80 ground nodes, with Stone Soup reference figures in its
/// `REFERENCE.md`.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/sample")
}
