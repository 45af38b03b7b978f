//! `orguard keys new`: a random client key, printed once, with the `[[keys]]` entry that
//! admits it. Every field the entry sets is printed, so what the operator pastes is what
//! the gateway enforces (nothing is left to a default they did not see).

use std::process::ExitCode;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::keys::generate;
use crate::policy::Class;

/// What `keys new` was asked for.
pub struct NewKey {
    pub service: String,
    pub id: Option<String>,
    pub expires_days: u32,
    pub default_class: String,
    /// `None`: the default class (the key cannot declare a lower one).
    pub min_class: Option<String>,
    pub budget_usd: Option<f64>,
    pub rpm: Option<u64>,
}

/// Why the options cannot make a key entry the gateway would accept.
fn invalid(args: &NewKey) -> Option<String> {
    if args.service.trim().is_empty() {
        return Some("--service must not be empty".to_owned());
    }
    let class = |flag: &str, v: &str| {
        Class::parse(v).filter(|c| c.as_str() == v).ok_or_else(|| {
            format!("{flag} {v:?} is not one of public, internal, confidential, restricted")
        })
    };
    let default = match class("--default-class", &args.default_class) {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    if let Some(min) = &args.min_class {
        match class("--min-class", min) {
            Ok(m) if m > default => {
                return Some(format!(
                    "--min-class {min} is above --default-class {}",
                    default.as_str()
                ))
            }
            Ok(_) => {}
            Err(e) => return Some(e),
        }
    }
    if args
        .budget_usd
        .is_some_and(|b| !(b.is_finite() && b >= 0.0))
    {
        return Some("--budget-usd must be a non-negative amount".to_owned());
    }
    if args.rpm == Some(0) {
        return Some("--rpm must be at least 1".to_owned());
    }
    if args.expires_days == 0 {
        return Some("--expires-days must be at least 1".to_owned());
    }
    None
}

pub fn new(args: &NewKey) -> ExitCode {
    if let Some(problem) = invalid(args) {
        eprintln!("error: {problem}");
        return ExitCode::from(2);
    }
    let service = args.service.as_str();
    let now = OffsetDateTime::now_utc();
    let id = args.id.clone().unwrap_or_else(|| {
        format!(
            "{service}-{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        )
    });
    let expires = (now + Duration::days(i64::from(args.expires_days)))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let created = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    // Written out even when it equals the default class, so the entry shows how low the
    // key may declare itself.
    let min_class = args.min_class.as_deref().unwrap_or(&args.default_class);
    let mut limits = String::new();
    if let Some(budget) = args.budget_usd {
        limits.push_str(&format!(
            "budget_usd = {budget:?}\nbudget_period = \"month\"\n"
        ));
    }
    if let Some(rpm) = args.rpm {
        limits.push_str(&format!("rpm = {rpm}\n"));
    }
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
         default_class = {default_class:?}\n\
         min_class = {min_class:?}\n\
         {limits}\
         created = \"{created}\"\n\
         expires = \"{expires}\"\n",
        key = generated.key,
        sha = generated.sha256,
        default_class = args.default_class,
    );
    super::print(&text)
}
