//! Hostile database names end to end, on both pairs of backends: quotes,
//! backticks, spaces, SQL wildcards, SQL fragments, unicode, characters
//! MySQL writes to disk as filename escapes, and names that differ only by
//! case. Each must be inventoried under its exact name and sized exactly as
//! the server itself reports it, never excluded by the filter file, and a
//! `%` or `_` in a name must never act as a wildcard.
//!
//! Expected sizes are computed here independently of the adapters: on
//! MariaDB from `INNODB_SYS_TABLESPACES` with the server's own decoding of
//! the on-disk names (`CONVERT(… USING filename)`, the helper shared with
//! `tests/adapters.rs`), on PostgreSQL with `pg_database_size` looked up by
//! name.
//!
//! Every test first observes, then drops what it created, then asserts, so a
//! failing assertion leaves nothing behind on the shared servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{
    drop_pg_databases, grant_ident, ident, mariadb_exec, mariadb_root, mariadb_try_exec, pg_admin,
    pg_database, pg_expected_sizes, run_batch, run_capacity_sync, today, Backend, Fleet, MariaUser,
    World,
};
use dbfleet::domain::DbType;
use dbfleet::filters::DatabaseFilters;
use dbfleet::jobs::Clock;
use dbfleet::store::{BatchStatus, Instance};
use sqlx::Connection as _;

on_both_backends!(
    hostile_mariadb_names_are_inventoried_and_sized_exactly,
    hostile_postgres_names_are_inventoried_and_sized_exactly,
    names_with_leading_or_trailing_whitespace_keep_their_exact_name,
);

/// Suffixes (after `<prefix>_`) every engine accepts. Comments name what
/// each one attacks.
const HOSTILE_SUFFIXES: &[&str] = &[
    "q'uote",                 // a single quote: string literals
    "d\"quote",               // a double quote: PostgreSQL identifiers
    "b`tick",                 // a backtick: MySQL identifiers
    "sp ace  s",              // spaces, two in a row
    "semi; DROP TABLE x; --", // a statement and a comment
    "é ü 中文",               // two-character filename codes and hex escapes
    "da-sh.dot",              // stored on disk as `@002d` and `@002e`
    "back\\slash",            // an escape character in MySQL strings
    "sl/ash",                 // the tablespace name separator, `@002f` on disk
    "at@0p@002d",             // literal `@`: looks like filename escapes
    "hash#1",                 // `#` starts `#sql` / `#mysql50#` names
];

/// Pairs where the first name, read as a `LIKE` pattern, matches the second.
/// The first one of each pair holds more data, so its size differs and any
/// wildcard confusion shows up as a wrong size or a missing name.
const WILDCARD_PAIRS: &[(&str, &str)] = &[("a%b", "aXb"), ("u_v", "uYv")];

/// Four bytes in UTF-8: accepted by PostgreSQL, rejected by MariaDB 10.11
/// (identifiers are utf8mb3 there: error 1300 "Invalid utf8mb4 character
/// string"). The MariaDB test tries it and includes it only if accepted.
const EMOJI_SUFFIX: &str = "emoji 😀";

/// Names differing only by case; MariaDB keeps them apart only when
/// `lower_case_table_names` is 0 (checked at run time).
const CASE_PAIR: (&str, &str) = ("Case", "case");

/// What the control store holds for one instance after a sync.
#[derive(Debug)]
struct Observed {
    /// Every inventory name, active or not.
    inventory: BTreeSet<String>,
    /// Active inventory names.
    active: BTreeSet<String>,
    /// The day's stored sizes.
    sizes: BTreeMap<String, i64>,
    /// The independent expectation measured right after the last sync.
    expected: BTreeMap<String, i64>,
    /// Whether `expected` was the same before and after the last sync.
    stable: bool,
    /// Failed syncs, to assert on once everything is dropped.
    errors: Vec<String>,
}

