//! Watching the tiles: the probes that run a check once (http, keyword, tcp, dns). The scheduler, states,
//! incidents and rollups build on these.

pub mod engine;
pub mod probe;
pub mod rollup;
pub mod stats;
