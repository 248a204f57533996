//! Capacity sync under least-privilege monitoring accounts, on the real
//! MariaDB and PostgreSQL: what a DBA sees when the account lacks a grant,
//! cannot see a database, or meets storage the tablespace views miss.
//!
//! Every test makes its own account (a MariaDB user, a PostgreSQL login
//! role that is not a superuser), its own databases and its own control
//! store, and drops them at the end. Expected sizes come from root and
//! `postgres` catalogue queries written here, not from the adapters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{
    drop_pg_databases, ident, mariadb_exec, mariadb_root, pg_admin, pg_database, pg_expected_sizes,
    pg_ident, run_batch, run_capacity_sync, sync_on, tag, Backend, Fleet, World,
};
use dbfleet::adapters::{Capacity, ConnectOptions, Connection, UnmeasuredReason};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::jobs::{CapacitySync, Clock, Context, Failure, Job, Probe};
use dbfleet::message::{capacity_sync, probe, Warning};
use dbfleet::secret::PasswordRef;
use dbfleet::store::{BatchStatus, Instance, NewInstance, StoredUnmeasured};

on_both_backends!(
    postgres_a_database_the_role_may_not_connect_to_hides_no_other,
    postgres_a_database_closed_to_connections_stays_and_is_sized,
    mariadb_without_process_names_the_grant,
    mariadb_a_database_the_account_no_longer_sees_is_not_dropped,
    mariadb_process_only_is_not_a_silent_success,
    mariadb_myisam_and_aria_tables_count,
    mariadb_tables_the_account_cannot_see_are_not_sized_short,
    mariadb_a_database_named_in_the_instance_but_refused_names_the_grant,
    postgres_a_database_named_in_the_instance_but_locked_names_the_grant,
    a_database_dropped_during_the_day_leaves_rows_and_total_in_agreement,
);

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
}

fn at_noon(d: NaiveDate) -> Clock {
    Clock {
        now: d.and_hms_opt(12, 0, 0).unwrap().and_utc(),
        today: d,
    }
}

/// The gap recorded for `name` on `day`, if any.
async fn gap_of(
    world: &World,
    instance: &Instance,
    d: NaiveDate,
    name: &str,
) -> Option<StoredUnmeasured> {
    let gaps = world
        .store
        .stats()
        .unmeasured(instance.id, d)
        .await
        .unwrap();
    gaps.into_iter().find(|g| g.database_name == name)
}

/// The warnings a worker would attach to this output.
fn warnings_of(output: &capacity_sync::Output) -> Vec<Warning> {
    CapacitySync::warnings(output)
}

/// A probe of `instance`, as a worker runs it.
async fn run_probe(world: &World, instance: &Instance) -> Result<probe::Output, Failure> {
    let (settings, filters) = (&world.settings, &world.filters);
    let clock = Clock::system(settings.timezone);
    let ctx = Context::new(instance, &world.store, filters, &settings.job, clock);
    Probe::run(&ctx, &probe::Params {}).await
}

// ------------------------------------------------------------- PostgreSQL

/// A login role that is not a superuser, and databases of this test.
struct PgMonitor {
    role: String,
    prefix: String,
    databases: Vec<String>,
}

impl PgMonitor {
    async fn new() -> Self {
        let tag = tag();
        let role = format!("dbflp_mon_{tag}");
        let mut admin = pg_admin().await;
        let sql = format!("CREATE ROLE {} LOGIN", pg_ident(&role));
        sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        Self {
            role,
            prefix: format!("dbflp_{tag}"),
            databases: Vec::new(),
        }
    }

    /// A database `<prefix>_<suffix>` holding `rows` rows of ~500 bytes.
    async fn database(&mut self, suffix: &str, rows: u32) -> String {
        let name = format!("{}_{suffix}", self.prefix);
        pg_database(&mut pg_admin().await, &name, rows).await;
        self.databases.push(name.clone());
        name
    }