/// Sync (by `run`) until the independent figures agree before and after
/// one sync (files may still grow right after the inserts), then read what
/// the store holds for `instance`.
async fn sync_until_stable(
    world: &World,
    instance: &Instance,
    run: impl AsyncFn() -> Result<(), String>,
    expected: impl AsyncFn() -> BTreeMap<String, i64>,
) -> Observed {
    let mut errors = Vec::new();
    let mut last = (BTreeMap::new(), false);
    for _ in 0..4 {
        let before = expected().await;
        if let Err(e) = run().await {
            errors.push(e);
        }
        let after = expected().await;
        let stable = before == after;
        last = (after, stable);
        if stable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let records = world.store.inventory().records(instance.id).await.unwrap();
    let stats = world
        .store
        .stats()
        .databases(instance.id, today(world))
        .await
        .unwrap();
    Observed {
        inventory: records.iter().map(|r| r.database_name.clone()).collect(),
        active: records
            .iter()
            .filter(|r| r.is_active)
            .map(|r| r.database_name.clone())
            .collect(),
        sizes: stats
            .into_iter()
            .map(|s| (s.database_name, s.size_mb))
            .collect(),
        expected: last.0,
        stable: last.1,
        errors,
    }
}

/// A batch that must succeed (every job), as a sync for [`sync_until_stable`].
async fn batch_sync(world: &World) -> Result<(), String> {
    let report = run_batch(world).await;
    let all_ok = report.batch.status == BatchStatus::Success
        && !report.jobs.is_empty()
        && report.jobs.iter().all(|j| j.status == "succeeded");
    if all_ok {
        Ok(())
    } else {
        Err(format!("batch did not succeed: {report:?}"))
    }
}

/// [`sync_until_stable`] by batches, one worker and the aggregator running
/// meanwhile.
async fn batches_until_stable(
    world: &World,
    instance: &Instance,
    expected: impl AsyncFn() -> BTreeMap<String, i64>,
) -> Observed {
    let fleet = Fleet::start(world, 1);
    let seen = sync_until_stable(world, instance, async || batch_sync(world).await, expected).await;
    fleet.stop().await;
    seen
}

/// One capacity sync run directly, as a sync for [`sync_until_stable`].
async fn direct_sync(world: &World, instance: &Instance) -> Result<(), String> {
    run_capacity_sync(world, instance, Clock::system(world.settings.timezone))
        .await
        .map(|_| ())
        .map_err(|e| format!("{} sync failed: {e:?}", instance.name))
}

/// Each of `names` is inventoried (active) under its exact name, sized
/// exactly as computed independently, and excluded by no filter rule.
fn assert_exact(filters: &DatabaseFilters, engine: DbType, names: &[String], seen: &Observed) {
    assert_eq!(seen.errors, Vec::<String>::new(), "every sync succeeds");
    assert!(seen.stable, "sizes kept moving: {seen:?}");
    for name in names {
        assert_eq!(
            filters.exclusion(engine.as_str(), name),
            None,
            "{name:?} must not match any filter rule"
        );
        assert!(
            seen.active.contains(name),
            "{name:?} (bytes {:02x?}) missing from the inventory {:?}",
            name.as_bytes(),
            seen.active
        );
        let want = seen
            .expected
            .get(name)
            .unwrap_or_else(|| panic!("no expected size for {name:?}: {:?}", seen.expected));
        assert_eq!(
            seen.sizes.get(name),
            Some(want),
            "size of {name:?}; stored sizes {:?}",
            seen.sizes
        );
    }
}

/// The stored names that contain `prefix`: exactly the `wanted` ones, so no
/// name was mangled into a second, wrong one.
fn assert_no_stray_names(prefix: &str, wanted: &BTreeSet<String>, seen: &Observed) {
    let ours = |names: &BTreeSet<String>| -> BTreeSet<String> {
        names
            .iter()
            .filter(|n| n.contains(prefix))
            .cloned()
            .collect()
    };
    assert_eq!(&ours(&seen.inventory), wanted, "inventory names");
    let sized: BTreeSet<String> = seen.sizes.keys().cloned().collect();
    assert_eq!(&ours(&sized), wanted, "sized names");
}

// ---------------------------------------------------------------- MariaDB

/// A database with an InnoDB table holding `rows` rows of 1 KiB.
async fn mariadb_database(root: &mut sqlx::MySqlConnection, name: &str, rows: u32) {
    let db = ident(name);
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!("CREATE TABLE {db}.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) ENGINE=InnoDB"),
        format!("INSERT INTO {db}.t (v) SELECT REPEAT('x', 1024) FROM {db}.seq_1_to_{rows}"),
    ] {
        mariadb_exec(root, &sql).await;
    }
}

async fn mariadb_drop(names: &[String]) {
    let mut root = mariadb_root().await;
    for name in names {
        let _ = mariadb_try_exec(
            &mut root,
            &format!("DROP DATABASE IF EXISTS {}", ident(name)),
        )
        .await;
    }
    let _ = root.close().await;
}

