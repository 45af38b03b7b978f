//! The local PostgreSQL serving TLS with a certificate from a CA made by the tests: the
//! server certificate names `localhost` only, so `127.0.0.1` is a host name it does not carry.
//!
//! Set up once per test binary (a `OnceCell`), as the superuser: the key and certificates are
//! written into the data directory (the key owned by the server's user, mode 0600), then
//! `ALTER SYSTEM SET ssl = on` with `ssl_cert_file`/`ssl_key_file` and `pg_reload_conf()`.
//! TLS on does not stop plaintext connections (`host` lines in pg_hba allow both), so other
//! tests are unaffected. Idempotent across runs: a server already serving a certificate from
//! the CA kept next to it is reused, so two runs do not fight over the files.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_postgres::config::Host;

const CA_FILE: &str = "orguard-test-ca.pem";
const CERT_FILE: &str = "orguard-test-server.crt";
const KEY_FILE: &str = "orguard-test-server.key";

/// The TLS-serving test database.
pub struct PgTls {
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: String,
    user: String,
    port: u16,
    dbname: String,
    /// A plaintext superuser URL, for the tests' own queries.
    pub plain: String,
}

impl PgTls {
    /// `postgres://user@host:port/db?query`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://{}@{host}:{}/{}?{query}",
            self.user, self.port, self.dbname
        )
    }

    /// The CA written to `dir/ca.pem`, for `sslrootcert`.
    pub fn ca_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    /// A superuser connection (plaintext) for the tests' own queries.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.plain, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }

    /// Whether a verify-full connection to `localhost` with `ca_pem` as the root succeeds.
    async fn serves(&self, ca_pem: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        let url = self.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        );
        orguard::postgres::connect(&url, "test setup").await.is_ok()
    }
}

static SERVER: OnceCell<Option<PgTls>> = OnceCell::const_new();

/// The local PostgreSQL with TLS from the tests' CA, or `None` after a loud SKIP (a failure
/// under `CI=true`).
pub async fn tls_postgres() -> Option<&'static PgTls> {
    SERVER.get_or_init(setup).await.as_ref()
}

fn skip(why: &str) -> Option<PgTls> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot turn on TLS for the test PostgreSQL and CI=true: {why}"
    );
    eprintln!("\n*** SKIPPED: cannot turn on TLS for the test PostgreSQL ({why}); the Postgres-over-TLS tests need a local server and root ***\n");
    None
}

async fn setup() -> Option<PgTls> {
    let plain = super::postgres_url().await?;
    let config: tokio_postgres::Config = plain.parse().unwrap();
    let local = matches!(
        config.get_hosts().first(),
        Some(Host::Tcp(h)) if h == "127.0.0.1" || h == "localhost"
    );
    if !local {
        return skip("the server is not on 127.0.0.1");
    }
    let pg = PgTls {
        ca_pem: String::new(),
        user: config.get_user().unwrap_or("postgres").to_owned(),
        port: config.get_ports().first().copied().unwrap_or(5432),
        dbname: config.get_dbname().unwrap_or("postgres").to_owned(),
        plain,
    };
    let client = pg.client().await;
    let data_dir: String = client
        .query_one("SHOW data_directory", &[])
        .await
        .unwrap()
        .get(0);
    let data_dir = PathBuf::from(data_dir);
    let ca_path = data_dir.join(CA_FILE);

    // A previous run's CA, still what the server presents: nothing to do.
    if let Ok(ca) = std::fs::read_to_string(&ca_path) {
        if pg.serves(&ca).await {
            return Some(PgTls { ca_pem: ca, ..pg });
        }
    }

    let (ca_pem, cert_pem, key_pem) = certificates();
    let owner = match std::fs::metadata(&data_dir) {
        Ok(m) => (m.uid(), m.gid()),
        Err(e) => return skip(&format!("cannot see {}: {e}", data_dir.display())),
    };
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    for (path, text, mode) in [
        (&key_path, &key_pem, 0o600),
        (&cert_path, &cert_pem, 0o644),
        (&ca_path, &ca_pem, 0o644),
    ] {
        if let Err(e) = write_owned(path, text, mode, owner) {
            return skip(&format!("cannot write {}: {e}", path.display()));
        }
    }
    // ALTER SYSTEM refuses to run in a transaction block: one statement at a time.
    for sql in [
        "ALTER SYSTEM SET ssl = on".to_owned(),
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_path.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_path.display()),
        "SELECT pg_reload_conf()".to_owned(),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
    // The reload is asynchronous. Read the CA back each time: a concurrent run may have
    // written its own, and whichever the server loaded is the one to use.
    for _ in 0..100 {
        if let Ok(ca) = std::fs::read_to_string(&ca_path) {
            if pg.serves(&ca).await {
                return Some(PgTls { ca_pem: ca, ..pg });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the test PostgreSQL does not serve the new certificate after pg_reload_conf()");
}

/// Written beside the target and renamed over it, owned by the server's user.
fn write_owned(path: &Path, text: &str, mode: u32, owner: (u32, u32)) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::chown(&tmp, Some(owner.0), Some(owner.1))?;
    std::fs::rename(&tmp, path)
}

/// (CA, server certificate for `localhost` only, server key), all PEM.
fn certificates() -> (String, String, String) {
    let (ca, ca_key) = new_ca("orguard test Postgres CA");
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf = params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// A self-signed CA (also what a test uses as the "wrong" CA).
pub fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}
