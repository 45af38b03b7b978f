//! Shared bench inputs: a deterministic generator of varied, realistic request text, and the
//! pre-#14 detectors for a before/after figure in the same run.

#[allow(dead_code)]
pub mod old_detectors;
pub mod textgen;
