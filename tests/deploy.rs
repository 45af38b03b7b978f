//! The deploy recipes parse, carry the settings that matter (replicas, probes, limits,
//! non-root read-only containers, network policy, disruption budget, autoscaler), hold no
//! real secrets, and embed configs that orguard itself accepts.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

fn docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    assert!(
        !text.contains("sk-or-v1-"),
        "{path} holds an OpenRouter key"
    );
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// The orguard.toml inside a ConfigMap, made loadable here (secret files and the database
/// URL come from the cluster at run time).
fn load_embedded_config(docs: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    for d in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
        let toml = d["data"]["orguard.toml"].as_str().unwrap();
        let mut text = toml.to_owned();
        for secret in ["openrouter_api_key", "hmac_key"] {
            let file = dir.path().join(secret);
            std::fs::write(&file, "placeholder").unwrap();
            text = text.replace(
                &format!("/run/secrets/orguard/{secret}"),
                &file.display().to_string(),
            );
        }
        text = text.replace(
            "sink = \"postgres\"",
            "sink = \"postgres\"\npostgres_url = \"postgres://orguard@db/audit\"",
        );
        text = text.replace(
            "backend = \"redis\"",
            "backend = \"redis\"\nredis_url = \"redis://db:6379/0\"",
        );
        if let Err(e) = orguard::config::from_toml(&text, None) {
            panic!("the ConfigMap's orguard.toml does not load: {e}");
        }
    }
}