/// Expected MiB of each of `names` (see [`common::mariadb_expected_sizes`]).
async fn mariadb_expected_sizes(names: &BTreeSet<String>) -> BTreeMap<String, i64> {
    let mut root = mariadb_root().await;
    let mut sizes = common::mariadb_expected_sizes(&mut root, "").await;
    let _ = root.close().await;
    sizes.retain(|name, _| names.contains(name));
    sizes
}

async fn hostile_mariadb_names_are_inventoried_and_sized_exactly(backend: Backend) {
    let world = World::on(backend).await;
    let maria = MariaUser::new().await;
    let p = maria.prefix.clone();
    let mut root = mariadb_root().await;

    let mut names: Vec<String> = Vec::new();
    for suffix in HOSTILE_SUFFIXES {
        let name = format!("{p}_{suffix}");
        mariadb_database(&mut root, &name, 1).await;
        names.push(name);
    }
    for (pattern, literal) in WILDCARD_PAIRS {
        let (pattern, literal) = (format!("{p}_{pattern}"), format!("{p}_{literal}"));
        mariadb_database(&mut root, &pattern, 3000).await;
        mariadb_database(&mut root, &literal, 1).await;
        names.extend([pattern, literal]);
    }
    // MariaDB 10.11 rejects four-byte characters in identifiers (error 1300,
    // "Invalid utf8mb4 character string"): the emoji is skipped there. A
    // server that accepts it gets it tested too.
    let emoji = format!("{p}_{EMOJI_SUFFIX}");
    if mariadb_try_exec(&mut root, &format!("CREATE DATABASE {}", ident(&emoji)))
        .await
        .is_ok()
    {
        mariadb_try_exec(&mut root, &format!("DROP DATABASE {}", ident(&emoji)))
            .await
            .unwrap();
        mariadb_database(&mut root, &emoji, 1).await;
        names.push(emoji);
    }
    // Names differing only by case are two databases only when the server
    // does not fold names (`lower_case_table_names` = 0, the Linux default);
    // with folding they would be one database, so the pair is skipped.
    let folds: i64 = sqlx::query_scalar("SELECT CAST(@@lower_case_table_names AS SIGNED)")
        .fetch_one(&mut root)
        .await
        .unwrap();
    let case_pair = (folds == 0).then(|| {
        (
            format!("{p}_{}", CASE_PAIR.0),
            format!("{p}_{}", CASE_PAIR.1),
        )
    });
    if let Some((upper, lower)) = &case_pair {
        mariadb_database(&mut root, upper, 3000).await;
        mariadb_database(&mut root, lower, 1).await;
        names.extend([upper.clone(), lower.clone()]);
    }
    let _ = root.close().await;

    let instance = world.add_mariadb("maria", &maria).await;
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    let seen = batches_until_stable(&world, &instance, async || {
        mariadb_expected_sizes(&wanted).await
    })
    .await;
    let filters = world.filters.clone();

    mariadb_drop(&names).await;
    maria.teardown().await;
    world.teardown().await;

    assert_exact(&filters, DbType::Mysql, &names, &seen);
    // The account sees only these databases (and `information_schema`, which
    // the filter file leaves out): nothing more, nothing less.
    assert_eq!(seen.inventory, wanted, "inventory");
    assert_no_stray_names(&p, &wanted, &seen);
    for (pattern, literal) in WILDCARD_PAIRS {
        let (pattern, literal) = (format!("{p}_{pattern}"), format!("{p}_{literal}"));
        assert!(
            seen.expected[&pattern] > seen.expected[&literal],
            "the pattern-like name holds more data: {:?}",
            seen.expected
        );
    }
    if let Some((upper, lower)) = &case_pair {
        assert!(
            seen.expected[upper] > seen.expected[lower],
            "{:?}",
            seen.expected
        );
    }
}

// ------------------------------------------------------------- PostgreSQL

/// `pg_database_size` of each of `names`, looked up by name, in whole MiB
/// rounded down.
async fn pg_sizes(names: &BTreeSet<String>) -> BTreeMap<String, i64> {
    let mut admin = pg_admin().await;
    let sizes = pg_expected_sizes(&mut admin, names).await;
    let _ = admin.close().await;
    sizes
}

