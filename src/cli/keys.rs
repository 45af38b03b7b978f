//! `orguard keys new`.

use std::process::ExitCode;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::keys::generate;

pub fn new(service: &str, id: Option<&str>, expires_in_days: u32) -> ExitCode {
    if service.trim().is_empty() {
        eprintln!("error: --service must not be empty");
        return ExitCode::from(2);
    }
    let now = OffsetDateTime::now_utc();
    let id = id.map_or_else(
        || {
            format!(
                "{service}-{:04}{:02}{:02}",
                now.year(),
                u8::from(now.month()),
                now.day()
            )
        },
        str::to_owned,
    );
    let expires = (now + Duration::days(i64::from(expires_in_days)))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let created = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let generated = generate();
    let text = format!(
        "# New client key for service {service:?}. It is shown only this once: store it in the\n\
         # service's secret store and give it to the app as its OpenAI API key.\n\
         #\n\
         #   {key}\n\
         #\n\
         # Add this entry to the gateway config (it holds only the key's SHA-256):\n\
         [[keys]]\n\
         id = {id:?}\n\
         service = {service:?}\n\
         sha256 = \"{sha}\"\n\
         created = \"{created}\"\n\
         expires = \"{expires}\"\n",
        key = generated.key,
        sha = generated.sha256,
    );
    super::print(&text)
}
