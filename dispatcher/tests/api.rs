//! The HTTP API, black-box: the real `dbfleet serve` on a fleet world
//! (PostgreSQL store, RabbitMQ), a worker in this process to run its
//! batches, and a real HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::process::Command;

use common::{eventually, Fleet, World};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use support::api::{
    answer, code, database_sizes, file_day, grown, pg_instance, seed_two_engines, table_names, Api,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_token_and_errors_have_one_shape() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let url = |path: &str| format!("{}/api/v1{path}", api.base);
    let body = pg_instance("a", json!({}));

    let bare = api
        .client
        .post(url("/instances"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, error) = answer(bare).await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let basic = api
        .client
        .post(url("/instances"))
        .header("authorization", "Basic eDp5");
    let (status, _) = answer(basic.json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = api.client.post(url("/instances")).bearer_auth("not-it");
    let (status, error) = answer(wrong.json(&body).send().await.unwrap()).await;
    assert_eq!((status, code(&error)), (StatusCode::FORBIDDEN, "forbidden"));
    let read = api.client.get(url("/instances")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK, "reads are open by default");

    let malformed = api.request(Method::POST, "/instances").body("{\"name\": ");
    let (status, error) = answer(malformed.send().await.unwrap()).await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::UNPROCESSABLE_ENTITY, "malformed_json")
    );
    let (status, error) = api
        .post("/instances", json!({"name": "a", "host": "h"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error:#}");
    assert_eq!(error["error"]["details"]["field"], "engine", "{error:#}");
    let (status, error) = api
        .post(
            "/instances",
            json!({"name": "a b", "engine": "pg", "host": "h"}),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("name"))
    );
    let (status, error) = api.post("/batches", json!({"kind": "nope"})).await;
    assert_eq!(
        (status, &error["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("kind"))
    );
    let huge = json!({"name": "a", "engine": "pg", "host": "x".repeat(100_000)});
    let (status, error) = api.post("/instances", huge).await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (status, error) = api.get("/nowhere").await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, error) = api.get("/batches/not-a-uuid").await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    eventually("the API says ready once the folders subscribed", || async {
        let ready = api.client.get(format!("{}/readyz", api.base)).send().await;
        ready.ok().filter(|r| r.status() == StatusCode::OK)
    })
    .await;

    let token = api.token.clone();
    let log = api.stop();
    assert!(
        !token.is_empty() && !log.contains(&token),
        "the token was logged:\n{log}"
    );

    let closed = Api::start(&world, &[("DBFLEET__API__READ_REQUIRES_TOKEN", "true")]).await;
    let read = closed
        .client
        .get(format!("{}/api/v1/instances", closed.base));
    assert_eq!(
        read.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(closed.get("/instances").await.0, StatusCode::OK);
    closed.stop();
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_added_listed_changed_and_removed() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let mut body = pg_instance("pay-prod", json!({"env": "prod", "team": "pay"}));
    body["password_env"] = json!("PGPASSWORD_OF_NOBODY");
    let (status, added) = api.post("/instances", body).await;
    assert_eq!(status, StatusCode::CREATED, "{added:#}");
    assert_eq!(added["password_source"], "env");
    assert!(
        !added.to_string().contains("PGPASSWORD_OF_NOBODY"),
        "{added:#}"
    );
    let (status, _) = api
        .post("/instances", pg_instance("pay-dev", json!({"env": "dev"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mysql =
        json!({"name": "my", "engine": "mysql", "host": "10.0.0.1", "tls_mode": "required"});
    assert_eq!(api.post("/instances", mysql).await.0, StatusCode::CREATED);
    let (status, taken) = api
        .post("/instances", pg_instance("pay-dev", json!({})))
        .await;
    assert_eq!((status, code(&taken)), (StatusCode::CONFLICT, "conflict"));

    let listed = |query: &'static str| {
        let api = &api;
        async move {
            let (status, body) = api.get(&format!("/instances{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body:#}");
            let items = body["items"].as_array().unwrap().iter();
            items
                .map(|i| i["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("").await, ["my", "pay-dev", "pay-prod"]);
    assert_eq!(listed("?selector=env%3Dprod").await, ["pay-prod"]);
    assert_eq!(listed("?engine=mysql").await, ["my"]);
    assert_eq!(listed("?name=pay").await, ["pay-dev", "pay-prod"]);
    let (status, bad) = api.get("/instances?selector=env%3D%3D%3D").await;
    assert_eq!(
        (status, &bad["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("selector"))
    );

    let patch = json!({"port": 6543, "labels": {"env": "dev", "tier": "2"}, "active": false});
    let (status, patched) = api
        .call(Method::PATCH, "/instances/pay-dev", Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched:#}");
    let (_, shown) = api.get("/instances/pay-dev").await;
    assert_eq!(shown["id"], patched["id"]);
    assert_eq!(
        (shown["port"].as_u64(), &shown["active"]),
        (Some(6543), &json!(false))
    );
    assert_eq!(shown["labels"], json!({"env": "dev", "tier": "2"}));
    assert_eq!(shown["host"], "127.0.0.1", "untouched fields stay");
    assert_eq!(listed("?active=false").await, ["pay-dev"]);
    let (status, _) = api
        .call(
            Method::PATCH,
            "/instances/pay-dev",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the name is not patchable");
    // What the store could not hold is the client's mistake, named.
    for (body, field) in [
        (json!({"port": 0}), "port"),
        (json!({"username": "mon\u{0}itor"}), "username"),
        (json!({"tls_ca_file": "/etc/ca\u{0}.pem"}), "tls_ca_file"),
    ] {
        let (status, refused) = api
            .call(Method::PATCH, "/instances/pay-dev", Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused:#}");
        assert_eq!(refused["error"]["details"]["field"], field, "{refused:#}");
    }

    let (status, _) = api.call(Method::DELETE, "/instances/pay-dev", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = api.get("/instances/pay-dev").await;
    assert_eq!((status, code(&gone)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        api.call(Method::DELETE, "/instances/pay-dev", None).await.0,
        StatusCode::NOT_FOUND
    );
    api.stop();
    world.teardown().await;
}

/// Read a batch until it is no longer running.
async fn finished(api: &Api, id: &str) -> Value {
    eventually("the batch ends", || async {
        let (status, batch) = api.get(&format!("/batches/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{batch:#}");
        (batch["status"] != "running").then_some(batch)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_start_run_page_and_retry_their_failures() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    // The workers only: the binary under test is the control plane.
    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    api.post("/instances", pg_instance("up", json!({"env": "prod"})))
        .await;
    let down = json!({"name": "down", "engine": "pg", "host": "127.0.0.1",
        "port": common::closed_port(), "labels": {"env": "prod"}});
    api.post("/instances", down).await;
    api.post("/instances", pg_instance("off", json!({}))).await;
    api.call(
        Method::PATCH,
        "/instances/off",
        Some(json!({"active": false})),
    )
    .await;

    let (status, refused) = api
        .post("/batches", json!({"kind": "probe", "instances": ["off"]}))
        .await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "conflict"));
    let (status, unknown) = api
        .post("/batches", json!({"kind": "probe", "instances": ["ghost"]}))
        .await;
    assert_eq!(
        (status, code(&unknown)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let both = json!({"kind": "probe", "instances": ["up"], "selector": "env=prod"});
    assert_eq!(api.post("/batches", both).await.0, StatusCode::BAD_REQUEST);

    let (status, started) = api
        .post("/batches", json!({"kind": "probe", "selector": "env=prod"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started:#}");
    assert_eq!(
        (started["total"].as_i64(), &started["requested_by"]),
        (Some(2), &json!("api"))
    );
    let id = started["id"].as_str().unwrap();
    let report = finished(&api, id).await;
    assert_eq!(report["status"], "partial_success", "{report:#}");
    assert_eq!(report["jobs"].as_array().unwrap().len(), 2);

    let (status, retry) = api
        .post(&format!("/batches/{id}/retry-failed"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retry:#}");
    let retried = finished(&api, retry["id"].as_str().unwrap()).await;
    let jobs = retried["jobs"].as_array().unwrap();
    assert_eq!(
        (jobs.len(), &jobs[0]["instance"]),
        (1, &json!("down")),
        "{retried:#}"
    );

    let (_, all) = api
        .post("/batches", json!({"kind": "probe", "instances": ["up"]}))
        .await;
    let ok = finished(&api, all["id"].as_str().unwrap()).await;
    assert_eq!(ok["status"], "success", "{ok:#}");
    let path = format!("/batches/{}/retry-failed", ok["id"].as_str().unwrap());
    assert_eq!(api.post(&path, json!({})).await.0, StatusCode::CONFLICT);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = api.get(&format!("/batches?limit=2{cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|b| b["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let newest_first = [
        all["id"].as_str().unwrap(),
        retry["id"].as_str().unwrap(),
        id,
    ];
    assert_eq!(
        seen, newest_first,
        "three batches over two pages, newest first"
    );
    assert_eq!(api.get("/batches?limit=0").await.0, StatusCode::BAD_REQUEST);
    fleet.stop().await;
    api.stop();
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_enqueued_once_per_idempotency_key() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let (_, up) = api.post("/instances", pg_instance("up", json!({}))).await;
    api.post("/instances", pg_instance("off", json!({}))).await;
    api.call(
        Method::PATCH,
        "/instances/off",
        Some(json!({"active": false})),
    )
    .await;

    let send = |key: &'static str, body: Value| {
        let request = api
            .request(Method::POST, "/jobs")
            .header("Idempotency-Key", key);
        async move { answer(request.json(&body).send().await.unwrap()).await }
    };
    let body = json!({"kind": "probe", "instance": "up"});
    let racing = (0..8).map(|_| send("key-1", body.clone()));
    let answers = futures_util::future::join_all(racing).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:#?}");
    let job_ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert!(status.is_success(), "{status} {body:#}");
            body["job"]["job_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(job_ids.len(), 1, "one job for every copy of the request");
    let (_, batches) = api.get("/batches").await;
    assert_eq!(batches["items"].as_array().unwrap().len(), 1, "{batches:#}");

    let by_id = json!({"kind": "probe", "instance": up["id"]});
    let (status, replay) = send("key-1", by_id.clone()).await;
    assert_eq!(status, StatusCode::OK, "the same request by id: {replay:#}");
    assert_eq!(replay["batch"]["total"], 1);
    let other = json!({"kind": "capacity_sync", "instance": "up"});
    let (status, reused) = send("key-1", other).await;
    assert_eq!(
        (status, code(&reused)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let (status, fresh) = send("key-2", by_id).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh:#}");
    assert_ne!(fresh["job"]["job_id"], replay["job"]["job_id"]);

    let (status, off) = send("key-3", json!({"kind": "probe", "instance": "off"})).await;
    assert_eq!((status, code(&off)), (StatusCode::CONFLICT, "conflict"));
    let (status, none) = send("key-4", json!({"kind": "probe", "instance": 999_999})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none:#}");
    let (status, _) = send("bad key", json!({"kind": "probe", "instance": "up"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    let id = fresh["batch"]["id"].as_str().unwrap();
    assert_eq!(finished(&api, id).await["status"], "success");
    fleet.stop().await;
    api.stop();
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_read_by_instance_by_database_and_for_the_fleet() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let (_, a) = api.post("/instances", pg_instance("a", json!({}))).await;
    let (_, b) = api.post("/instances", pg_instance("b", json!({}))).await;
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    file_day(
        &world,
        a,
        "2026-03-01",
        &[("orders", 300), ("users", 20), ("logs", 90)],
    )
    .await;
    file_day(
        &world,
        a,
        "2026-03-02",
        &[("orders", 310), ("users", 25), ("logs", 95)],
    )
    .await;
    file_day(&world, b, "2026-03-02", &[("pay.v2", 200), ("tiny", 1)]).await;

    let (status, inventory) = api.get("/instances/a/databases").await;
    assert_eq!(status, StatusCode::OK, "{inventory:#}");
    let first = &inventory["items"][0];
    assert_eq!(
        (&first["name"], &first["active"]),
        (&json!("logs"), &json!(true))
    );
    assert_eq!(
        (&first["first_seen"], &first["last_seen"]),
        (&json!("2026-03-01"), &json!("2026-03-02"))
    );

    let (status, sizes) = api
        .get("/instances/a/sizes?from=2026-03-01&to=2026-03-31")
        .await;
    assert_eq!(status, StatusCode::OK, "{sizes:#}");
    let totals: Vec<i64> = sizes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["total_size_mb"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [410, 430]);
    let (_, orders) = api
        .get("/instances/a/databases/orders/sizes?from=2026-03-02&to=2026-03-02")
        .await;
    assert_eq!(orders["items"][0]["size_mb"], 310, "{orders:#}");
    let (status, _) = api
        .get("/instances/a/sizes?from=2026-03-05&to=2026-03-01")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, bad) = api.get("/instances/a/sizes?from=yesterday").await;
    assert_eq!(
        (status, &bad["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("from"))
    );
    assert_eq!(
        api.get("/instances/ghost/sizes").await.0,
        StatusCode::NOT_FOUND
    );

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = api
            .get(&format!("/capacity/databases?sort=size&limit=2{cursor}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        pages += 1;
        for row in page["items"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}={}",
                row["instance"].as_str().unwrap(),
                row["database_name"].as_str().unwrap(),
                row["size_mb"]
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={}", urlencode(next)),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "a/orders=310",
            "b/pay.v2=200",
            "a/logs=95",
            "a/users=25",
            "b/tiny=1"
        ]
    );
    assert_eq!(pages, 3);
    assert_eq!(
        api.get("/capacity/databases?sort=name").await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, summary) = api
        .get("/capacity/summary?from=2026-03-01&to=2026-03-02")
        .await;
    assert_eq!(status, StatusCode::OK, "{summary:#}");
    let days: Vec<(String, i64, i64)> = summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["collected_date"].as_str().unwrap().to_string(),
                d["instances"].as_i64().unwrap(),
                d["total_size_mb"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-01".to_string(), 1, 410),
            ("2026-03-02".to_string(), 2, 631)
        ]
    );

    // Table sizes as a `table_sizes` job filed them, and the forecast.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let at = day.and_hms_opt(4, 0, 0).unwrap().and_utc();
    let row = |name: &str, bytes: i64, rest: bool| dbfleet::store::TableRow {
        table_name: name.to_string(),
        is_rest: rest,
        tables: if rest { 7 } else { 1 },
        total_bytes: bytes,
        data_bytes: bytes,
        index_bytes: 0,
        row_estimate: None,
    };
    let filing = dbfleet::store::Filing {
        tables: vec![dbfleet::store::TableSnapshot {
            database: "orders".to_string(),
            method: "exact",
            rows: vec![row("public.order_lines", 9000, false), row("", 500, true)],
        }],
        ..dbfleet::store::Filing::new(day, at)
    };
    let id = dbfleet::domain::InstanceId(a);
    world.store.runs().file(id, &filing).await.unwrap();
    let (status, tables) = api.get("/instances/a/tables?date=2026-03-31").await;
    assert_eq!(status, StatusCode::OK, "{tables:#}");
    let items = tables["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{tables:#}");
    assert_eq!(items[0]["table_name"], "public.order_lines");
    assert_eq!(
        (&items[1]["is_rest"], &items[1]["tables"]),
        (&json!(true), &json!(7))
    );
    let (status, none) = api.get("/instances/a/tables?date=2026-03-01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["items"], json!([]), "nothing filed by that day");
    let (status, missing) = api.get("/instances/nope/tables").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing:#}");

    let (status, forecast) = api
        .get("/capacity/forecast?instance=a&date=2026-03-02")
        .await;
    assert_eq!(status, StatusCode::OK, "{forecast:#}");
    let only = &forecast["items"][0];
    assert_eq!(
        (&only["instance"], &only["current_mb"]),
        (&json!("a"), &json!(430))
    );
    assert_eq!(only["days_left"], Value::Null);
    assert!(
        only["reason"].as_str().unwrap().contains("only 2 day(s)"),
        "{forecast:#}"
    );
    let (status, bad) = api.get("/capacity/forecast?days=3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:#}");
    api.stop();
    world.teardown().await;
}

/// The fleet-wide reads narrowed by engine and instance, over the days of
/// `seed_two_engines`: the largest databases (in pages that keep the
/// filter), the fastest-growing, the largest tables and the forecasts; an
/// unknown instance is a 404, a bad engine a 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_reads_are_narrowed_by_engine_and_instance() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let (_, pg_a) = api.post("/instances", pg_instance("pg-a", json!({}))).await;
    let (_, pg_b) = api.post("/instances", pg_instance("pg-b", json!({}))).await;
    let mysql = json!({"name": "my-a", "engine": "mariadb", "host": "127.0.0.1", "username": "u"});
    let (status, my_a) = api.post("/instances", mysql).await;
    assert_eq!(status, StatusCode::CREATED, "{my_a:#}");
    let id = |v: &Value| v["id"].as_i64().unwrap();
    seed_two_engines(&world, [id(&pg_a), id(&pg_b), id(&my_a)]).await;
    let owned = |rows: &[(&str, &str, i64)]| -> Vec<(String, String, i64)> {
        rows.iter()
            .map(|(i, d, n)| (i.to_string(), d.to_string(), *n))
            .collect()
    };

    let (status, first) = api.get("/capacity/databases?engine=mysql&limit=1").await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    assert_eq!(
        database_sizes(&first["items"]),
        owned(&[("my-a", "shop", 330)])
    );
    let next = urlencode(first["next_cursor"].as_str().unwrap());
    let (_, second) = api
        .get(&format!(
            "/capacity/databases?engine=mysql&limit=1&cursor={next}"
        ))
        .await;
    assert_eq!(
        database_sizes(&second["items"]),
        owned(&[("my-a", "cart", 40)])
    );
    assert_eq!(second["next_cursor"], Value::Null, "{second:#}");
    let (_, pg_a) = api.get("/capacity/databases?instance=pg-a").await;
    let want = [("pg-a", "logs", 410), ("pg-a", "orders", 180)];
    assert_eq!(database_sizes(&pg_a["items"]), owned(&want));

    let window = "/capacity/growth?days=4&date=2026-05-05";
    let (status, pg) = api.get(&format!("{window}&engine=pg")).await;
    assert_eq!(status, StatusCode::OK, "{pg:#}");
    assert_eq!(
        (&pg["from"], &pg["to"]),
        (&json!("2026-05-01"), &json!("2026-05-05"))
    );
    let want = json!([
        grown("pg-a", "postgresql", "orders", (100, 180), 80.0),
        grown("pg-a", "postgresql", "logs", (400, 410), 2.5),
        grown("pg-b", "postgresql", "pay", (50, 60), 20.0),
    ]);
    assert_eq!(pg["items"], want);
    let (_, my) = api.get(&format!("{window}&instance=my-a&limit=1")).await;
    let want = json!([grown("my-a", "mysql", "cart", (10, 40), 300.0)]);
    assert_eq!(my["items"], want);

    let (status, tables) = api.get("/capacity/tables?date=2026-05-05&limit=3").await;
    assert_eq!(status, StatusCode::OK, "{tables:#}");
    let names = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|(i, d, t)| (i.to_string(), d.to_string(), t.to_string()))
            .collect()
    };
    let want = [
        ("pg-a", "orders", "public.lines"),
        ("my-a", "shop", "shop.items"),
        ("pg-a", "logs", "public.events"),
    ];
    assert_eq!(table_names(&tables["items"]), names(&want));
    assert_eq!(tables["date"], "2026-05-05");
    assert_eq!(tables["items"][0]["engine"], "postgresql");
    let (_, mysql) = api
        .get("/capacity/tables?date=2026-05-05&engine=mysql")
        .await;
    let want = [
        ("my-a", "shop", "shop.items"),
        ("my-a", "shop", "shop.users"),
    ];
    assert_eq!(table_names(&mysql["items"]), names(&want));
    let (_, two) = api
        .get("/capacity/tables?date=2026-05-05&instance=pg-a&limit=2")
        .await;
    let want = [
        ("pg-a", "orders", "public.lines"),
        ("pg-a", "logs", "public.events"),
    ];
    assert_eq!(table_names(&two["items"]), names(&want));

    let (status, forecast) = api.get("/capacity/forecast?engine=mysql").await;
    assert_eq!(status, StatusCode::OK, "{forecast:#}");
    let instances: Vec<&str> = forecast["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["instance"].as_str().unwrap())
        .collect();
    assert_eq!(instances, ["my-a"]);

    // `since`: what was last measured (or snapshot) before it is left out.
    file_day(&world, id(&pg_b), "2026-04-20", &[("old", 5)]).await;
    let (_, pg_b) = api.get("/capacity/databases?instance=pg-b").await;
    let want = [("pg-b", "pay", 60), ("pg-b", "old", 5)];
    assert_eq!(database_sizes(&pg_b["items"]), owned(&want));
    let (_, recent) = api
        .get("/capacity/databases?instance=pg-b&since=2026-05-01")
        .await;
    assert_eq!(
        database_sizes(&recent["items"]),
        owned(&[("pg-b", "pay", 60)])
    );
    let (status, recent) = api
        .get("/capacity/tables?date=2026-05-05&since=2026-05-04&engine=postgresql")
        .await;
    assert_eq!(status, StatusCode::OK, "{recent:#}");
    let want = [
        ("pg-a", "orders", "public.lines"),
        ("pg-a", "orders", "public.heads"),
    ];
    assert_eq!(
        table_names(&recent["items"]),
        names(&want),
        "logs' snapshot is older"
    );

    for path in ["databases", "growth", "tables", "forecast"] {
        let (status, missing) = api.get(&format!("/capacity/{path}?instance=ghost")).await;
        assert_eq!(
            (status, code(&missing)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
        assert!(
            missing["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ghost"),
            "{missing:#}"
        );
        let (status, bad) = api.get(&format!("/capacity/{path}?engine=oracle")).await;
        assert_eq!(
            (status, &bad["error"]["details"]["field"]),
            (StatusCode::BAD_REQUEST, &json!("engine")),
            "{path}: {bad:#}"
        );
    }
    for (query, field) in [("growth?days=0", "days"), ("tables?limit=0", "limit")] {
        let (status, bad) = api.get(&format!("/capacity/{query}")).await;
        assert_eq!(
            (status, &bad["error"]["details"]["field"]),
            (StatusCode::BAD_REQUEST, &json!(field)),
            "{query}: {bad:#}"
        );
    }
    api.stop();
    world.teardown().await;
}

/// A batch of `aggregate` started through the API with its parameters and
/// run by a worker, then its rows read back: the instance's and each
/// database's, by period, database and start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_computed_by_a_batch_and_read_back() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    let (_, a) = api.post("/instances", pg_instance("agg", json!({}))).await;
    let a = a["id"].as_i64().unwrap();
    file_day(&world, a, "2026-02-10", &[("orders", 100), ("logs", 10)]).await;
    file_day(&world, a, "2026-03-10", &[("orders", 120), ("logs", 10)]).await;
    file_day(&world, a, "2026-03-20", &[("orders", 131), ("logs", 10)]).await;
    let params = json!({"periods": ["monthly"], "date": "2026-04-02"});
    let (status, started) = api
        .post("/batches", json!({"kind": "aggregate", "params": params}))
        .await;
    assert!(status.is_success(), "{started:#}");
    let report = finished(&api, started["id"].as_str().unwrap()).await;
    assert_eq!(report["status"], "success", "{report:#}");

    let (status, read) = api.get("/instances/agg/aggregates?period=monthly").await;
    assert_eq!(status, StatusCode::OK, "{read:#}");
    let items = read["items"].as_array().unwrap();
    let names: Vec<&Value> = items.iter().map(|i| &i["database"]).collect();
    assert_eq!(names, [&Value::Null, &json!("logs"), &json!("orders")]);
    // The instance in March: totals 130 and 141 → 135.5 → 136; February
    // 110: +25.5 → +26 MiB, 25.5 / 110 = 23.18 %.
    let own = &items[0];
    assert_eq!(
        (
            &own["avg_size_mb"],
            &own["max_size_mb"],
            &own["min_size_mb"]
        ),
        (&json!(136), &json!(141), &json!(130))
    );
    assert_eq!(
        (&own["size_change_mb"], &own["size_change_percent"]),
        (&json!(26), &json!(23.18))
    );
    assert_eq!(
        (&own["trend"], &own["period_end"]),
        (&json!("growing"), &json!("2026-03-31"))
    );
    // `logs` stayed at 10: stable.
    assert_eq!(
        (&items[1]["size_change_percent"], &items[1]["trend"]),
        (&json!(0.0), &json!("stable"))
    );

    let (_, orders) = api.get("/instances/agg/aggregates?database=orders").await;
    let orders = orders["items"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    // (120 + 131) / 2 = 125.5 → 126 against 100: +25.5 → +26, 25.5 %.
    assert_eq!(
        (&orders[0]["avg_size_mb"], &orders[0]["size_change_percent"]),
        (&json!(126), &json!(25.5))
    );
    let (_, later) = api.get("/instances/agg/aggregates?since=2026-04-01").await;
    assert_eq!(later["items"], json!([]));
    let (status, bad) = api.get("/instances/agg/aggregates?period=hourly").await;
    assert_eq!(
        (status, &bad["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("period"))
    );
    let (status, _) = api.get("/instances/ghost/aggregates").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    fleet.stop().await;
    api.stop();
    world.teardown().await;
}

/// Percent-encode what a query value cannot hold as is.
fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_runs_nothing_more() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    for name in ["a", "b", "c"] {
        api.post("/instances", pg_instance(name, json!({}))).await;
    }
    // No worker yet: every job waits in the queue.
    let (_, started) = api.post("/batches", json!({"kind": "probe"})).await;
    let id = started["id"].as_str().unwrap().to_string();
    let (status, cancelled) = api.post(&format!("/batches/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled:#}");
    assert_eq!(cancelled["cancelled_jobs"], 3);
    assert_eq!(cancelled["batch"]["status"], "failed", "{cancelled:#}");
    let (status, again) = api.post(&format!("/batches/{id}/cancel"), json!({})).await;
    assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "conflict"));
    let ghost = format!("/batches/{}/cancel", uuid::Uuid::new_v4());
    assert_eq!(api.post(&ghost, json!({})).await.0, StatusCode::NOT_FOUND);

    // The worker receives the cancelled jobs first and runs none of them.
    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    let (_, after) = api
        .post("/batches", json!({"kind": "probe", "instances": ["a"]}))
        .await;
    assert_eq!(
        finished(&api, after["id"].as_str().unwrap()).await["status"],
        "success"
    );
    let report = finished(&api, &id).await;
    for job in report["jobs"].as_array().unwrap() {
        assert_eq!(job["status"], "cancelled", "{report:#}");
        assert!(
            job["started_at"].is_null() && job["worker"].is_null(),
            "{report:#}"
        );
    }
    fleet.stop().await;
    api.stop();
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_committed_one() {
    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    let (status, served) = api.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let path = common::repo_root().join("docs/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert!(
        served == committed,
        "docs/openapi.json differs from the served document: \
         DBFLEET_WRITE_OPENAPI=1 cargo test -p dbfleet --lib openapi"
    );
    let paths = served["paths"].as_object().unwrap();
    for path in [
        "/instances",
        "/batches/{id}/cancel",
        "/jobs",
        "/capacity/summary",
        "/dead-letters",
        "/dead-letters/{id}/replay",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    api.stop();
    world.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_will_not_start_an_api_without_its_token() {
    let world = World::new().await;
    let store = world.settings.store.url.as_ref().unwrap().expose_secret();
    let broker = world.settings.broker.url.as_ref().unwrap().expose_secret();
    let run = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_dbfleet"))
            .current_dir(common::repo_root())
            .args(["--config", "config/dbfleet.yaml", "serve"])
            .env("DBFLEET__STORE__URL", store)
            .env("DBFLEET__BROKER__URL", broker)
            .env("DBFLEET__BROKER__PREFIX", &world.settings.broker.prefix)
            .env("DBFLEET__API__ENABLED", "true")
            .env_remove("DBFLEET_UNSET_API_TOKEN")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("api.enabled"), "{stderr}");
    let out = run(&[("DBFLEET__API__TOKEN_ENV", "DBFLEET_UNSET_API_TOKEN")]);
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DBFLEET_UNSET_API_TOKEN"), "{stderr}");
    world.teardown().await;
}

/// One page of `GET /dead-letters{query}`.
async fn dead_letters(api: &Api, query: &str) -> Value {
    let (status, page) = api.get(&format!("/dead-letters{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    page
}

/// Dead letters a worker gave up on are listed, newest first and in pages,
/// and replayed over HTTP: the replayed job runs and its batch succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed() {
    use dbfleet::broker::{Disposition, Outgoing, Queue};
    use futures_util::StreamExt;

    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    api.post("/instances", pg_instance("db", json!({}))).await;
    let (_, batch) = api.post("/batches", json!({"kind": "probe"})).await;
    let batch_id = batch["id"].as_str().unwrap().to_string();

    // Play a worker that finds the job poisonous, then stop consuming.
    let mut jobs = world.broker.consume(Queue::Jobs, 1).await.unwrap();
    let delivery = common::within("a job", jobs.next()).await.unwrap().unwrap();
    let job_id = delivery.meta.message_id.clone().unwrap();
    let poisoned = Disposition::DeadLetter("test: poisoned".into());
    delivery.settle(poisoned).await.unwrap();
    drop(jobs);
    assert_eq!(finished(&api, &batch_id).await["status"], "failed");

    // A body that is no job at all: the real worker dead-letters it.
    let garbage = Outgoing {
        queue: Queue::Jobs,
        message_id: format!("garbage-{}", world.tag),
        correlation_id: String::new(),
        kind: "garbage".into(),
        routing_key: "job.garbage".into(),
        body: b"not json".to_vec(),
        headers: Default::default(),
    };
    world.broker.publish(garbage).await.unwrap();
    let mut fleet = Fleet::new();
    fleet.worker(&world, "worker-0");
    let listed = eventually("two dead letters", || async {
        let page = dead_letters(&api, "").await;
        (page["items"].as_array().unwrap().len() == 2).then_some(page)
    })
    .await;
    let (unknown, job) = (&listed["items"][0], &listed["items"][1]);
    assert_eq!(
        (&unknown["kind"], &job["kind"]),
        (&json!("unknown"), &json!("job"))
    );
    assert_eq!(job["message_id"], job_id.as_str());
    assert_eq!(job["reason"], "test: poisoned");
    assert_eq!(unknown["preview"], "not json");
    assert!(unknown["reason"].as_str().unwrap().len() > 3, "{listed:#}");
    assert!(job.get("body").is_none() && job["replayed_at"].is_null());
    assert!(listed["next_cursor"].is_null());
    let first = dead_letters(&api, "?limit=1").await;
    assert_eq!(first["items"][0]["id"], unknown["id"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = dead_letters(&api, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], job["id"]);
    assert!(second["next_cursor"].is_null(), "{second:#}");

    // Replay the job: like any write, it needs the token.
    let replay = format!("/dead-letters/{}/replay", job["id"]);
    let bare = api.client.post(format!("{}/api/v1{replay}", api.base));
    assert_eq!(
        bare.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, done) = api.post(&replay, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{done:#}");
    assert_eq!(
        done,
        json!({"replayed": [job["id"]], "skipped_unknown": []})
    );
    eventually(
        "the replayed job's success overwrites its failure",
        || async {
            let (_, batch) = api.get(&format!("/batches/{batch_id}")).await;
            (batch["status"] == "success").then_some(())
        },
    )
    .await;
    let (status, again) = api.post(&replay, json!({})).await;
    assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "conflict"));
    let (status, none) = api.post("/dead-letters/987654321/replay", json!({})).await;
    assert_eq!((status, code(&none)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, bad) = api.post("/dead-letters/x/replay", json!({})).await;
    assert_eq!(
        (status, &bad["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("id"))
    );

    // What is left: the unreadable body, which a replay of all leaves alone.
    let pending = dead_letters(&api, "").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let all = dead_letters(&api, "?include_replayed=true").await;
    assert!(all["items"][1]["replayed_at"].is_string(), "{all:#}");
    let (status, done) = api.post("/dead-letters/replay", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{done:#}");
    assert_eq!(
        done,
        json!({"replayed": [], "skipped_unknown": [unknown["id"]]})
    );
    fleet.stop().await;
    api.stop();
    world.teardown().await;
}

/// A real failure inside the server (its store lost a table) is a 500 in
/// the one error shape, and nothing of the cause reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_failure_is_a_bare_500() {
    use sqlx::{Connection, Executor};

    let world = World::new().await;
    let api = Api::start(&world, &[]).await;
    assert_eq!(api.get("/dead-letters").await.0, StatusCode::OK);
    let url = world.settings.store.url.as_ref().unwrap().expose_secret();
    let mut store = sqlx::PgConnection::connect(url).await.unwrap();
    store
        .execute("ALTER TABLE dead_letters RENAME TO dead_letters_gone")
        .await
        .unwrap();
    let _ = store.close().await;

    let response = api
        .request(Method::GET, "/dead-letters")
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    assert_eq!(content_type, "application/json", "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let error = body["error"].as_object().unwrap();
    let keys: Vec<&str> = error.keys().map(String::as_str).collect();
    assert_eq!(body.as_object().unwrap().len(), 1, "{text}");
    assert_eq!(keys, ["code", "details", "message"], "{text}");
    assert_eq!(
        (&body["error"]["code"], &body["error"]["details"]),
        (&json!("internal"), &Value::Null)
    );
    for word in [
        "dead_letters",
        "relation",
        "SELECT",
        "sql",
        "postgres",
        "exist",
        "127.0.0.1",
    ] {
        assert!(
            !text.to_lowercase().contains(&word.to_lowercase()),
            "{word} in {text}"
        );
    }
    let log = api.stop();
    assert!(
        log.contains("dead_letters"),
        "the cause stays in the server's log:\n{log}"
    );
    world.teardown().await;
}
