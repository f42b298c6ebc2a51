//! webpeek shows, live in a browser, which pages people are visiting on a web server.
//!
//! Data flows one way, one module per stage:
//! [`source`] (lines) → [`parse`] ([`Hit`]) → [`filter`] → [`enrich`] → [`hub`] (frames) → [`web`].
//! [`app`] wires them together for a run; [`config`] is the command line; [`demo`] is a
//! built-in site with synthetic visitors; [`nats`] carries hits from many servers to one hub;
//! [`metrics`] writes `/metrics` pages.

#![warn(missing_docs)]

pub mod app;
pub mod catchup;
pub mod config;
pub mod demo;
pub mod enrich;
pub mod filter;
pub mod hit;
pub mod hub;
pub mod metrics;
pub mod nats;
pub mod parse;
pub mod report;
pub mod source;
pub mod web;

pub use hit::{Hit, Line};

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
