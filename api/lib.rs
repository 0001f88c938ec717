//! Homewatch: a self-hosted dashboard that shows services as tiles in groups and watches them.
//! The binary (`main.rs`) is a thin shell over this library, which the integration tests drive too.

pub mod alerts;
pub mod auth;
pub mod board;
pub mod cluster;
pub mod config;
pub mod copy;
pub mod http;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod public;
pub mod server;
pub mod store;
pub mod tiles;
