//! Watching the tiles: the probes that run a check once (http, keyword, tcp, dns), the engine that
//! schedules them and decides states and incidents, and the stats read from hourly rollups.

pub mod alerting;
pub mod engine;
pub mod maintenance;
pub mod probe;
pub mod stats;
