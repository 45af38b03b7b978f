//! Server-sent-event streams relayed from the upstream to the client.

mod sse;
mod tap;

pub use sse::{classify, LineBuffer, SseLine};
pub use tap::{
    error_event, tap, Cut, Inspector, PassAll, StreamEnd, StreamReport, TapLimits, Verdict,
};
