//! `picket`: operator tools.
fn main() {}
