//! picket-track: the sans-IO multi-target tracking core.
