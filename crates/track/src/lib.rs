//! picket-track: the sans-IO multi-target tracking core.
pub mod assign;
pub mod gospa;
