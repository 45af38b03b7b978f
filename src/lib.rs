//! orguard: a policy-enforcing reverse proxy for LLM traffic in front of OpenRouter.
//!
//! The library holds everything; `main.rs` only parses the command line. Tests and
//! benchmarks use the same [`server::app`] the binary serves.

#![forbid(unsafe_code)]

pub mod audit;
mod byte_class;
pub mod cli;
pub mod config;
pub mod data_class;
pub mod error;
pub mod error_code;
pub mod glob;
pub mod hex_text;
pub mod json_text;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod on_error;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod postgres;
pub mod redact;
pub mod request;
pub mod secret;
pub mod server;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod traces;
pub mod upstream;