    async fn admin(&self, statements: &[String]) {
        let mut admin = pg_admin().await;
        for sql in statements {
            sqlx::raw_sql(sql)
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    async fn register(&self, world: &World) -> Instance {
        world
            .add_instance(
                "pg-mon",
                DbType::Postgresql,
                5432,
                &self.role,
                PasswordRef::None,
            )
            .await
    }

    async fn teardown(self) {
        drop_pg_databases(&self.databases).await;
        let mut admin = pg_admin().await;
        let sql = format!("DROP ROLE IF EXISTS {}", pg_ident(&self.role));
        let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
    }
}

async fn expected_pg(name: &str) -> i64 {
    let name = name.to_string();
    pg_expected_sizes(&mut pg_admin().await, [&name]).await[&name]
}

/// Through the fleet: the job succeeds with a warning naming the grant,
/// the other databases are sized, the day is partial.
async fn postgres_a_database_the_role_may_not_connect_to_hides_no_other(backend: Backend) {
    let world = World::on(backend).await;
    let mut pg = PgMonitor::new().await;
    let open = pg.database("open", 4000).await;
    let locked = pg.database("locked", 10).await;
    pg.admin(&[format!(
        "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
        pg_ident(&locked)
    )])
    .await;
    let instance = pg.register(&world).await;

    let fleet = Fleet::start(&world, 1);
    let report = run_batch(&world).await;
    fleet.stop().await;
    let day = common::today(&world);
    let rows = world.store.stats().databases(instance.id, day).await;
    let gap = gap_of(&world, &instance, day, &locked).await;
    let total = world.store.stats().instance_total(instance.id, day).await;
    let records = world.store.inventory().records(instance.id).await;
    let expected = expected_pg(&open).await;
    let role = pg.role.clone();
    pg.teardown().await;
    world.teardown().await;

    assert_eq!(report.batch.status, BatchStatus::Success, "{report:?}");
    let job = &report.jobs[0];
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert!(job.count("unmeasured") >= 1, "{job:?}");
    assert!(report.batch.summary.get("unmeasured_databases") >= 1);
    assert!(report.batch.warned >= 1);
    let grant = format!(
        "GRANT CONNECT ON DATABASE {} TO {};",
        pg_ident(&locked),
        pg_ident(&role)
    );
    let said: Vec<String> = job
        .warnings
        .iter()
        .map(|w| {
            format!(
                "{}: {}",
                w["code"].as_str().unwrap(),
                w["message"].as_str().unwrap()
            )
        })
        .collect();
    let about_locked: Vec<&String> = said.iter().filter(|w| w.contains(&locked)).collect();
    assert_eq!(about_locked.len(), 1, "{said:?}");
    assert!(about_locked[0].starts_with("not_measured: "), "{said:?}");
    assert!(about_locked[0].contains(&grant), "{said:?}");
    assert!(
        about_locked[0].contains("GRANT pg_read_all_stats TO"),
        "{said:?}"
    );

    let rows = rows.unwrap();
    let stored = rows.iter().find(|r| r.database_name == open);
    assert_eq!(stored.map(|r| r.size_mb), Some(expected), "{rows:?}");
    assert_eq!(stored.unwrap().method.as_deref(), Some("pg_database_size"));
    assert!(rows.iter().all(|r| r.database_name != locked), "{rows:?}");
    let gap = gap.expect("the locked database is recorded as not measured");
    assert_eq!(gap.reason, "permission");
    assert!(gap.detail.contains(&grant), "{gap:?}");
    let total = total.unwrap().expect("a total for the day");
    assert!(total.partial && total.unmeasured_count >= 1, "{total:?}");
    assert_eq!(
        (total.total_size_mb, total.database_count as usize),
        (rows.iter().map(|r| r.size_mb).sum::<i64>(), rows.len()),
        "the total counts what was measured"
    );
    let record = records
        .unwrap()
        .into_iter()
        .find(|r| r.database_name == locked);
    assert!(
        record.is_some_and(|r| r.is_active),
        "still in the inventory"
    );
}

/// The instance names a database its role may not connect to: the job
/// and the probe fail with class `permission`, naming the grant.
async fn postgres_a_database_named_in_the_instance_but_locked_names_the_grant(backend: Backend) {
    let world = World::on(backend).await;
    let mut pg = PgMonitor::new().await;
    let locked = pg.database("home", 10).await;
    pg.admin(&[format!(
        "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
        pg_ident(&locked)
    )])
    .await;
    let new = NewInstance {
        tls: Default::default(),
        name: InstanceName::parse("pg-home").unwrap(),
        db_type: DbType::Postgresql,
        host: "127.0.0.1".into(),
        port: 5432,
        database: Some(locked.clone()),
        username: pg.role.clone(),
        password: PasswordRef::None,
        managed: false,
        labels: Default::default(),
        credential: None,
    };
    let instance = world.store.instances().add(&new).await.unwrap();

    let sync = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    let probed = run_probe(&world, &instance).await;
    let role = pg.role.clone();
    pg.teardown().await;
    world.teardown().await;

    let grant = format!(
        "GRANT CONNECT ON DATABASE {} TO {};",
        pg_ident(&locked),
        pg_ident(&role)
    );
    for text in [failure_text(&sync), failure_text(&probed)] {
        assert!(text.starts_with("permission: "), "{text}");
        assert!(text.contains(&grant), "{text}");
    }
}

async fn postgres_a_database_closed_to_connections_stays_and_is_sized(backend: Backend) {
    let world = World::on(backend).await;
    let mut pg = PgMonitor::new().await;
    let closed = pg.database("closed", 3000).await;
    let instance = pg.register(&world).await;

    let first = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    pg.admin(&[format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        pg_ident(&closed)
    )])
    .await;
    let second = run_capacity_sync(&world, &instance, at_noon(day(2))).await;
    let records = world.store.inventory().records(instance.id).await;
    let rows = world.store.stats().databases(instance.id, day(2)).await;
    let expected = expected_pg(&closed).await;
    pg.teardown().await;
    world.teardown().await;

    first.unwrap();
    second.unwrap();
    let record = records
        .unwrap()
        .into_iter()
        .find(|r| r.database_name == closed)
        .expect("tracked");
    assert!(
        record.is_active && record.deleted_at.is_none(),
        "a database closed to connections still exists: {record:?}"
    );
    assert_eq!(record.last_seen_date, day(2));
    let rows = rows.unwrap();
    let stored = rows.iter().find(|r| r.database_name == closed);
    assert_eq!(stored.map(|r| r.size_mb), Some(expected), "{rows:?}");
    assert!(expected >= 1, "3000 rows of 500 bytes: {expected}");
}

// ---------------------------------------------------------------- MariaDB

/// A MariaDB account of this test (`'<user>'@'%'` and `@'localhost'`) and
/// the schemas it made, all named from one random prefix.
struct MariaAccount {
    user: String,
    password: String,
    schemas: Vec<String>,
}

impl MariaAccount {
    /// An account holding `global` on `*.*` (may be empty).
    async fn new(global: &[&str]) -> Self {
        let user = format!("dbflp_{}", tag());
        let password = format!("pw-{}", tag());
        let account = Self {
            user,
            password,
            schemas: Vec::new(),
        };
        let mut statements = Vec::new();
        for host in ["%", "localhost"] {
            statements.push(format!(
                "CREATE USER '{}'@'{host}' IDENTIFIED BY '{}'",
                account.user, account.password
            ));
        }
        if !global.is_empty() {
            statements.extend(account.grant_all_hosts(&format!("{} ON *.*", global.join(", "))));
        }
        account.root(&statements).await;
        account
    }

