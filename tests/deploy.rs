//! The deploy assets, checked offline: `deploy/check` lints the Dockerfile,
//! renders the Kubernetes overlay and validates it (schemas, checkov), and
//! the configuration files that the image and the pods run with are loaded
//! here by dbfleet's own loader, so a key the program does not know, or a
//! drain longer than Kubernetes waits, fails the suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dbfleet::config::{self, Settings};
use dbfleet::secret::PasswordRef;
use serde_yaml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a manifest file.
fn documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// A file of deploy/ loaded as its pods load it: the environment gives the
/// store and broker URLs, as the Secrets do.
fn load(path: &str) -> Settings {
    let env = [
        (
            "DBFLEET__STORE__URL",
            "postgres://app@db.example:5432/dbfleet",
        ),
        ("DBFLEET__BROKER__URL", "amqp://app@mq.example:5672/dbfleet"),
        ("DBFLEET__WORKER__NAME", "dbfleet-worker-abc12"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    config::load_from_str(path, &read(path), env).unwrap_or_else(|e| panic!("{e}"))
}

/// The port of a container's named port.
fn container_port(container: &Value, name: &str) -> u16 {
    let ports = container["ports"].as_sequence().unwrap();
    let port = ports.iter().find(|p| p["name"].as_str() == Some(name));
    let port = port.unwrap_or_else(|| panic!("no port {name}"));
    u16::try_from(port["containerPort"].as_u64().unwrap()).unwrap()
}

#[test]
fn deploy_check_passes() {
    let script = repo().join("deploy/check");
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn the_image_runs_on_its_own_file_and_the_environment() {
    let settings = load("deploy/container.yaml");
    assert_eq!(settings.telemetry.metrics_addr.unwrap().port(), 9464);
    assert_eq!(
        settings.filters.path,
        Path::new("/etc/dbfleet/database_filters.yaml")
    );
}

#[test]
fn the_pods_configuration_loads_and_fits_the_manifests() {
    let settings = load("deploy/kubernetes/base/dbfleet.yaml");
    let metrics = settings.telemetry.metrics_addr.unwrap().port();

    // The worker drains within the time Kubernetes gives it.
    let workers = documents("deploy/kubernetes/base/worker.yaml");
    let pod = &find(&workers, "Deployment")["spec"]["template"]["spec"];
    let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
    let drain = settings.worker.drain_timeout;
    assert!(
        drain < grace,
        "drain {drain:?} must be shorter than {grace:?}"
    );
    assert_eq!(container_port(&pod["containers"][0], "metrics"), metrics);

    // The control plane serves the API and the metrics on the ports its
    // Service names, and reads the token from the mounted Secret.
    let control = documents("deploy/kubernetes/base/control-plane.yaml");
    let pod = &find(&control, "Deployment")["spec"]["template"]["spec"];
    let serve = &pod["containers"][0];
    assert!(settings.api.enabled);
    assert_eq!(container_port(serve, "api"), settings.api.listen.port());
    assert_eq!(container_port(serve, "metrics"), metrics);
    let token = PasswordRef::File("/etc/dbfleet/secrets/api/token".into());
    assert_eq!(settings.api.token, Some(token));

    // KEDA watches the queues the workers consume, one pod per
    // `worker.concurrency` waiting jobs.
    let scaled = documents("deploy/kubernetes/base/scaledobject.yaml");
    let triggers = find(&scaled, "ScaledObject")["spec"]["triggers"]
        .as_sequence()
        .unwrap();
    let queue = |name: &str| {
        let t = triggers.iter().find(|t| t["name"].as_str() == Some(name));
        t.unwrap_or_else(|| panic!("no trigger {name}"))["metadata"].clone()
    };
    let prefix = &settings.broker.prefix;
    assert_eq!(
        queue("jobs")["queueName"].as_str(),
        Some(&*format!("{prefix}.jobs"))
    );
    let per_pod = settings.worker.concurrency.to_string();
    assert_eq!(queue("jobs")["value"].as_str(), Some(&*per_pod));
    let interactive = format!("{prefix}.interactive");
    assert_eq!(
        queue("interactive")["queueName"].as_str(),
        Some(&*interactive)
    );
}
