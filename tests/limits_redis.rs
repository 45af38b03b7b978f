//! Budgets and rate limits shared through a real Redis: two gateway processes drawing on
//! one budget and one rate limit, the Lua scripts' rules, and what happens when Redis dies
//! mid-test. Each test uses its own key prefix and removes its keys; the kill test runs a
//! private `redis-server` so the machine's one is never disturbed.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::time::Duration;

use common::gateway::{config_toml, error_of};
use common::mock::chat_completion;
use common::process::{command, GatewayProcess};
use common::redis_server::{cleanup, get_i64, keys, redis_url, unique_prefix, OwnRedis};
use common::{chat_body, sha256_hex, upstream_key, MockUpstream, Reply, TestGateway};
use orguard::limits::store::redis::RedisStore;
use orguard::limits::{Limit, Nanos, Period};
use serde_json::{json, Value};
use time::OffsetDateTime;

const BUDGET_KEY: &str = "ogk_test_client_budgeted";
const PACED_KEY: &str = "ogk_test_client_paced";

/// Two extra keys (a $0.002 monthly budget; 5 requests a minute), a price that reserves
/// $0.0004096 per request (4096 tokens × $0.1/M), and the shared state settings.
fn shared_state(url: &str, prefix: &str, state_extra: &str) -> String {
    format!(
        r#"
[[keys]]
id = "budgeted-1"
service = "billing"
sha256 = "{budget}"
budget_usd = 0.002

[[keys]]
id = "paced-1"
service = "search"
sha256 = "{paced}"
rpm = 5

[prices."openai/gpt-4o"]
completion = 0.1

[state]
backend = "redis"
redis_url = "{url}"
key_prefix = "{prefix}"
{state_extra}
"#,
        budget = sha256_hex(BUDGET_KEY),
        paced = sha256_hex(PACED_KEY),
    )
}

fn costing(cost: f64) -> Value {
    let mut body = chat_completion();
    body["usage"]["cost"] = json!(cost);
    body
}