    /// `GRANT <what> TO` each of the account's hosts.
    fn grant_all_hosts(&self, what: &str) -> Vec<String> {
        ["%", "localhost"]
            .iter()
            .map(|host| format!("GRANT {what} TO '{}'@'{host}'", self.user))
            .collect()
    }

    fn revoke_all_hosts(&self, what: &str) -> Vec<String> {
        ["%", "localhost"]
            .iter()
            .map(|host| format!("REVOKE {what} FROM '{}'@'{host}'", self.user))
            .collect()
    }

    async fn root(&self, statements: &[String]) {
        let mut root = mariadb_root().await;
        for sql in statements {
            mariadb_exec(&mut root, sql).await;
        }
    }

    /// A schema `<user>_<suffix>` the account may read.
    async fn schema(&mut self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.user);
        let mut statements = vec![format!("CREATE DATABASE {}", ident(&name))];
        statements.extend(self.grant_all_hosts(&format!("SELECT ON {}.*", ident(&name))));
        self.root(&statements).await;
        self.schemas.push(name.clone());
        name
    }

    /// `kib` KiB of rows in a new table `t` of `engine` in `schema`.
    async fn fill(&self, schema: &str, table: &str, engine: &str, kib: usize) {
        let t = format!("{}.{}", ident(schema), ident(table));
        let mut statements = vec![format!(
            "CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(1024)) ENGINE={engine}"
        )];
        for _ in 0..kib.div_ceil(64) {
            statements.push(format!(
                "INSERT INTO {t} (v) SELECT REPEAT('x', 1000) FROM seq_1_to_64"
            ));
        }
        let mut root = mariadb_root().await;
        mariadb_exec(&mut root, &format!("USE {}", ident(schema))).await;
        for sql in &statements {
            mariadb_exec(&mut root, sql).await;
        }
    }