async fn hostile_postgres_names_are_inventoried_and_sized_exactly(backend: Backend) {
    let world = World::on(backend).await;
    let p = format!("dbfh_{}", common::tag());
    let mut admin = pg_admin().await;

    let mut names: Vec<String> = Vec::new();
    for suffix in HOSTILE_SUFFIXES.iter().chain([&EMOJI_SUFFIX]) {
        let name = format!("{p}_{suffix}");
        assert!(name.len() <= 63, "PostgreSQL would truncate {name:?}");
        pg_database(&mut admin, &name, 1).await;
        names.push(name);
    }
    // PostgreSQL never folds quoted names: the case pair is always distinct.
    for (big, small) in WILDCARD_PAIRS.iter().chain([&CASE_PAIR]) {
        let (big, small) = (format!("{p}_{big}"), format!("{p}_{small}"));
        pg_database(&mut admin, &big, 8000).await;
        pg_database(&mut admin, &small, 1).await;
        names.extend([big, small]);
    }
    let _ = admin.close().await;

    let instance = world.add_postgres("pg").await;
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    let seen = batches_until_stable(&world, &instance, async || pg_sizes(&wanted).await).await;
    let filters = world.filters.clone();

    drop_pg_databases(&names).await;
    world.teardown().await;

    assert_exact(&filters, DbType::Postgresql, &names, &seen);
    assert_no_stray_names(&p, &wanted, &seen);
    for (big, small) in WILDCARD_PAIRS.iter().chain([&CASE_PAIR]) {
        let (big, small) = (format!("{p}_{big}"), format!("{p}_{small}"));
        assert!(
            seen.expected[&big] > seen.expected[&small],
            "the first name of each pair holds more data: {:?}",
            seen.expected
        );
    }
}

// ------------------------------------------------------------- whitespace

/// Names that begin or end with whitespace are legal: MariaDB refuses a
/// trailing ASCII space or tab (error 1102) but accepts a leading space and
/// trailing Unicode whitespace (U+00A0, U+3000); PostgreSQL accepts any of
/// them. Each is a different database from its trimmed name, and must be
/// recorded and sized as itself.
async fn names_with_leading_or_trailing_whitespace_keep_their_exact_name(backend: Backend) {
    let world = World::on(backend).await;

    // MariaDB. The leading-space name is outside the account's `<prefix>_%`
    // grant, so it gets a grant of its own.
    let maria = MariaUser::new().await;
    let p = maria.prefix.clone();
    let maria_names = vec![
        format!("{p}_plain"),
        format!(" {p}_lead"),
        format!("{p}_nbsp\u{a0}"),
        format!("{p}_ideo\u{3000}"),
    ];
    let mut root = mariadb_root().await;
    for name in &maria_names {
        mariadb_database(&mut root, name, 1).await;
    }
    for host in ["%", "localhost"] {
        let sql = format!(
            "GRANT ALL ON {}.* TO '{}'@'{host}'",
            grant_ident(&maria_names[1]),
            maria.user
        );
        mariadb_try_exec(&mut root, &sql).await.unwrap();
    }
    let _ = root.close().await;

    // PostgreSQL.
    let pg_prefix = format!("dbfh_{}", common::tag());
    let pg_names = vec![
        format!("{pg_prefix}_plain"),
        format!(" {pg_prefix}_lead"),
        format!("{pg_prefix}_trail "),
        format!("{pg_prefix}_nbsp\u{a0}"),
    ];
    let mut admin = pg_admin().await;
    for name in &pg_names {
        pg_database(&mut admin, name, 1).await;
    }
    let _ = admin.close().await;

    let mysql = world.add_mariadb("maria", &maria).await;
    let postgres = world.add_postgres("pg").await;
    let maria_wanted: BTreeSet<String> = maria_names.iter().cloned().collect();
    let pg_wanted: BTreeSet<String> = pg_names.iter().cloned().collect();
    let maria_seen = sync_until_stable(
        &world,
        &mysql,
        async || direct_sync(&world, &mysql).await,
        async || mariadb_expected_sizes(&maria_wanted).await,
    )
    .await;
    let pg_seen = sync_until_stable(
        &world,
        &postgres,
        async || direct_sync(&world, &postgres).await,
        async || pg_sizes(&pg_wanted).await,
    )
    .await;
    let filters = world.filters.clone();

    mariadb_drop(&maria_names).await;
    maria.teardown().await;
    drop_pg_databases(&pg_names).await;
    world.teardown().await;

    assert_exact(&filters, DbType::Mysql, &maria_names, &maria_seen);
    assert_no_stray_names(&p, &maria_wanted, &maria_seen);
    assert_exact(&filters, DbType::Postgresql, &pg_names, &pg_seen);
    assert_no_stray_names(&pg_prefix, &pg_wanted, &pg_seen);
}
