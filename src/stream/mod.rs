//! Server-sent-event streams relayed from the upstream to the client.

mod sse;
mod tap;

pub use sse::{LineScanner, SseLine};
pub use tap::{error_event, tap, StreamEnd, StreamReport};