    async fn register(&self, world: &World) -> Instance {
        let var = format!("DBFLP_PW_{}", self.user);
        std::env::set_var(&var, &self.password);
        world
            .add_instance(
                "maria-mon",
                DbType::Mysql,
                3306,
                &self.user,
                PasswordRef::Env(var),
            )
            .await
    }

    async fn teardown(self) {
        let mut root = mariadb_root().await;
        for schema in &self.schemas {
            let sql = format!("DROP DATABASE IF EXISTS {}", ident(schema));
            let _ = common::mariadb_try_exec(&mut root, &sql).await;
        }
        for host in ["%", "localhost"] {
            let sql = format!("DROP USER IF EXISTS '{}'@'{host}'", self.user);
            let _ = common::mariadb_try_exec(&mut root, &sql).await;
        }
    }
}

/// What a schema weighs, as root reads the catalogue: InnoDB tablespace
/// files of the schema, plus data and index length of its tables outside
/// InnoDB; whole MiB rounded up, at least 1 when anything is stored.
async fn expected_mariadb_mib(schema: &str) -> i64 {
    let mut root = mariadb_root().await;
    let tablespaces: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(FILE_SIZE) AS SIGNED) FROM information_schema.INNODB_SYS_TABLESPACES \
         WHERE CONVERT(CONVERT(CONVERT(SUBSTRING_INDEX(NAME, '/', 1) USING binary) \
               USING filename) USING utf8mb4) = ?",
    )
    .bind(schema)
    .fetch_one(&mut root)
    .await
    .unwrap();
    let tables: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND ENGINE <> 'InnoDB'",
    )
    .bind(schema)
    .fetch_one(&mut root)
    .await
    .unwrap();
    common::ceil_mib(tablespaces.unwrap_or(0) + tables.unwrap_or(0))
}

fn failure_text(outcome: &Result<impl std::fmt::Debug, Failure>) -> String {
    match outcome {
        Err(Failure::Instance(e)) => format!("{}: {}", e.class.as_str(), e.message),
        other => format!("{other:?}"),
    }
}

async fn mariadb_without_process_names_the_grant(backend: Backend) {
    let world = World::on(backend).await;
    let mut account = MariaAccount::new(&["SHOW DATABASES", "SHOW VIEW"]).await;
    let schema = account.schema("app").await;
    account.fill(&schema, "t", "InnoDB", 64).await;
    let instance = account.register(&world).await;

    let outcome = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    let records = world.store.inventory().records(instance.id).await;
    let user = account.user.clone();
    account.teardown().await;
    world.teardown().await;

    let text = failure_text(&outcome);
    assert!(text.starts_with("permission: "), "{text}");
    let grant = format!("GRANT PROCESS ON *.* TO '{user}'@");
    assert!(text.contains(&grant), "{text}");
    assert!(text.contains("1227"), "the real cause: {text}");
    assert!(!text.contains("1109"), "the fallback view's error: {text}");
    let records = records.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.database_name == schema && r.is_active),
        "what the server listed is kept: {records:?}"
    );
}