async fn send(client: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_share_one_budget_and_one_rate_limit() {
    let Some(url) = redis_url().await else { return };
    let prefix = unique_prefix();
    let mock = MockUpstream::start().await;
    // Slow answers, so that much of the burst is in flight at once on both replicas.
    mock.set_default(Reply::Delayed(
        Duration::from_millis(150),
        Box::new(Reply::ok(costing(0.0004))),
    ));
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac.key");
    std::fs::write(&hmac, "test organisation hmac key").unwrap();
    let toml = config_toml(&mock, &shared_state(&url, &prefix, ""))
        .replace("HMAC_KEY_FILE", &hmac.display().to_string());
    let config = dir.path().join("orguard.toml");
    std::fs::write(&config, toml).unwrap();
    let root = dir.path().to_owned();
    let spawn = move |name: &str| {
        let mut cmd = command();
        cmd.arg("--config")
            .arg(&config)
            .arg("serve")
            .env("OPENROUTER_API_KEY", upstream_key())
            .env("ORGUARD_AUDIT__DIR", root.join(name));
        cmd
    };
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            GatewayProcess::spawn(spawn("audit-a")),
            GatewayProcess::spawn(spawn("audit-b")),
        )
    })
    .await
    .unwrap();
    let bases = [format!("http://{}", a.addr), format!("http://{}", b.addr)];
    let client = reqwest::Client::new();

    // A burst of 24 through both replicas at once.
    let burst = (0..24).map(|i| send(&client, &bases[i % 2], BUDGET_KEY));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!(ok + refused, 24, "{statuses:?}");
    // $0.002 at $0.0004 a request is five; the one admitted while the fifth was still
    // reserved can make six. Never more.
    // $0.002 at $0.0004 a request is five. With reservations of $0.0004096 a sixth is never
    // admitted, whatever the interleaving: five open reservations already reach the budget,
    // and settling one for less than its reservation never brings the sum below it.
    assert_eq!(ok, 5, "{statuses:?}");
    assert_eq!(mock.count(), ok, "refused requests never went upstream");

    // The shared spend is the sum of what both replicas settled (settlement runs just after
    // each response, so give it a moment), within one reservation of the budget.
    let period = Period::Month.id(OffsetDateTime::now_utc());
    let spent_key = format!("{prefix}:budget:{{budgeted-1:{period}}}:spent");
    let mut spent = 0;
    for _ in 0..100 {
        spent = get_i64(&url, &spent_key).await;
        if spent == ok as i64 * 400_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spent, ok as i64 * 400_000, "nano-dollars");
    assert!(spent <= Nanos::from_usd(0.002).0 + 409_600);
    // Both replicas refuse from now on.
    for base in &bases {
        let r = send(&client, base, BUDGET_KEY).await;
        assert_eq!(r.status(), 402);
        assert_eq!(error_of(r).await.1, "budget_exceeded");
    }

    // 5 requests a minute, across both replicas: exactly five pass.
    mock.set_default(Reply::ok(costing(0.0)));
    let mut paced = Vec::new();
    for i in 0..8 {
        paced.push(
            send(&client, &bases[i % 2], PACED_KEY)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(paced, [200, 200, 200, 200, 200, 429, 429, 429]);

    // Every key the gateways wrote expires by itself.
    let written = keys(&url, &prefix).await;
    assert!(!written.is_empty());
    let redis = redis::Client::open(url.as_str()).unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    for k in &written {
        let ttl: i64 = redis::cmd("TTL").arg(k).query_async(&mut c).await.unwrap();
        assert!(ttl > 0, "{k} has no expiry ({ttl})");
    }
    cleanup(&url, &prefix).await;
    assert!(keys(&url, &prefix).await.is_empty());
}

#[tokio::test]
async fn the_scripts_apply_the_same_rules_as_the_memory_store() {
    let Some(url) = redis_url().await else { return };
    let prefix = unique_prefix();
    let store = RedisStore::new(&url, &prefix).unwrap();
    let now = 1_000_000_u64;
    let (k, p) = ("key-1", "m2026-12");
    let reserve = |id: &'static str, amount: i64, expires: u64, at: u64| {
        let store = &store;
        async move {
            store
                .reserve(k, p, 60, Nanos(100), Nanos(amount), id, expires, at)
                .await
                .unwrap()
        }
    };
    let r = reserve("a", 60, now + 10, now).await;
    assert_eq!((r.admitted, r.spent, r.reserved), (true, 0, 60));
    let r = reserve("b", 60, now + 10, now).await;
    assert_eq!((r.admitted, r.reserved), (true, 120));
    assert!(!reserve("c", 1, now + 10, now).await.admitted);
    store
        .settle(k, p, 60, "a", Nanos(60), Nanos(5))
        .await
        .unwrap();
    store
        .settle(k, p, 60, "b", Nanos(60), Nanos(5))
        .await
        .unwrap();
    // A settlement retried after a timeout (that Redis had carried out) counts once.
    store
        .settle(k, p, 60, "b", Nanos(60), Nanos(5))
        .await
        .unwrap();
    let c = store.read(k, p, now).await.unwrap();
    assert_eq!((c.spent, c.reserved), (10, 0));
    // A reservation never settled lapses at its expiry.
    assert!(reserve("d", 95, now + 10, now).await.admitted);
    assert!(!reserve("e", 1, now + 50, now + 5).await.admitted);
    assert!(reserve("e", 1, now + 50, now + 11).await.admitted);
    // Another period starts from zero.
    let r = store
        .reserve(k, "m2027-01", 60, Nanos(100), Nanos(1), "f", now + 50, now)
        .await
        .unwrap();
    assert_eq!((r.spent, r.reserved), (0, 1));

    // Rate windows: three admitted, the fourth refused, tokens added after the fact.
    let t0 = 10 * orguard::limits::rate::WINDOW_MS + 1_000;
    for _ in 0..3 {
        assert!(
            store
                .rate(k, Limit::Rpm, t0, 3, 1, 1)
                .await
                .unwrap()
                .admitted
        );
    }
    // Refused, and told to come back exactly when the oldest slot slides out (a minute
    // after it was taken, not at the end of the next clock minute).
    let seen = store.rate(k, Limit::Rpm, t0 + 1, 3, 1, 1).await.unwrap();
    assert_eq!(
        (seen.admitted, seen.used, seen.wait_ms),
        (false, 3, orguard::limits::rate::WINDOW_MS - 1)
    );
    let minute_later = t0 + orguard::limits::rate::WINDOW_MS;
    let seen = store
        .rate(k, Limit::Rpm, minute_later, 3, 1, 1)
        .await
        .unwrap();
    assert_eq!((seen.admitted, seen.used), (true, 1));
    assert_eq!(store.read(k, p, minute_later).await.unwrap().rpm, 1);
    store.rate_add(k, Limit::Tpm, t0, 500).await.unwrap();
    assert!(
        store
            .rate(k, Limit::Tpm, t0, 501, 1, 0)
            .await
            .unwrap()
            .admitted
    );
    store.rate_add(k, Limit::Tpm, t0, 10).await.unwrap();
    let seen = store.rate(k, Limit::Tpm, t0, 501, 1, 0).await.unwrap();
    assert_eq!(
        (seen.admitted, seen.used, seen.wait_ms),
        (false, 510, orguard::limits::rate::WINDOW_MS)
    );
    assert_eq!(store.read(k, p, t0).await.unwrap().tpm, 510);
    // The same decisions as the pure rule, for a random-looking sequence of arrivals.
    let (rule_key, mut log) = ("key-rule", Vec::new());
    let mut now = t0;
    for gap in [
        0, 5_000, 100, 30_000, 24_900, 1, 40_000, 0, 19_999, 1, 59_999,
    ] {
        now += gap;
        let seen = store
            .rate(rule_key, Limit::Rpm, now, 2, 1, 1)
            .await
            .unwrap();
        match orguard::limits::rate::decide(&log, now, 2, 1) {
            orguard::limits::rate::Decision::Admit => {
                assert!(seen.admitted, "at {now}");
                log.push((now, 1));
            }
            orguard::limits::rate::Decision::Wait(ms) => {
                assert_eq!((seen.admitted, seen.wait_ms), (false, ms), "at {now}");
            }
        }
    }
    cleanup(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_test_follows_the_configured_failure_modes() {
    let Some(mut own) = OwnRedis::start().await else {
        return;
    };
    let prefix = unique_prefix();
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(costing(0.0)));
    // Defaults: budgets fail closed, rate limits fail open…
    let defaults = TestGateway::start_with(&mock, &shared_state(&own.url(), &prefix, "")).await;
    // …and the other way round.
    let swapped = TestGateway::start_with(
        &mock,
        &shared_state(
            &own.url(),
            &prefix,
            "budget_on_error = \"fail_open\"\nrate_on_error = \"fail_closed\"",
        ),
    )
    .await;
    let base = |gw: &TestGateway| gw.url("");
    for gw in [&defaults, &swapped] {
        assert_eq!(send(&gw.client, &base(gw), BUDGET_KEY).await.status(), 200);
        assert_eq!(send(&gw.client, &base(gw), PACED_KEY).await.status(), 200);
    }
    let before = mock.count();

    own.kill();
    let r = send(&defaults.client, &base(&defaults), BUDGET_KEY).await;
    assert_eq!(r.status(), 503, "no spend without accounting");
    assert_eq!(r.headers()["x-should-retry"], "true");
    assert!(r.headers().contains_key("retry-after"));
    let (kind, code) = error_of(r).await;
    assert_eq!(
        (kind.as_str(), code.as_str()),
        ("upstream_error", "limits_unavailable")
    );
    assert_eq!(
        send(&defaults.client, &base(&defaults), PACED_KEY)
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&swapped.client, &base(&swapped), BUDGET_KEY)
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&swapped.client, &base(&swapped), PACED_KEY)
            .await
            .status(),
        503
    );
    assert_eq!(
        mock.count(),
        before + 2,
        "only the fail-open requests went upstream"
    );
    // Keys without limits never touch the store.
    assert_eq!(
        defaults.chat(&chat_body("openai/gpt-4o")).await.status(),
        200
    );

    // Operators see it: readiness names the store, the failures are counted, the refusal
    // is audited.
    let ready: Value = defaults
        .client
        .get(defaults.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["checks"]["state"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{ready}"
    );
    let metrics = defaults.metrics().await;
    assert!(
        metrics.contains("orguard_state_errors_total{op=\"reserve\"}"),
        "{metrics}"
    );
    let records = defaults.audit_records().await;
    assert!(records
        .iter()
        .any(|r| r["type"] == "denied" && r["code"] == "limits_unavailable"));

    // Redis back: the gateway reconnects by itself.
    own.restart().await;
    let mut status = 0;
    for _ in 0..50 {
        status = send(&defaults.client, &base(&defaults), BUDGET_KEY)
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "recovered after Redis came back");
}
