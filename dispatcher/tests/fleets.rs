//! Fleets as they are, black-box: labels from every door (the import file,
//! `instance add`, `instance label`), selectors that pick exactly the
//! labelled instances for a listing and for a batch (which records its
//! selector), and `instance import --prune` that disables exactly what the
//! file no longer names, after a dry run that changed nothing; instances
//! sharing a named credential, following the secret behind its reference;
//! a batch spread over a window, its jobs published at even steps by the
//! control plane. On the fleet
//! (RabbitMQ, a PostgreSQL store, a worker and the control plane in this
//! process) and on the embedded defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use common::{Backend, Fleet, World};
use serde_json::Value;
use support::{dbfleet, json, stderr, stdout, Files};

on_both_backends!(
    a_selector_picks_exactly_the_labelled_instances_for_a_listing_and_a_batch,
    labels_come_from_every_door_and_bad_ones_are_refused_whole,
    prune_dry_run_changes_nothing_and_prune_disables_exactly_the_missing,
    instances_sharing_a_credential_follow_its_secret,
);

/// Five instances of the local PostgreSQL (its `postgres` role, trusted on
/// loopback), labelled as a real fleet would be.
const FLEET: &str = "instances:
  - {name: pay-prod, engine: pg, host: 127.0.0.1, username: postgres,
     labels: {env: prod, team: payments}}
  - {name: ledger-prod, engine: pg, host: 127.0.0.1, username: postgres,
     labels: {env: prod, team: ledger, tier: 1}}
  - {name: pay-dev, engine: pg, host: 127.0.0.1, username: postgres,
     labels: {env: dev, team: payments}}
  - {name: old-prod, engine: pg, host: 127.0.0.1, username: postgres,
     labels: {env: prod, team: payments, deprecated: 'true'}}
  - {name: bare, engine: pg, host: 127.0.0.1, username: postgres}
";