async fn mariadb_a_database_the_account_no_longer_sees_is_not_dropped(backend: Backend) {
    let world = World::on(backend).await;
    // No global privilege but PROCESS: the account lists only the schemas
    // it was granted something on.
    let mut account = MariaAccount::new(&["PROCESS"]).await;
    let (kept, hidden) = (account.schema("kept").await, account.schema("hidden").await);
    account.fill(&kept, "t", "InnoDB", 64).await;
    account.fill(&hidden, "t", "InnoDB", 64).await;
    let instance = account.register(&world).await;

    let first = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    account
        .root(&account.revoke_all_hosts(&format!("SELECT ON {}.*", ident(&hidden))))
        .await;
    let second = run_capacity_sync(&world, &instance, at_noon(day(2))).await;
    let records = world.store.inventory().records(instance.id).await;
    let gap = gap_of(&world, &instance, day(2), &hidden).await;
    let total = world
        .store
        .stats()
        .instance_total(instance.id, day(2))
        .await;
    let user = account.user.clone();
    account.teardown().await;
    world.teardown().await;

    assert_eq!(first.unwrap().inventory.created, 2);
    let second = second.unwrap();
    assert_eq!(second.inventory.deactivated, 0, "{second:?}");
    assert!(second.inventory.partial, "{second:?}");
    assert_eq!(
        (second.inventory.unseen, second.unmeasured),
        (1, 1),
        "{second:?}"
    );
    let grant = format!("GRANT SHOW DATABASES ON *.* TO '{user}'@");
    let warnings = warnings_of(&second);
    let codes: Vec<&str> = warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["partial_inventory", "not_measured"], "{warnings:?}");
    assert!(
        warnings.iter().all(|w| w.message.contains(&grant)),
        "{warnings:?}"
    );
    let gap = gap.expect("recorded as not measured");
    assert_eq!(gap.reason, "not_visible");
    let total = total.unwrap().unwrap();
    assert!(total.partial, "{total:?}");
    assert_eq!(total.database_count, 1);
    let records = records.unwrap();
    let hidden_row = records.iter().find(|r| r.database_name == hidden).unwrap();
    assert!(
        hidden_row.is_active && hidden_row.deleted_at.is_none(),
        "not seen is not dropped: {hidden_row:?}"
    );
    assert_eq!(hidden_row.last_seen_date, day(1));
}

async fn mariadb_process_only_is_not_a_silent_success(backend: Backend) {
    let world = World::on(backend).await;
    let mut account = MariaAccount::new(&["PROCESS"]).await;
    let schema = account.schema("app").await;
    account.fill(&schema, "t", "InnoDB", 64).await;
    account
        .root(&account.revoke_all_hosts(&format!("SELECT ON {}.*", ident(&schema))))
        .await;
    let instance = account.register(&world).await;

    let outcome = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    let user = account.user.clone();
    account.teardown().await;
    world.teardown().await;

    let text = failure_text(&outcome);
    assert!(text.starts_with("permission: "), "{text}");
    let grant = format!("GRANT SHOW DATABASES ON *.* TO '{user}'@");
    assert!(text.contains(&grant), "{text}");
}

async fn mariadb_myisam_and_aria_tables_count(backend: Backend) {
    let world = World::on(backend).await;
    let mut account = MariaAccount::new(&["PROCESS", "SHOW DATABASES", "SHOW VIEW"]).await;
    let legacy = account.schema("legacy").await;
    account.fill(&legacy, "m", "MyISAM", 8 * 1024).await;
    account.fill(&legacy, "a", "Aria", 8 * 1024).await;
    let mixed = account.schema("mixed").await;
    account.fill(&mixed, "i", "InnoDB", 1024).await;
    account.fill(&mixed, "m", "MyISAM", 2048).await;
    let instance = account.register(&world).await;

    let output = sync_on(&world, &instance, day(1)).await;
    let rows = world.store.stats().databases(instance.id, day(1)).await;
    let want_legacy = expected_mariadb_mib(&legacy).await;
    let want_mixed = expected_mariadb_mib(&mixed).await;
    account.teardown().await;
    world.teardown().await;

    assert!(output.databases >= 2, "{output:?}");
    assert!(
        want_legacy >= 16,
        "16 MiB of MyISAM and Aria: {want_legacy}"
    );
    let rows = rows.unwrap();
    let size = |name: &str| {
        rows.iter()
            .find(|r| r.database_name == name)
            .map(|r| r.size_mb)
    };
    assert_eq!(size(&legacy), Some(want_legacy), "{rows:?}");
    assert_eq!(size(&mixed), Some(want_mixed), "{rows:?}");
    let method = |name: &str| {
        let row = rows.iter().find(|r| r.database_name == name);
        row.and_then(|r| r.method.clone())
    };
    assert_eq!(method(&legacy).as_deref(), Some("tables"));
    assert_eq!(method(&mixed).as_deref(), Some("tablespace+tables"));
}

