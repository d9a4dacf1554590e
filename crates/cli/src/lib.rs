//! The library behind the `picket` operator tools, shared with the
//! simulators: the neutral JSONL formats and the scoring protocol.
pub mod formats;
pub mod score;
pub mod track;
