//! `dbfleet instance import`, black-box: the real binary against a control
//! store of the test's own, on PostgreSQL and on SQLite. Good files import,
//! then import again as updates and no-ops; bad files name every bad line,
//! exit 2 and leave the registry as it was; passwords never show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
#[macro_use]
mod common;
mod support;

use std::path::Path;
use std::process::Output;

use common::{Backend, World};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::secret::PasswordRef;
use dbfleet::store::NewInstance;
use serde_json::Value;
use support::{dbfleet, stderr, stdout, Files};

on_both_backends!(
    a_yaml_file_imports_then_updates_one_row_then_changes_nothing,
    a_csv_file_imports_then_updates_one_row_then_changes_nothing,
    duplicate_names_are_reported_on_both_lines,
    a_bad_file_reports_every_bad_row_and_writes_nothing,
    a_name_the_configuration_manages_is_refused,
    passwords_are_never_printed,
);

fn import(world: &World, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["instance", "import", file.to_str().unwrap()];
    args.extend(extra);
    dbfleet(world, &args)
}

/// The one report line of a good import.
fn report(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out).trim().to_string()
}

/// `instance list --json`, as a value to compare before and after.
fn listed(world: &World) -> Value {
    let out = dbfleet(world, &["instance", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn by_name<'a>(list: &'a Value, name: &str) -> &'a Value {
    let list = list.as_array().unwrap();
    list.iter().find(|i| i["name"] == name).unwrap()
}

const YAML: &str = "\
instances:
  - {name: orders, engine: mariadb, host: 10.0.0.5, username: monitor, password_env: ORDERS_PW}
  - name: billing
    engine: postgresql
    host: billing.internal
    port: 6432
    username: dbfleet
    password_file: /run/secrets/billing
    database: app
  - {name: legacy, engine: mysql, host: 10.0.0.9, username: monitor, active: false}
";

async fn a_yaml_file_imports_then_updates_one_row_then_changes_nothing(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    // A removed instance's name can be imported again, as `instance add` allows.
    world.add_unreachable("legacy").await;
    world
        .store
        .instances()
        .remove(&InstanceName::parse("legacy").unwrap())
        .await
        .unwrap();

    let file = files.write("fleet.yaml", YAML);
    let first = import(&world, &file, &[]);
    assert_eq!(report(&first), "created 3, updated 0, unchanged 0");
    let list = listed(&world);
    assert_eq!(list.as_array().unwrap().len(), 3);
    let billing = by_name(&list, "billing");
    assert_eq!(
        (billing["port"].as_i64(), billing["database"].as_str()),
        (Some(6432), Some("app"))
    );
    assert_eq!(billing["password"]["ref"], "/run/secrets/billing");
    assert_eq!(by_name(&list, "orders")["port"], 3306);
    assert_eq!(by_name(&list, "orders")["db_type"], "mysql");
    assert_eq!(by_name(&list, "legacy")["is_active"], false);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["managed"] == false));

    let second = import(&world, &file, &[]);
    assert_eq!(report(&second), "created 0, updated 0, unchanged 3");

    files.write("fleet.yaml", &YAML.replace("port: 6432", "port: 6433"));
    let third = import(&world, &file, &["--json"]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let names: Value = serde_json::from_str(&stdout(&third)).unwrap();
    let expected = serde_json::json!({
        "created": [], "updated": ["billing"], "unchanged": ["orders", "legacy"]
    });
    assert_eq!(names, expected);
    assert_eq!(by_name(&listed(&world), "billing")["port"], 6433);
    world.teardown().await;
}

const CSV: &str = "\
name,engine,host,port,username,password_env,password_file,database,active
orders,mariadb,10.0.0.5,,monitor,ORDERS_PW,,,
billing,postgresql,billing.internal,6432,dbfleet,,/run/secrets/billing,app,
legacy,mysql,10.0.0.9,,monitor,,,,false
";

async fn a_csv_file_imports_then_updates_one_row_then_changes_nothing(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let file = files.write("fleet.csv", CSV);
    assert_eq!(
        report(&import(&world, &file, &[])),
        "created 3, updated 0, unchanged 0"
    );
    let list = listed(&world);
    assert_eq!(by_name(&list, "orders")["password"]["ref"], "ORDERS_PW");
    assert_eq!(by_name(&list, "billing")["port"], 6432);
    assert_eq!(by_name(&list, "legacy")["is_active"], false);

    assert_eq!(
        report(&import(&world, &file, &[])),
        "created 0, updated 0, unchanged 3"
    );

    // The same rows under another name, read as CSV because we say so.
    let edited = CSV.replace("ORDERS_PW", "ORDERS_PASSWORD");
    let renamed = files.write("fleet.txt", &format!("{edited}extra,pg,h,,u,,,,\n"));
    let third = import(&world, &renamed, &["--format", "csv"]);
    assert_eq!(report(&third), "created 1, updated 1, unchanged 2");
    let list = listed(&world);
    assert_eq!(
        by_name(&list, "orders")["password"]["ref"],
        "ORDERS_PASSWORD"
    );
    assert_eq!(by_name(&list, "extra")["port"], 5432);
    world.teardown().await;
}

