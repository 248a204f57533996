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

/// A `table_sizes` snapshot of `database` for `instance` on `date`, as the
/// job files it: `tables` one by one (bytes), then a rest row folding 9
/// more, larger than any of them, which is not a table.
pub async fn file_tables(
    world: &World,
    instance: i64,
    date: &str,
    database: &str,
    tables: &[(&str, i64)],
) {
    use dbfleet::store::{Filing, TableRow, TableSnapshot};
    let day: chrono::NaiveDate = date.parse().unwrap();
    let at = day.and_hms_opt(4, 0, 0).unwrap().and_utc();
    let row = |name: &str, bytes: i64, rest: bool| TableRow {
        table_name: name.to_string(),
        is_rest: rest,
        tables: if rest { 9 } else { 1 },
        total_bytes: bytes,
        data_bytes: bytes - bytes / 4,
        index_bytes: bytes / 4,
        row_estimate: None,
    };
    let mut rows: Vec<TableRow> = tables.iter().map(|(n, b)| row(n, *b, false)).collect();
    rows.push(row("", 1_000_000, true));
    let filing = Filing {
        tables: vec![TableSnapshot {
            database: database.to_string(),
            method: "exact",
            rows,
        }],
        ..Filing::new(day, at)
    };
    let id = dbfleet::domain::InstanceId(instance);
    world.store.runs().file(id, &filing).await.unwrap();
}

/// The days and table snapshots of three instances, two PostgreSQL
/// (`pg_a`, `pg_b`) and one MySQL (`my_a`), that the fleet-wide reads are
/// checked against, by the command line and the API alike:
///
/// | instance | database | 2026-05-01 | 2026-05-05 |
/// | --- | --- | --- | --- |
/// | pg_a | orders | 100 | 180 |
/// | pg_a | logs | 400 | 410 |
/// | pg_b | pay | 50 | 60 |
/// | my_a | shop | 300 | 330 |
/// | my_a | cart | 10 | 40 |
///
/// Tables (bytes; each snapshot also has a larger rest row): pg_a `orders`
/// on the 1st (`public.lines` 9000, `public.heads` 3000) and again on the
/// 4th (12000, 2000); pg_a `logs` on the 1st (`public.events` 7000); my_a
/// `shop` on the 5th (`shop.items` 11000, `shop.users` 100) and on the 7th
/// (`shop.items` 99999).
pub async fn seed_two_engines(world: &World, [pg_a, pg_b, my_a]: [i64; 3]) {
    for (day, orders, logs, pay, shop, cart) in [
        ("2026-05-01", 100, 400, 50, 300, 10),
        ("2026-05-05", 180, 410, 60, 330, 40),
    ] {
        file_day(world, pg_a, day, &[("orders", orders), ("logs", logs)]).await;
        file_day(world, pg_b, day, &[("pay", pay)]).await;
        file_day(world, my_a, day, &[("shop", shop), ("cart", cart)]).await;
    }
    let lines = [("public.lines", 9000), ("public.heads", 3000)];
    file_tables(world, pg_a, "2026-05-01", "orders", &lines).await;
    let lines = [("public.lines", 12_000), ("public.heads", 2000)];
    file_tables(world, pg_a, "2026-05-04", "orders", &lines).await;
    let events = [("public.events", 7000)];
    file_tables(world, pg_a, "2026-05-01", "logs", &events).await;
    let shop = [("shop.items", 11_000), ("shop.users", 100)];
    file_tables(world, my_a, "2026-05-05", "shop", &shop).await;
    file_tables(world, my_a, "2026-05-07", "shop", &[("shop.items", 99_999)]).await;
}

/// `(instance, database, table)` of each row of a list of tables.
pub fn table_names(rows: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap().to_string();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                text(&r["instance"]),
                text(&r["database"]),
                text(&r["table_name"]),
            )
        })
        .collect()
}

/// `(instance, database, size_mb)` of each row of a list of databases.
pub fn database_sizes(rows: &Value) -> Vec<(String, String, i64)> {
    let text = |v: &Value| v.as_str().unwrap().to_string();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let size = r["size_mb"].as_i64().unwrap();
            (text(&r["instance"]), text(&r["database_name"]), size)
        })
        .collect()
}

/// A growth row as `capacity growth --json` prints it (and
/// `/capacity/growth` answers it), from the 1st to the 5th of May 2026.
pub fn grown(instance: &str, engine: &str, database: &str, mb: (i64, i64), percent: f64) -> Value {
    json!({
        "instance": instance, "engine": engine, "database_name": database,
        "from_date": "2026-05-01", "from_mb": mb.0, "to_date": "2026-05-05", "to_mb": mb.1,
        "change_mb": mb.1 - mb.0, "change_percent": percent,
    })
}