fn check_container(c: &Value, pod_security: &Value) {
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    for probe in ["readinessProbe", "livenessProbe"] {
        // The kubelet connects from outside the pod: a `host` of 127.0.0.1 would be the
        // node's own loopback.
        assert!(
            c[probe]["httpGet"].get("host").is_none(),
            "{probe} must not set a host"
        );
    }
    assert!(
        c["resources"]["limits"]["memory"].is_string()
            && c["resources"]["requests"]["cpu"].is_string()
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(sc["runAsNonRoot"] == true || pod_security["runAsNonRoot"] == true);
}

#[test]
fn the_central_gateway_manifests() {
    let d = docs("deploy/kubernetes/orguard.yaml");
    let dep = of_kind(&d, "Deployment");
    assert!(dep["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(
        pod["enableServiceLinks"], false,
        "no ORGUARD_PORT=tcp://… from the Service named orguard"
    );
    let container = &pod["containers"][0];
    check_container(container, &pod["securityContext"]);
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"ORGUARD_AUDIT__REPLICA_ID"),
        "each replica names its audit chain"
    );
    assert!(
        env.contains(&"ORGUARD_STATE__REDIS_URL"),
        "the replicas share budgets and rate limits through Redis"
    );
    assert!(
        env.contains(&"ORGUARD_ADMIN__TOKEN_SHA256"),
        "the admin token hash comes from the Secret"
    );
    let config = of_kind(&d, "ConfigMap")["data"]["orguard.toml"]
        .as_str()
        .unwrap();
    assert!(config.contains("[state]\nbackend = \"redis\""), "{config}");
    assert!(
        config.contains("[admin]\nlisten = \"0.0.0.0:9091\""),
        "{config}"
    );
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 60,
        "longer than drain_seconds"
    );
    let secret = of_kind(&d, "Secret");
    assert!(
        secret["stringData"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == "REPLACE_ME"),
        "placeholders only"
    );
    let np = of_kind(&d, "NetworkPolicy");
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // The admin port (spend per key, metrics) is open to the monitoring namespace only.
    let admin_rules: Vec<&Value> = np["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == 9091)
        })
        .collect();
    assert_eq!(admin_rules.len(), 1);
    assert!(admin_rules[0]["from"]
        .as_array()
        .unwrap()
        .iter()
        .all(
            |f| f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                == "monitoring"
        ));
    let egress_ports: Vec<u64> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_u64().unwrap())
        })
        .collect();
    assert!(
        egress_ports
            .iter()
            .all(|p| [53, 443, 5432, 6379].contains(p)),
        "egress only to DNS, the upstream, the audit database and Redis: {egress_ports:?}"
    );
    assert!(
        of_kind(&d, "PodDisruptionBudget")["spec"]["minAvailable"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        of_kind(&d, "HorizontalPodAutoscaler")["spec"]["minReplicas"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert_eq!(of_kind(&d, "Service")["spec"]["selector"]["app"], "orguard");
    load_embedded_config(&d);
}

#[test]
fn the_sidecar_pod() {
    let d = docs("deploy/sidecar/pod.yaml");
    let pod = of_kind(&d, "Pod");
    assert_eq!(pod["spec"]["enableServiceLinks"], false);
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let app = containers.iter().find(|c| c["name"] == "app").unwrap();
    let orguard = containers.iter().find(|c| c["name"] == "orguard").unwrap();
    check_container(orguard, &pod["spec"]["securityContext"]);
    let base = app["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "OPENAI_BASE_URL")
        .unwrap();
    assert_eq!(
        base["value"], "http://127.0.0.1:8080/v1",
        "the app talks to its sidecar over loopback"
    );
    load_embedded_config(&d);
}

/// The sidecar's audit trail outlives the pod: its volume is persistent (an `emptyDir` is
/// deleted with the pod), or the audit goes to stdout for a collector, and the manifest
/// says why.
#[test]
fn the_sidecar_keeps_its_audit_trail_beyond_the_pod() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/sidecar/pod.yaml"),
    )
    .unwrap();
    let d = docs("deploy/sidecar/pod.yaml");
    let pod = of_kind(&d, "Pod");
    let config = of_kind(&d, "ConfigMap")["data"]["orguard.toml"]
        .as_str()
        .unwrap();
    let stdout_sink = config.contains("sink = \"stdout\"");
    let orguard = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "orguard")
        .unwrap();
    let audit_dir = "/var/lib/orguard/audit";
    if !stdout_sink {
        assert!(
            config.contains(&format!("dir = \"{audit_dir}\"")),
            "{config}"
        );
        let mount = orguard["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == audit_dir)
            .expect("the audit directory is a mounted volume");
        let volume = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert!(
            volume.get("emptyDir").is_none(),
            "an emptyDir audit trail is deleted with the pod"
        );
        let claim = volume["persistentVolumeClaim"]["claimName"]
            .as_str()
            .expect("a persistent volume claim");
        assert!(
            d.iter()
                .any(|v| v["kind"] == "PersistentVolumeClaim" && v["metadata"]["name"] == claim),
            "the claim {claim} is part of the recipe"
        );
    }
    assert!(
        text.contains("emptyDir is deleted with"),
        "the manifest says why the audit is not on an emptyDir"
    );
}

#[test]
fn the_compose_file() {
    let d = docs("deploy/compose.yaml");
    let services = d[0]["services"].as_object().unwrap();
    for name in ["orguard-a", "orguard-b", "redis", "postgres"] {
        assert!(services.contains_key(name), "{name}");
    }
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/compose.yaml"))
            .unwrap();
    assert!(
        text.contains("ORGUARD_AUDIT__SINK: postgres")
            && text.contains("ORGUARD_AUDIT__REPLICA_ID: orguard-b")
            && text.contains("ORGUARD_STATE__BACKEND: redis")
    );
}

/// The image's build stage gets exactly what its COPY lines name; cargo must be able to
/// read the manifest from that alone (every declared target present) and build with the
/// locked dependencies, as `.ci/run` does.
#[test]
fn the_dockerfile_build_context_is_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let build_stage: Vec<&str> = dockerfile
        .lines()
        .skip_while(|l| !l.starts_with("FROM "))
        .skip(1)
        .take_while(|l| !l.starts_with("FROM "))
        .collect();
    let context = tempfile::tempdir().unwrap();
    for line in build_stage.iter().filter(|l| l.starts_with("COPY ")) {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        let (dest, sources) = parts.split_last().unwrap();
        for src in sources {
            let to = if dest.ends_with('/') {
                context.path().join(dest).join(src)
            } else {
                context.path().join(dest)
            };
            copy_tree(&root.join(src), &to);
        }
    }
    let run = build_stage
        .iter()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("the build stage runs cargo build");
    assert!(
        run.contains("--locked") && run.contains("--release"),
        "{run}"
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.contains("cargo test --locked"),
        "CI builds against the same lock file"
    );
    // `cargo fetch` reads the whole manifest (every declared target) and the lock file
    // without compiling anything; for this host only, whose crates the test build fetched.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["fetch", "--locked", "--offline", "--target", &host])
        .current_dir(context.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the image's build context is incomplete:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// A non-root container reads root-owned secret files only through the pod's `fsGroup`
/// and a group-readable mode: with 0400 the gateway could not read its own keys.
fn check_secret_volumes(pod_spec: &Value) {
    let uid = pod_spec["securityContext"]["runAsUser"]
        .as_u64()
        .or_else(|| {
            pod_spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|c| c["securityContext"]["runAsUser"].as_u64())
        })
        .unwrap();
    for v in pod_spec["volumes"].as_array().unwrap() {
        if v.get("secret").is_none() {
            continue;
        }
        assert_eq!(
            pod_spec["securityContext"]["fsGroup"].as_u64(),
            Some(uid),
            "fsGroup lets uid {uid} read the secret files"
        );
        // Kubernetes (YAML 1.1) reads a leading-zero mode as octal; a plain number is
        // decimal (288 = 0o440). The YAML parser here may hand either back.
        let mode = match &v["secret"]["defaultMode"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => panic!("defaultMode {other}"),
        };
        let octal = if mode.starts_with('0') && mode.len() > 1 {
            u64::from_str_radix(mode.trim_start_matches("0o").trim_start_matches('0'), 8).unwrap()
        } else {
            mode.parse::<u64>().unwrap()
        };
        assert!(
            octal & 0o040 != 0,
            "secret files must be group-readable ({mode})"
        );
    }
}

#[test]
fn secrets_are_readable_by_the_non_root_gateway() {
    let central = docs("deploy/kubernetes/orguard.yaml");
    check_secret_volumes(&of_kind(&central, "Deployment")["spec"]["template"]["spec"]);
    let sidecar = docs("deploy/sidecar/pod.yaml");
    check_secret_volumes(&of_kind(&sidecar, "Pod")["spec"]);
}

/// A container with a read-only root filesystem must send its audit somewhere writable:
/// a volume, or a non-file sink. (The example config's relative `audit` directory would be
/// `/audit` in the image, and every request would fail closed.)
#[test]
fn read_only_containers_have_somewhere_to_write_the_audit() {
    for path in ["deploy/sidecar/compose.yaml", "deploy/compose.yaml"] {
        let d = docs(path);
        for (name, svc) in d[0]["services"].as_object().unwrap() {
            if !name.starts_with("orguard") || svc["read_only"] != true {
                continue;
            }
            let env = &svc["environment"];
            let sink = env["ORGUARD_AUDIT__SINK"].as_str().unwrap_or("file");
            let has_volume = svc["volumes"].as_array().is_some_and(|v| {
                v.iter()
                    .any(|m| m.as_str().is_some_and(|m| m.contains("audit")))
            });
            assert!(
                sink != "file" || has_volume,
                "{path} {name}: read-only with the file sink and no audit volume"
            );
        }
    }
}