async fn duplicate_names_are_reported_on_both_lines(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let csv = files.write(
        "dup.csv",
        "name,engine,host,username\na,pg,h,u\nb,pg,h,u\n\na,mysql,h2,u\n",
    );
    let out = import(&world, &csv, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!(
        "{}name: instance `a`: duplicate name; already declared by line 2",
        Files::at(&csv, 5)
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    let yaml = files.write(
        "dup.yaml",
        "instances:\n  - {name: a, engine: pg, host: h, username: u}\n  - name: a\n    engine: pg\n    host: h\n    username: u\n",
    );
    let out = import(&world, &yaml, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!(
        "{}name: instance `a`: duplicate name; already declared by line 2",
        Files::at(&yaml, 3)
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert_eq!(listed(&world), Value::Array(vec![]));
    world.teardown().await;
}

async fn a_bad_file_reports_every_bad_row_and_writes_nothing(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    world.add_unreachable("existing").await;
    let before = listed(&world);
    let csv = files.write(
        "bad.csv",
        "name,engine,host,port,username,active\n\
         good-1,pg,h,,u,\n\
         existing,pg,moved,,u,\n\
         bad one,pg,h,,u,\n\
         db-4,oracle,h,70000,u,\n\
         db-5,pg,,,u,maybe\n\
         db-6,pg,h,,u\n\
         good-2,pg,h,,u,\n",
    );
    let out = import(&world, &csv, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for (line, problem) in [
        (4, "name: invalid instance name `bad one`"),
        (5, "engine: instance `db-4`: unknown engine `oracle`"),
        (
            5,
            "port: instance `db-4`: expected an integer from 1 to 65535, found 70000",
        ),
        (6, "host: instance `db-5`: required key is missing"),
        (
            6,
            "active: instance `db-5`: expected `true` or `false`, found a string",
        ),
        (7, "has 5 fields; the header has 6"),
    ] {
        let expected = format!("{}{problem}", Files::at(&csv, line));
        assert!(err.contains(&expected), "`{expected}` missing from:\n{err}");
    }
    assert!(
        err.ends_with(&format!(
            "nothing imported: 6 problems in {}\n",
            csv.display()
        )),
        "{err}"
    );
    assert_eq!(listed(&world), before, "the registry is unchanged");

    let yaml = files.write(
        "bad.yaml",
        "instances:\n  - {name: good, engine: pg, host: h, username: u}\n  - name: db-2\n    engine: pg\n    host: h\n    port: x\n  - just-a-name\n  - {name: db-4, engine: pg, host: h, username: u, hostname: x}\n",
    );
    let out = import(&world, &yaml, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for (line, problem) in [
        (
            3,
            "port: instance `db-2`: expected an integer from 1 to 65535, found a string",
        ),
        (3, "username: instance `db-2`: required key is missing"),
        (7, "expected a mapping of instance settings, found a string"),
        (8, "hostname: instance `db-4`: unknown key"),
    ] {
        let expected = format!("{}{problem}", Files::at(&yaml, line));
        assert!(err.contains(&expected), "`{expected}` missing from:\n{err}");
    }
    assert_eq!(listed(&world), before, "the registry is unchanged");

    let missing = import(&world, &files.0.join("absent.yaml"), &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("cannot read the file"),
        "{}",
        stderr(&missing)
    );
    world.teardown().await;
}

async fn a_name_the_configuration_manages_is_refused(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let declared = NewInstance {
        tls: Default::default(),
        name: InstanceName::parse("declared").unwrap(),
        db_type: DbType::Postgresql,
        host: "h".into(),
        port: 5432,
        database: None,
        username: "u".into(),
        password: PasswordRef::None,
        managed: true,
        labels: Default::default(),
        credential: None,
    };
    world.store.instances().add(&declared).await.unwrap();
    let before = listed(&world);
    let csv = files.write(
        "fleet.csv",
        "name,engine,host,username\nfresh,pg,h,u\ndeclared,pg,other,u\n",
    );
    let out = import(&world, &csv, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!(
        "{}name: instance `declared` is declared in the configuration, which manages it",
        Files::at(&csv, 3)
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert_eq!(listed(&world), before, "not even `fresh` was created");
    world.teardown().await;
}

async fn passwords_are_never_printed(backend: Backend) {
    let world = World::on(backend).await;
    let files = Files::new();
    let secret = format!("s3cret-{}", world.tag);
    let var = format!("DBFT_IMPORT_PW_{}", world.tag);
    std::env::set_var(&var, &secret);
    let secret_file = files.write("pw", &secret);
    let csv = files.write(
        "fleet.csv",
        &format!(
            "name,engine,host,username,password_env,password_file\n\
             by-env,pg,h,u,{var},\nby-file,pg,h,u,,{}\n",
            secret_file.display()
        ),
    );
    let mut outputs = vec![
        import(&world, &csv, &["--json"]),
        dbfleet(&world, &["instance", "list", "--json"]),
    ];
    assert_eq!(outputs[0].status.code(), Some(0), "{}", stderr(&outputs[0]));
    assert!(
        stdout(&outputs[1]).contains(&var),
        "the variable's name is shown"
    );

    let plaintext = files.write(
        "plain.yaml",
        &format!(
            "instances:\n  - {{name: p, engine: pg, host: h, username: u, password: {secret}}}\n"
        ),
    );
    let bad_csv = files.write(
        "plain.csv",
        &format!("name,engine,host,username,password\np,pg,h,u,{secret}\n"),
    );
    for file in [&plaintext, &bad_csv] {
        let out = import(&world, file, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("plaintext passwords are not accepted"),
            "{}",
            stderr(&out)
        );
        outputs.push(out);
    }
    for out in &outputs {
        let shown = format!("{}{}", stdout(out), stderr(out));
        assert!(!shown.contains(&secret), "a password leaked: {shown}");
    }
    world.teardown().await;
}
