//! A running `dbfleet serve` with its HTTP API, for the black-box tests of
//! the API and of the clients that use it, and the helpers that read its
//! answers.

use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::common::{self, eventually, World};

/// A running `dbfleet serve` with its API on a port of its own.
pub struct Api {
    child: Option<Child>,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl Api {
    /// `dbfleet serve` on `world`, with `env` added (e.g. to require the
    /// token for reads); ready once `/healthz` answers.
    pub async fn start(world: &World, env: &[(&str, &str)]) -> Self {
        Self::start_with(world, std::path::Path::new("config/dbfleet.yaml"), env).await
    }

    /// [`Api::start`] with the configuration file `config`.
    pub async fn start_with(world: &World, config: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = common::closed_port();
        let token = format!("tok-{}", common::tag());
        let store = world.settings.store.url.as_ref().unwrap().expose_secret();
        let broker = world.settings.broker.url.as_ref().unwrap().expose_secret();
        let child = Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .current_dir(common::repo_root())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("DBFLEET__STORE__URL", store)
            .env("DBFLEET__BROKER__URL", broker)
            .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
            .env("DBFLEET__LOG__LEVEL", "info")
            .env("DBFLEET__API__ENABLED", "true")
            .env("DBFLEET__API__LISTEN", format!("127.0.0.1:{port}"))
            .env("DBFLEET__API__TOKEN_ENV", "DBFLEET_TEST_API_TOKEN")
            .env("DBFLEET_TEST_API_TOKEN", &token)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let api = Api {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            token,
            client: reqwest::Client::new(),
        };
        eventually("the API answers /healthz", || async {
            let answer = api.client.get(format!("{}/healthz", api.base)).send().await;
            answer.ok().filter(|r| r.status().is_success())
        })
        .await;
        api
    }

    /// A request to `/api/v1{path}`, with the token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/api/v1{path}", self.base);
        self.client.request(method, url).bearer_auth(&self.token)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Stop with SIGTERM; returns what the process logged.
    pub fn stop(mut self) -> String {
        let child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The status and the JSON of an answer (`null` when it has no body).
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// The error code of an error answer, after checking its shape.
pub fn code(body: &Value) -> &str {
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body:#}");
    assert!(error.get("details").is_some(), "{body:#}");
    error["code"].as_str().unwrap()
}

/// An instance of the local PostgreSQL (`postgres`, trusted on loopback).
pub fn pg_instance(name: &str, labels: Value) -> Value {
    json!({
        "name": name, "engine": "pg", "host": "127.0.0.1", "username": "postgres",
        "labels": labels,
    })
}

/// A day of sizes for `instance`, filed as a capacity sync would.
pub async fn file_day(world: &World, instance: i64, date: &str, sizes: &[(&str, i64)]) {
    use dbfleet::domain::InstanceId;
    use dbfleet::inventory::InventoryPlan;
    use dbfleet::store::StatRow;
    let (id, date) = (InstanceId(instance), date.parse().unwrap());
    let now = chrono::Utc::now();
    let names: Vec<String> = sizes.iter().map(|(n, _)| n.to_string()).collect();
    let known = world.store.inventory().records(id).await.unwrap();
    let (refreshed, created) = names
        .iter()
        .cloned()
        .partition(|n| known.iter().any(|r| &r.database_name == n));
    let plan = InventoryPlan {
        created,
        refreshed,
        ..InventoryPlan::default()
    };
    world
        .store
        .inventory()
        .apply(id, &plan, date, now)
        .await
        .unwrap();
    let rows: Vec<StatRow> = sizes
        .iter()
        .map(|(n, size)| StatRow {
            database_name: n.to_string(),
            size_mb: *size,
            data_size_mb: None,
            log_size_mb: None,
            method: Some("pg_database_size".into()),
            collected_at: now,
        })
        .collect();
    world
        .store
        .stats()
        .upsert_databases(id, date, &rows)
        .await
        .unwrap();
    world
        .store
        .stats()
        .refresh_instance_total(id, date, now)
        .await
        .unwrap();
}
