//! Full audit for classes with `capture = "encrypted"`: the request body as forwarded and
//! the response as delivered, encrypted with age to the auditor's X25519 recipients
//! (`audit.capture_recipients`) before they touch disk.
//!
//! Why age: a small, audited file format with a pure-Rust implementation (no C toolchain,
//! like the rest of the build), whose X25519 recipients are short public strings an
//! operator can paste into the config, and whose files the auditor can open with the
//! standard `age` CLI as well as `orguard audit decrypt`.
//!
//! The gateway holds only public keys: it can write captures and never read them back, so
//! neither a stolen audit volume nor an operator with shell access to it reveals what a
//! restricted request said. Each capture is stored as `<audit dir>/captures/<request_id>.
//! <request|response>.age`, fsynced before the record that references it is queued, and
//! the record carries the SHA-256 of the ciphertext (`capture_sha256`), so the hash chain
//! covers the capture: a changed, swapped or deleted capture is found by `audit verify`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The directory under the file sink's directory that holds captures.
pub const DIR: &str = "captures";

/// Which side of a request a capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The request body exactly as forwarded upstream.
    Request,
    /// The response as delivered to the client (a stream's events, assembled).
    Response,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }

    /// The record type that references a capture of this part.
    pub fn from_record_type(t: &str) -> Option<Self> {
        match t {
            "request" => Some(Self::Request),
            "response" => Some(Self::Response),
            _ => None,
        }
    }
}

/// Why a capture could not be written. Carries an I/O error kind only: never content.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaptureError {
    #[error("capture I/O error: {0}")]
    Io(String),
    #[error("capture encryption failed")]
    Encrypt,
    #[error("the request id cannot name a capture file")]
    BadId,
    #[error("the capture task did not finish")]
    Task,
}

impl CaptureError {
    fn io(e: &std::io::Error) -> Self {
        Self::Io(e.kind().to_string())
    }
}

/// The capture writer: a directory and the recipients' public keys. Nothing here can
/// decrypt what it writes.
#[derive(Debug, Clone)]
pub struct Capture {
    dir: PathBuf,
    recipients: Vec<age::x25519::Recipient>,
}

/// Parses `audit.capture_recipients`. Each error is the entry's index and what is wrong
/// with it, naming its value (a recipient is a public key, not a secret).
pub fn parse_recipients(
    list: &[String],
) -> Result<Vec<age::x25519::Recipient>, Vec<(usize, String)>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        match age::x25519::Recipient::from_str(r.trim()) {
            Ok(recipient) => out.push(recipient),
            Err(e) => problems.push((
                i,
                format!("{r:?} is not an age X25519 recipient (age1…): {e}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The file name of a capture, or `None` when the id could not be a safe file name (the
/// gateway makes its own ids, `req_<hex>`, so this is a guard, not a path taken).
pub fn file_name(request_id: &str, part: Part) -> Option<String> {
    let ok = !request_id.is_empty()
        && request_id.len() <= 128
        && request_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    ok.then(|| format!("{request_id}.{}.age", part.as_str()))
}

impl Capture {
    /// `dir` is the captures directory itself (`<audit dir>/captures`).
    pub fn new(dir: PathBuf, recipients: Vec<age::x25519::Recipient>) -> Self {
        Self { dir, recipients }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Encrypts `plaintext` to every recipient and stores it durably (written to a
    /// temporary name, fsynced, renamed, the directory fsynced), so that a record naming
    /// it is never on disk before it. Returns the hex SHA-256 of the ciphertext. Blocking:
    /// call it off the async workers.
    pub fn write(
        &self,
        request_id: &str,
        part: Part,
        plaintext: &[u8],
    ) -> Result<String, CaptureError> {
        let name = file_name(request_id, part).ok_or(CaptureError::BadId)?;
        let ciphertext = encrypt(&self.recipients, plaintext)?;
        let sha = hex::encode(Sha256::digest(&ciphertext));
        create_dir(&self.dir).map_err(|e| CaptureError::io(&e))?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let done = self.dir.join(&name);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&ciphertext)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &done)?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(CaptureError::io(&e));
        }
        Ok(sha)
    }
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn encrypt(
    recipients: &[age::x25519::Recipient],
    plaintext: &[u8],
) -> Result<Vec<u8>, CaptureError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|_| CaptureError::Encrypt)?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|_| CaptureError::Encrypt)?;
    writer
        .write_all(plaintext)
        .map_err(|_| CaptureError::Encrypt)?;
    writer.finish().map_err(|_| CaptureError::Encrypt)?;
    Ok(out)
}

/// Decrypts a capture with the identities of an age identity file (`AGE-SECRET-KEY-1…`
/// lines, as `age-keygen` writes them). For the auditor's machine, never the gateway's.
/// Errors say what failed, never the key or the plaintext.
pub fn decrypt(ciphertext: &[u8], identity_file: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read(identity_file).map_err(|e| {
        format!(
            "cannot read the identity file {}: {}",
            identity_file.display(),
            e.kind()
        )
    })?;
    let identities = age::IdentityFile::from_buffer(text.as_slice())
        .map_err(|_| {
            format!(
                "{} is not an age identity file (AGE-SECRET-KEY-1… lines)",
                identity_file.display()
            )
        })?
        .into_identities()
        .map_err(|_| {
            format!(
                "{} holds an identity this build cannot use (X25519 only)",
                identity_file.display()
            )
        })?;
    let decryptor = age::Decryptor::new_buffered(ciphertext)
        .map_err(|_| "not an age file (or a damaged one)".to_owned())?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                "none of the identities in the file can decrypt this capture".to_owned()
            }
            _ => "the capture does not decrypt (damaged or tampered)".to_owned(),
        })?;
    let mut plaintext = Vec::new();
    reader
        .read_to_end(&mut plaintext)
        .map_err(|_| "the capture does not decrypt (damaged or tampered)".to_owned())?;
    Ok(plaintext)
}

