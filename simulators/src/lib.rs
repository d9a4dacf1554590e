//! picket-sim: seeded border scenarios with ground truth, written in the
//! neutral JSONL formats so that any tracker can be scored on them, and the
//! demo.
#[cfg(feature = "demo-broker")]
pub mod broker;
pub mod demo;
pub mod evaluate;
pub mod live;
pub mod play;
pub mod plot;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod scenario_file;
pub mod sensors;
pub mod watch;
