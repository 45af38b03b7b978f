//! Client keys: who is calling. Keys are per service; the config holds only their SHA-256.

mod auth;
mod generate;

pub use auth::{authenticate, AuthError, Caller, KeyRecord, KeyStore};
pub use generate::{generate, GeneratedKey};
