//! The library behind the `picket` operator tools, shared with the
//! simulators: the neutral JSONL formats and the scoring protocol, and the
//! recording tools (`inspect`, `replay`).
pub mod formats;
pub mod inspect;
pub mod publish;
pub mod replay;
pub mod score;
pub mod track;