/// Without a privilege on every table, a schema whose tables the account
/// cannot see is not stored short: it is not measured, naming `SHOW VIEW`;
/// a schema it was granted is sized whole.
async fn mariadb_tables_the_account_cannot_see_are_not_sized_short(backend: Backend) {
    let world = World::on(backend).await;
    let mut account = MariaAccount::new(&["PROCESS", "SHOW DATABASES"]).await;
    let mine = account.schema("mine").await;
    account.fill(&mine, "m", "MyISAM", 2048).await;
    let theirs = account.schema("theirs").await;
    account.fill(&theirs, "m", "MyISAM", 2048).await;
    account.fill(&theirs, "i", "InnoDB", 64).await;
    account
        .root(&account.revoke_all_hosts(&format!("SELECT ON {}.*", ident(&theirs))))
        .await;
    let instance = account.register(&world).await;

    let output = sync_on(&world, &instance, day(1)).await;
    let rows = world.store.stats().databases(instance.id, day(1)).await;
    let gap = gap_of(&world, &instance, day(1), &theirs).await;
    let want_mine = expected_mariadb_mib(&mine).await;
    let user = account.user.clone();
    account.teardown().await;
    world.teardown().await;

    let rows = rows.unwrap();
    let mine_row = rows.iter().find(|r| r.database_name == mine);
    assert_eq!(mine_row.map(|r| r.size_mb), Some(want_mine), "{rows:?}");
    assert!(want_mine >= 2, "{want_mine}");
    assert!(rows.iter().all(|r| r.database_name != theirs), "{rows:?}");
    let gap = gap.expect("recorded as not measured");
    assert_eq!(gap.reason, "permission");
    let grant = format!("GRANT SHOW VIEW ON *.* TO '{user}'@");
    assert!(gap.detail.contains(&grant), "{gap:?}");
    assert!(output.unmeasured >= 1, "{output:?}");
}

async fn a_database_dropped_during_the_day_leaves_rows_and_total_in_agreement(backend: Backend) {
    let world = World::on(backend).await;
    let mut account = MariaAccount::new(&["PROCESS", "SHOW DATABASES", "SHOW VIEW"]).await;
    let (stays, goes) = (account.schema("stays").await, account.schema("goes").await);
    account.fill(&stays, "t", "InnoDB", 1024).await;
    account.fill(&goes, "t", "InnoDB", 2048).await;
    let instance = account.register(&world).await;
    let (morning, evening) = (day(3).and_hms_opt(3, 0, 0), day(3).and_hms_opt(20, 0, 0));
    let clock = |t: Option<chrono::NaiveDateTime>| Clock {
        now: t.unwrap().and_utc(),
        today: day(3),
    };

    let first = run_capacity_sync(&world, &instance, clock(morning)).await;
    account
        .root(&[format!("DROP DATABASE {}", ident(&goes))])
        .await;
    let second = run_capacity_sync(&world, &instance, clock(evening)).await;
    let stats = world.store.stats();
    let rows = stats.databases(instance.id, day(3)).await;
    let total = stats.instance_total(instance.id, day(3)).await;
    account.teardown().await;
    world.teardown().await;

    first.unwrap();
    // Other runs drop their own databases on the shared server too.
    assert!(second.unwrap().inventory.deactivated >= 1);
    let rows = rows.unwrap();
    let total = total.unwrap().expect("a total for the day");
    assert!(rows.iter().all(|r| r.database_name != goes), "{rows:?}");
    assert_eq!(
        (
            rows.iter().map(|r| r.size_mb).sum::<i64>(),
            rows.len() as i32
        ),
        (total.total_size_mb, total.database_count),
        "the day's rows add up to its total: {rows:?} {total:?}"
    );
}

