//! The Postgres sink: an append-only table for central deployments.
//!
//! Each replica keeps its own chain (`replica`, `seq` is the primary key): replicas never
//! coordinate on the hot path, and a verifier walks each replica's chain separately. The
//! `record` column holds the exact canonical line that was hashed. A trigger refuses UPDATE,
//! DELETE and TRUNCATE, so even a role with those privileges cannot rewrite history through
//! SQL; grant the gateway's role INSERT and SELECT only.
//!
//! The connection is made lazily and re-made after a failure; while the database is
//! unreachable (or its certificate does not pass `sslmode`'s checks) every append fails, and
//! requests fail closed.

use tokio_postgres::Client;

use super::Sealed;
use crate::audit::chain::Link;
use crate::audit::AuditError;

pub struct PostgresSink {
    url: String,
    table: String,
    replica: String,
    create: bool,
    client: Option<Client>,
}

/// A table name that can be written into SQL as it is: a lowercase identifier of at most 63
/// bytes (Postgres's limit), so no quoting, no case folding and no injection.
pub fn valid_table(table: &str) -> bool {
    !table.is_empty()
        && table.len() <= 63
        && table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !table.starts_with(|c: char| c.is_ascii_digit())
}

/// The DDL, with the table name substituted (validated as an identifier at config time).
pub fn schema_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            replica    text        NOT NULL,
            seq        bigint      NOT NULL,
            ts         timestamptz NOT NULL,
            kind       text        NOT NULL,
            request_id text        NOT NULL,
            prev       text        NOT NULL,
            hash       text        NOT NULL,
            record     text        NOT NULL,
            PRIMARY KEY (replica, seq)
        );
        CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;
        END $$;
        CREATE OR REPLACE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
        CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();"
    )
}

/// A connection to `url` (with its `sslmode`, see [`crate::postgres`]) and, with `schema`,
/// the statements that create the table and its append-only triggers run once. `what` names
/// the database in Postgres and in the log line written when the connection ends.
pub(crate) async fn connect(
    url: &str,
    schema: Option<&str>,
    what: &'static str,
) -> Result<Client, AuditError> {
    let client = crate::postgres::connect(url, what)
        .await
        .map_err(|e| AuditError::Postgres(e.to_string()))?;
    if let Some(sql) = schema {
        client
            .batch_execute(sql)
            .await
            .map_err(AuditError::postgres)?;
    }
    Ok(client)
}

impl PostgresSink {
    pub fn new(url: String, table: String, replica: String, create: bool) -> Self {
        Self {
            url,
            table,
            replica,
            create,
            client: None,
        }
    }

    async fn client(&mut self) -> Result<&Client, AuditError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let schema = self.create.then(|| schema_sql(&self.table));
            let client = connect(&self.url, schema.as_deref(), "audit").await?;
            // One writer per chain: a second process with the same replica id would
            // interleave records. The session-level lock lives as long as the connection.
            let name = format!("{}:{}", self.table, self.replica);
            let row = client
                .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&name])
                .await
                .map_err(AuditError::postgres)?;
            if !row.get::<_, bool>(0) {
                return Err(AuditError::Locked(format!(
                    "{} (replica {})",
                    self.table, self.replica
                )));
            }
            self.client = Some(client);
        }
        self.client.as_ref().ok_or(AuditError::Closed)
    }

    pub async fn tail(&mut self) -> Result<Link, AuditError> {
        let sql = format!(
            "SELECT seq, hash, record FROM {} WHERE replica = $1 ORDER BY seq DESC LIMIT 1",
            self.table
        );
        let replica = self.replica.clone();
        let client = self.client().await?;
        let row = client
            .query_opt(&sql, &[&replica])
            .await
            .map_err(AuditError::postgres)?;
        Ok(match row {
            Some(row) => {
                let seq: i64 = row.get(0);
                let hash: String = row.get(1);
                let record: String = row.get(2);
                // Continue only from a record that still matches its hash.
                let fields: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&record).unwrap_or_default();
                if crate::audit::chain::hash_of(&fields) != hash {
                    return Err(AuditError::CorruptTail(format!(
                        "{} (replica {})",
                        self.table, self.replica
                    )));
                }
                Link {
                    seq: u64::try_from(seq).unwrap_or_default(),
                    hash,
                }
            }
            None => Link::genesis(),
        })
    }

    /// One multi-row INSERT per batch: a single round trip and a single commit.
    pub async fn write(&mut self, batch: &[Sealed]) -> Result<(), AuditError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut sql = format!(
            "INSERT INTO {} (replica, seq, ts, kind, request_id, prev, hash, record) VALUES ",
            self.table
        );
        let seqs: Vec<i64> = batch
            .iter()
            .map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX))
            .collect();
        let replica = self.replica.clone();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            Vec::with_capacity(batch.len() * 8);
        for (i, r) in batch.iter().enumerate() {
            let n = i * 8;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${}::text::timestamptz,${},${},${},${},${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8
            ));
            params.push(&replica);
            params.push(seqs.get(i).unwrap_or(&0));
            params.push(&r.ts);
            params.push(&r.kind);
            params.push(&r.request_id);
            params.push(&r.prev);
            params.push(&r.hash);
            params.push(&r.line);
        }
        let result = match self.client().await {
            Ok(client) => client
                .execute(&sql, &params)
                .await
                .map_err(AuditError::postgres),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Reconnect next time; the writer re-reads the chain's end before retrying.
            self.client = None;
        }
        result.map(|_| ())
    }
}