/// The names of a JSON list of instances, or of a batch's jobs.
fn names(list: &Value, field: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn listed(world: &World, selector: &str) -> Vec<String> {
    let out = dbfleet(
        world,
        &["instance", "list", "--selector", selector, "--json"],
    );
    names(&json(&out), "name")
}

/// A `probe` batch over `selector`: through the fleet with `batch start
/// --wait`, or in the binary with `dbfleet run`.
fn probe_batch(world: &World, selector: &str) -> Value {
    let args = match world.backend {
        Backend::Fleet => vec!["batch", "start", "--wait"],
        Backend::Embedded => vec!["run"],
    };
    let rest = ["--kind", "probe", "--selector", selector, "--json"];
    json(&dbfleet(world, &[args.as_slice(), &rest].concat()))
}

async fn a_selector_picks_exactly_the_labelled_instances_for_a_listing_and_a_batch(
    backend: Backend,
) {
    let world = World::on(backend).await;
    let files = Files::new();
    let file = files.write("fleet.yaml", FLEET);
    let out = dbfleet(&world, &["instance", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let selector = "env=prod, team in (payments,ledger), !deprecated";
    assert_eq!(listed(&world, selector), ["ledger-prod", "pay-prod"]);
    assert_eq!(listed(&world, "env!=prod"), ["bare", "pay-dev"]);
    assert_eq!(listed(&world, "tier=1"), ["ledger-prod"]);
    assert_eq!(listed(&world, "deprecated"), ["old-prod"]);

    let fleet = (backend == Backend::Fleet).then(|| Fleet::start(&world, 1));
    let batch = probe_batch(&world, selector);
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    assert_eq!(batch["status"], "success", "{batch:#}");
    assert_eq!(
        names(&batch["jobs"], "instance"),
        ["ledger-prod", "pay-prod"]
    );
    let normalised = "env=prod,team in (ledger,payments),!deprecated";
    assert_eq!(batch["selector"], normalised);
    let id = batch["id"].as_str().unwrap();
    let shown = dbfleet(&world, &["batch", "show", id]);
    assert!(
        stdout(&shown).contains(&format!("selector: {normalised}")),
        "{}",
        stdout(&shown)
    );

    let typo = dbfleet(
        &world,
        &["instance", "list", "--selector", "env=prod team=a"],
    );
    assert_eq!(typo.status.code(), Some(2), "{}", stderr(&typo));
    let expected = "selector `env=prod team=a`, column 10: expected `,` before `team`";
    assert!(stderr(&typo).contains(expected), "{}", stderr(&typo));
    world.teardown().await;
}

async fn labels_come_from_every_door_and_bad_ones_are_refused_whole(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let add = [
        "instance",
        "add",
        "solo",
        "--db-type",
        "postgresql",
        "--host",
        "127.0.0.1",
        "--username",
        "postgres",
        "--label",
        "env=prod",
        "--label",
        "team=ops",
    ];
    let out = dbfleet(&world, &add);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let relabel = ["instance", "label", "solo", "team-", "region=eu-west-1"];
    let out = dbfleet(&world, &relabel);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("env=prod,region=eu-west-1"),
        "{}",
        stdout(&out)
    );
    let shown = json(&dbfleet(&world, &["instance", "show", "solo", "--json"]));
    let expected = serde_json::json!({"env": "prod", "region": "eu-west-1"});
    assert_eq!(shown[0]["labels"], expected);

    let csv = files.write(
        "fleet.csv",
        "name,engine,host,username,labels\n\
         csv-a,pg,127.0.0.1,postgres,env=prod;team=payments\n\
         csv-b,pg,127.0.0.1,postgres,\n",
    );
    let out = dbfleet(&world, &["instance", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(listed(&world, "env=prod"), ["csv-a", "solo"]);

    let bad = files.write(
        "bad.yaml",
        "instances:\n\
         \x20 - {name: x, engine: pg, host: h, username: u, labels: {env: prod, -bad: 1}}\n\
         \x20 - {name: y, engine: pg, host: h, username: u, labels: [env]}\n",
    );
    let out = dbfleet(&world, &["instance", "import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let problems = stderr(&out);
    for expected in [
        ":2: labels: instance `x`: label key `-bad`: must start and end",
        ":3: labels: instance `y`: expected a mapping of label keys to values",
    ] {
        assert!(problems.contains(expected), "{expected}\n{problems}");
    }
    let out = dbfleet(
        &world,
        &[
            "instance",
            "add",
            "z",
            "--db-type",
            "pg",
            "--host",
            "h",
            "--username",
            "u",
            "--label",
            "env",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected key=value"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listed(&world, ""), ["csv-a", "csv-b", "solo"]);
    world.teardown().await;
}

async fn prune_dry_run_changes_nothing_and_prune_disables_exactly_the_missing(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let full = files.write("full.yaml", FLEET);
    let out = dbfleet(&world, &["instance", "import", full.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = json(&dbfleet(&world, &["instance", "list", "--json"]));

    // The source of truth no longer has `old-prod` and `bare`, and
    // `pay-dev` moved to another host.
    let kept: String = FLEET
        .split_inclusive('\n')
        .filter(|line| !line.contains("old-prod") && !line.contains("bare"))
        .filter(|line| !line.contains("deprecated"))
        .collect::<String>()
        .replace(
            "name: pay-dev, engine: pg, host: 127.0.0.1",
            "name: pay-dev, engine: pg, host: localhost",
        );
    let truth = files.write("truth.yaml", &kept);
    let path = truth.to_str().unwrap();

    let dry = dbfleet(
        &world,
        &["instance", "import", path, "--prune", "--dry-run"],
    );
    assert_eq!(
        stdout(&dry).trim(),
        "dry run, nothing written: would have created 0, updated 1, unchanged 2, \
         disabled 2 (bare, old-prod)",
        "{}",
        stderr(&dry)
    );
    let after_dry = json(&dbfleet(&world, &["instance", "list", "--json"]));
    assert_eq!(after_dry, before, "a dry run changed the registry");

    let out = dbfleet(&world, &["instance", "import", path, "--prune", "--json"]);
    let report = json(&out);
    assert_eq!(report["disabled"], serde_json::json!(["bare", "old-prod"]));
    assert_eq!(report["updated"], serde_json::json!(["pay-dev"]));
    let after = json(&dbfleet(&world, &["instance", "list", "--json"]));
    assert_eq!(after.as_array().unwrap().len(), 5, "pruning never removes");
    for instance in after.as_array().unwrap() {
        let name = instance["name"].as_str().unwrap();
        let pruned = name == "bare" || name == "old-prod";
        assert_eq!(instance["is_active"], !pruned, "{instance}");
        let by = instance["disabled_by"].as_str().unwrap_or_default();
        assert_eq!(
            by.starts_with("instance import --prune by "),
            pruned,
            "{instance}"
        );
    }
    let again = dbfleet(&world, &["instance", "import", path, "--prune"]);
    assert_eq!(stdout(&again).trim(), "created 0, updated 0, unchanged 3");
    world.teardown().await;
}

/// A MariaDB account of the test's own that may see one schema of its own
/// (no `SHOW DATABASES`, so a capacity sync reads only that one), and the file its password is in.
struct SharedAccount {
    user: String,
    schema: String,
    file: std::path::PathBuf,
}

impl SharedAccount {
    async fn new(files: &Files) -> Self {
        let tag = common::tag();
        let (user, schema) = (format!("dbff_{tag}"), format!("dbff_{tag}"));
        let mut root = common::mariadb_root().await;
        common::mariadb_exec(&mut root, &format!("CREATE DATABASE `{schema}`")).await;
        common::mariadb_exec(&mut root, &format!("CREATE TABLE `{schema}`.t (id INT)")).await;
        for host in ["%", "localhost"] {
            let create = format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'first-{tag}'");
            common::mariadb_exec(&mut root, &create).await;
            let grant = format!("GRANT SELECT ON `{schema}`.* TO '{user}'@'{host}'");
            common::mariadb_exec(&mut root, &grant).await;
            let grant = format!("GRANT PROCESS ON *.* TO '{user}'@'{host}'");
            common::mariadb_exec(&mut root, &grant).await;
        }
        let file = files.write(&format!("pw-{tag}"), &format!("first-{tag}\n"));
        Self { user, schema, file }
    }

    /// Change the password on the server only.
    async fn rotate_on_server(&self, password: &str) {
        let mut root = common::mariadb_root().await;
        for host in ["%", "localhost"] {
            let sql = format!(
                "ALTER USER '{}'@'{host}' IDENTIFIED BY '{password}'",
                self.user
            );
            common::mariadb_exec(&mut root, &sql).await;
        }
    }

    async fn drop(self) {
        let mut root = common::mariadb_root().await;
        for host in ["%", "localhost"] {
            let sql = format!("DROP USER IF EXISTS '{}'@'{host}'", self.user);
            let _ = common::mariadb_try_exec(&mut root, &sql).await;
        }
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.schema);
        let _ = common::mariadb_try_exec(&mut root, &sql).await;
    }
}

/// A capacity sync of every active instance, through the fleet or in the
/// binary; the batch's JSON whatever its status.
async fn capacity_batch(world: &World) -> Value {
    let args: &[&str] = match world.backend {
        Backend::Fleet => &["batch", "start", "--wait", "--json"],
        Backend::Embedded => &["run", "--json"],
    };
    let fleet = (world.backend == Backend::Fleet).then(|| Fleet::start(world, 1));
    let out = dbfleet(world, args);
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)))
}

fn job_outcomes(batch: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = batch["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let class = j["error"]["class"].as_str().unwrap_or("-");
            (
                j["instance"].as_str().unwrap().to_string(),
                format!("{} {class}", j["status"].as_str().unwrap()),
            )
        })
        .collect();
    found.sort();
    found
}

async fn instances_sharing_a_credential_follow_its_secret(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let account = SharedAccount::new(&files).await;
    let file = account.file.to_str().unwrap();
    let add = [
        "credential",
        "add",
        "monitor",
        "--username",
        &account.user,
        "--password-file",
        file,
    ];
    let out = dbfleet(&world, &add);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let one = [
        "instance",
        "add",
        "maria-a",
        "--db-type",
        "mysql",
        "--host",
        "127.0.0.1",
        "--credential",
        "monitor",
    ];
    let out = dbfleet(&world, &one);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml =
        "instances:\n  - {name: maria-b, engine: mariadb, host: localhost, credential: monitor}\n";
    let out = dbfleet(
        &world,
        &[
            "instance",
            "import",
            files.write("b.yaml", yaml).to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let both = |outcome: &str| {
        vec![
            ("maria-a".to_string(), outcome.to_string()),
            ("maria-b".to_string(), outcome.to_string()),
        ]
    };
    let first = capacity_batch(&world).await;
    assert_eq!(job_outcomes(&first), both("succeeded -"), "{first:#}");
    assert!(
        first["jobs"][0]["databases"].as_i64().unwrap() >= 1,
        "{first:#}"
    );

    // The server's password changes before the secret does: both fail to
    // log in; then the file is rotated and both log in again, with no
    // instance or credential touched in the registry.
    let listed_before = json(&dbfleet(&world, &["instance", "list", "--json"]));
    account.rotate_on_server("second-pw").await;
    assert_eq!(
        job_outcomes(&capacity_batch(&world).await),
        both("failed auth")
    );
    std::fs::write(&account.file, "second-pw\n").unwrap();
    assert_eq!(
        job_outcomes(&capacity_batch(&world).await),
        both("succeeded -")
    );
    let listed_after = json(&dbfleet(&world, &["instance", "list", "--json"]));
    assert_eq!(listed_after, listed_before);
    assert_eq!(listed_after[0]["credential"], "monitor");

    let credentials = json(&dbfleet(&world, &["credential", "list", "--json"]));
    assert_eq!(credentials[0]["instances"], 2, "{credentials:#}");
    let listed = stdout(&dbfleet(&world, &["credential", "list"]));
    assert!(listed.contains(&format!("file {file}")), "{listed}");
    assert!(!listed.contains("second-pw"), "{listed}");
    let refused = dbfleet(&world, &["credential", "remove", "monitor"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("is used by maria-a, maria-b"),
        "{}",
        stderr(&refused)
    );
    let unknown = dbfleet(
        &world,
        &[
            "instance",
            "add",
            "x",
            "--db-type",
            "pg",
            "--host",
            "h",
            "--credential",
            "nobody",
        ],
    );
    assert!(
        stderr(&unknown).contains("no credential named `nobody`"),
        "{}",
        stderr(&unknown)
    );
    world.teardown().await;
    account.drop().await;
}

/// `batch start --spread 3s` over four instances: one job is published at
/// once and three are parked (the report says so); the control plane
/// publishes them at their steps, so the jobs start spread over the window
/// rather than together, and the batch ends with every job run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spread_batch_publishes_its_jobs_over_the_window() {
    let world = World::on(Backend::Fleet).await;
    for n in 0..4 {
        world.add_postgres(&format!("spread-{n}")).await;
    }
    let fleet = Fleet::start(&world, 1);
    let started = json(&dbfleet(
        &world,
        &["batch", "start", "--spread", "3s", "--json"],
    ));
    assert_eq!(started["total"], 4, "{started:#}");
    assert_eq!(
        started["parked"], 3,
        "three jobs wait for their step: {started:#}"
    );
    let id: dbfleet::domain::BatchId = serde_json::from_value(started["id"].clone()).unwrap();
    let poll = std::time::Duration::from_millis(100);
    let ended = common::within(
        "the spread batch",
        dbfleet::fleet::dispatcher::wait(&world.store, id, poll),
    )
    .await
    .unwrap();
    fleet.stop().await;
    assert_eq!((ended.total, ended.succeeded), (4, 4), "{ended:?}");
    let jobs = world.store.batches().jobs(id).await.unwrap();
    let mut starts: Vec<_> = jobs.iter().map(|j| j.started_at.unwrap()).collect();
    starts.sort();
    let window = starts[3] - starts[0];
    assert!(
        window >= chrono::Duration::milliseconds(1500),
        "the jobs started within {window} of each other, not over the 3s window"
    );
    assert_eq!(world.store.outbox().waiting(id).await.unwrap(), 0);
    let shown = json(&dbfleet(
        &world,
        &["batch", "show", &id.to_string(), "--json"],
    ));
    assert!(
        shown.get("parked").is_none(),
        "nothing parked any more: {shown:#}"
    );
    world.teardown().await;
}
