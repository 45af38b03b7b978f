//! Shared bench inputs: a deterministic generator of varied, realistic request text, chat
//! bodies made of it, and the pre-#14 detectors for a before/after figure in the same run.

// Not every bench sends whole bodies.
#[allow(dead_code)]
pub mod chat;
#[allow(dead_code)]
pub mod old_detectors;
pub mod textgen;