/// Checks every capture referenced by the records in `files` against `<dir>/captures`:
/// the file exists and its SHA-256 is the one recorded. Returns one problem per bad
/// capture, naming its file.
pub fn verify_files(dir: &Path, files: &[PathBuf]) -> (u64, Vec<String>) {
    let mut checked = 0;
    let mut problems = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines() {
            let Some((name, sha)) = reference(line) else {
                continue;
            };
            checked += 1;
            let capture = dir.join(DIR).join(&name);
            match std::fs::read(&capture) {
                Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == sha => {}
                Ok(_) => problems.push(format!(
                    "capture {name}: its SHA-256 is not the one recorded (changed or replaced)"
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    problems.push(format!("capture {name}: missing"));
                }
                Err(e) => problems.push(format!("capture {name}: cannot be read ({})", e.kind())),
            }
        }
    }
    (checked, problems)
}

/// The capture file name and recorded hash a record line references, if any.
pub fn reference(line: &str) -> Option<(String, String)> {
    // Cheap pre-check: most records reference no capture.
    if !line.contains("\"capture_sha256\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let sha = v.get("capture_sha256")?.as_str()?.to_owned();
    let part = Part::from_record_type(v.get("type")?.as_str()?)?;
    let name = file_name(v.get("request_id")?.as_str()?, part)?;
    Some((name, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hash() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let identity = age::x25519::Identity::generate();
        let capture = Capture::new(dir.path().join(DIR), vec![identity.to_public()]);
        let sha = capture
            .write("req_ab12", Part::Request, b"{\"x\":1}")
            .unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(DIR).join("req_ab12.request.age");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        assert!(memchr::memmem::find(&bytes, b"{\"x\":1}").is_none());
        let id_file = dir.path().join("id.txt");
        std::fs::write(
            &id_file,
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            decrypt(&bytes, &id_file).unwrap_or_else(|e| panic!("{e}")),
            b"{\"x\":1}"
        );
    }

    #[test]
    fn bad_recipients_and_ids() {
        let errs = parse_recipients(&["nope".to_owned()])
            .err()
            .unwrap_or_default();
        assert_eq!(errs[0].0, 0, "{errs:?}");
        assert!(
            errs[0].1.contains("is not an age X25519 recipient"),
            "{errs:?}"
        );
        assert!(file_name("../x", Part::Request).is_none());
        assert!(file_name("", Part::Response).is_none());
    }
}