/// The instance names a database the account holds nothing on: the job and
/// the probe fail with class `permission`, naming a grant that works.
async fn mariadb_a_database_named_in_the_instance_but_refused_names_the_grant(backend: Backend) {
    let world = World::on(backend).await;
    // No global privilege that applies to every database.
    let mut account = MariaAccount::new(&["PROCESS", "SHOW DATABASES"]).await;
    let home = account.schema("home").await;
    account.fill(&home, "t", "InnoDB", 64).await;
    account
        .root(&account.revoke_all_hosts(&format!("SELECT ON {}.*", ident(&home))))
        .await;
    let var = format!("DBFLP_PW_{}", account.user);
    std::env::set_var(&var, &account.password);
    let new = NewInstance {
        tls: Default::default(),
        name: InstanceName::parse("maria-home").unwrap(),
        db_type: DbType::Mysql,
        host: "127.0.0.1".into(),
        port: 3306,
        database: Some(home.clone()),
        username: account.user.clone(),
        password: PasswordRef::Env(var),
        managed: false,
        labels: Default::default(),
        credential: None,
    };
    let instance = world.store.instances().add(&new).await.unwrap();

    let sync = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    let probed = run_probe(&world, &instance).await;
    let grant = format!(
        "GRANT SHOW VIEW ON {}.* TO '{}'@",
        common::grant_ident(&home),
        account.user
    );
    // The grant, run as it is written, lets the account in.
    let text = failure_text(&sync);
    let written = text
        .find("GRANT SHOW VIEW")
        .and_then(|at| text[at..].split_once(';').map(|(g, _)| g.to_string()));
    if let Some(statement) = &written {
        account.root(std::slice::from_ref(statement)).await;
    }
    let after = run_capacity_sync(&world, &instance, at_noon(day(1))).await;
    let rows = world.store.stats().databases(instance.id, day(1)).await;
    account.teardown().await;
    world.teardown().await;

    for text in [failure_text(&sync), failure_text(&probed)] {
        assert!(text.starts_with("permission: "), "{text}");
        assert!(text.contains(&grant), "{text}");
        assert!(text.contains("leave it unset"), "{text}");
    }
    assert!(written.is_some(), "{text}");
    after.unwrap();
    let rows = rows.unwrap();
    assert!(rows.iter().any(|r| r.database_name == home), "{rows:?}");
}

// ------------------------------------------- dropped while being measured

/// Sizing as `user` (no password) of `targets`, on a session of its own.
async fn size_as(db_type: DbType, user: &str, password: &str, targets: &[String]) -> Capacity {
    let options = ConnectOptions {
        tls: Default::default(),
        host: "127.0.0.1".into(),
        port: db_type.default_port(),
        username: user.into(),
        password: password.to_string().into(),
        database: None,
        connect_timeout: std::time::Duration::from_secs(10),
        statement_timeout: std::time::Duration::from_secs(30),
        lock_timeout: std::time::Duration::from_secs(5),
    };
    let mut conn = Connection::connect(db_type, &options).await.unwrap();
    let capacity = conn.fetch_capacity(targets).await;
    conn.close().await;
    capacity.unwrap()
}

fn reason_of(capacity: &Capacity, name: &str) -> Option<UnmeasuredReason> {
    let found = capacity.unmeasured.iter().find(|u| u.name == name);
    found.map(|u| u.reason)
}

/// A database listed, then dropped before it is sized (a target that no
/// longer exists): reported dropped, and the others are still sized.
#[tokio::test]
async fn postgres_a_database_dropped_while_measured_hides_no_other() {
    let mut pg = PgMonitor::new().await;
    let open = pg.database("open", 100).await;
    let gone = pg.database("gone", 10).await;
    drop_pg_databases(std::slice::from_ref(&gone)).await;
    let capacity = size_as(
        DbType::Postgresql,
        &pg.role,
        "",
        &[open.clone(), gone.clone()],
    )
    .await;
    let expected = expected_pg(&open).await;
    pg.teardown().await;

    let sizes: Vec<_> = capacity
        .sizes
        .iter()
        .map(|s| (s.name.as_str(), s.size_mb))
        .collect();
    assert_eq!(sizes, [(open.as_str(), expected)]);
    assert_eq!(reason_of(&capacity, &gone), Some(UnmeasuredReason::Dropped));
}

#[tokio::test]
async fn mariadb_a_database_dropped_while_measured_hides_no_other() {
    let mut account = MariaAccount::new(&["PROCESS", "SHOW DATABASES", "SHOW VIEW"]).await;
    let kept = account.schema("kept").await;
    account.fill(&kept, "m", "MyISAM", 1024).await;
    let gone = account.schema("gone").await;
    account
        .root(&[format!("DROP DATABASE {}", ident(&gone))])
        .await;
    let (user, password) = (account.user.clone(), account.password.clone());
    let capacity = size_as(
        DbType::Mysql,
        &user,
        &password,
        &[kept.clone(), gone.clone()],
    )
    .await;
    let expected = expected_mariadb_mib(&kept).await;
    account.teardown().await;

    let sizes: Vec<_> = capacity
        .sizes
        .iter()
        .map(|s| (s.name.as_str(), s.size_mb))
        .collect();
    assert_eq!(sizes, [(kept.as_str(), expected)]);
    assert_eq!(reason_of(&capacity, &gone), Some(UnmeasuredReason::Dropped));
}
