//! Registering many instances at once ([`Instances::import`], behind
//! `dbfleet instance import`): one transaction, and at most seven
//! statements whatever the number of rows.
//!
//! The rows travel as JSON parameters ([`super::dialect::Dialect::rows`]):
//! one statement checks the named credentials the rows reference (when
//! any), one reads the live instances of those names, then at most four
//! write the difference (new credentials, new instances, changed instances,
//! changed credentials). Each new instance needs a credentials row of its
//! own, and no SQL both databases run says which id an `INSERT … SELECT`
//! gave to which row; so the new credentials come back with their contents
//! (`RETURNING`), and any of them with a row's contents serves that row:
//! identical credentials are interchangeable.
//!
//! With [`ImportOptions::prune_by`], the live instances the file does not
//! name are disabled (never removed) in the same transaction, and the
//! disabling is signed; [`ImportOptions::dry_run`] runs every statement and
//! rolls back, so what it reports is exactly what the import would do.
//!
//! Who owns an instance never changes here: a name whose live instance is
//! managed differently from its row (a configuration's instance, for the
//! CLI's unmanaged rows) refuses the whole import, and nothing is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::db::{args, Tx};
use super::dialect::{Column, Kind};
use super::instances::{instance_from_row, path_text, SELECT_INSTANCE};
use super::{prune, Error, Instance, Instances, NewInstance, Result};
use crate::domain::{CredentialName, InstanceName};

/// One instance to import, and whether it is active if the import creates
/// it. An instance that exists keeps its active state: `dbfleet instance
/// enable|disable` owns it, so importing again never re-enables one.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub instance: NewInstance,
    pub active: bool,
}

/// What an import wrote, by name, in the rows' order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: Vec<InstanceName>,
    /// Connection settings or password reference changed.
    pub updated: Vec<InstanceName>,
    pub unchanged: Vec<InstanceName>,
    /// Disabled because the file does not name them (`--prune`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<InstanceName>,
    /// Nothing was written: this is what the import would do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// How an import treats what its file does not say.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Disable every active instance registered outside the configuration
    /// that the file does not name, recording this as who did it.
    pub prune_by: Option<String>,
    /// Report what the import would do, and write nothing.
    pub dry_run: bool,
}

/// The outcome of [`Instances::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Every row is registered as given, in one transaction.
    Written(ImportReport),
    /// Nothing was written: these names are live instances managed
    /// differently from their rows.
    Refused(Vec<InstanceName>),
    /// Nothing was written: rows name these credentials, which do not exist.
    UnknownCredentials(Vec<CredentialName>),
}

impl Instances<'_> {
    /// Create the rows not registered, update those whose settings differ
    /// (engine, host, port, database, username, password reference,
    /// labels), leave the rest; a removed name is created anew; prune as
    /// `options` say. Names must be unique among the rows
    /// ([`Error::Conflict`] otherwise).
    pub async fn import(&self, rows: &[ImportRow], options: &ImportOptions) -> Result<Imported> {
        let now = Utc::now();
        let mut tx = self.db.write().await?;
        let unknown = prune::unknown_credentials(&mut tx, rows).await?;
        if !unknown.is_empty() {
            return Ok(Imported::UnknownCredentials(unknown));
        }
        let live = live_by_name(&mut tx, rows).await?;
        let plan = Plan::new(rows, &live)?;
        if !plan.refused.is_empty() {
            // Dropped without a commit, the transaction rolls back.
            return Ok(Imported::Refused(plan.refused));
        }
        if !plan.create.is_empty() {
            let credentials = insert_credentials(&mut tx, &plan.create, now).await?;
            insert_instances(&mut tx, &plan.create, credentials, now).await?;
        }
        if !plan.update.is_empty() {
            update(&mut tx, &plan.update, now).await?;
        }
        let mut report = plan.report();
        if let Some(by) = &options.prune_by {
            report.disabled = prune::prune(&mut tx, rows, by, now).await?;
        }
        if options.dry_run {
            report.dry_run = true;
            return Ok(Imported::Written(report));
        }
        tx.commit().await?;
        Ok(Imported::Written(report))
    }
}

/// What to do with each row, decided from the live instance of its name.
struct Plan<'r> {
    create: Vec<&'r ImportRow>,
    update: Vec<(&'r Instance, &'r NewInstance)>,
    unchanged: Vec<&'r NewInstance>,
    /// Names whose live instance is managed differently from the row.
    refused: Vec<InstanceName>,
}

impl<'r> Plan<'r> {
    /// The plan; a name given twice is a conflict.
    fn new(rows: &'r [ImportRow], live: &'r HashMap<String, Instance>) -> Result<Plan<'r>> {
        let mut plan = Plan {
            create: Vec::new(),
            update: Vec::new(),
            unchanged: Vec::new(),
            refused: Vec::new(),
        };
        let mut seen = HashSet::new();
        for row in rows {
            let new = &row.instance;
            if !seen.insert(new.name.as_str()) {
                let name = &new.name;
                return Err(Error::Conflict(format!("`{name}` is given twice")));
            }
            match live.get(new.name.as_str()) {
                Some(stored) if stored.managed != new.managed => {
                    plan.refused.push(new.name.clone());
                }
                Some(stored) if stored.has_settings(new) => plan.unchanged.push(new),
                Some(stored) => plan.update.push((stored, new)),
                None => plan.create.push(row),
            }
        }
        Ok(plan)
    }

    fn report(&self) -> ImportReport {
        ImportReport {
            created: self
                .create
                .iter()
                .map(|r| r.instance.name.clone())
                .collect(),
            updated: self.update.iter().map(|(_, r)| r.name.clone()).collect(),
            unchanged: self.unchanged.iter().map(|r| r.name.clone()).collect(),
            ..ImportReport::default()
        }
    }
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// The rows' names, as [`super::dialect::Dialect::rows`] reads them.
pub(super) const NAMES: [Column; 1] = [column("name", Kind::Text)];

/// The live instances named by the rows, locked until the import ends.
async fn live_by_name(tx: &mut Tx, rows: &[ImportRow]) -> Result<HashMap<String, Instance>> {
    let names: Value = rows
        .iter()
        .map(|r| json!({ "name": r.instance.name.as_str() }))
        .collect();
    let sql = format!(
        "{SELECT_INSTANCE} WHERE i.deleted_at IS NULL \
             AND i.name IN (SELECT t.name FROM {}){}",
        tx.dialect().rows(1, &NAMES),
        tx.dialect().lock_rows_of("i")
    );
    let found = tx.fetch_all(&sql, args![names]).await?;
    found
        .iter()
        .map(|row| instance_from_row(row).map(|i| (i.name.as_str().to_owned(), i)))
        .collect()
}

/// A credentials row's contents: what makes two of them interchangeable.
type Credential = (String, &'static str, Option<String>);

fn credential(new: &NewInstance) -> Credential {
    let (source, reference) = new.password.to_parts();
    (new.username.clone(), source, reference)
}

const CREDENTIALS: [Column; 3] = [
    column("username", Kind::Text),
    column("password_source", Kind::Text),
    column("password_ref", Kind::Text),
];

/// One new credentials row per new instance: the ids of each contents.
async fn insert_credentials(
    tx: &mut Tx,
    create: &[&ImportRow],
    now: DateTime<Utc>,
) -> Result<HashMap<Credential, Vec<i64>>> {
    let rows: Value = create
        .iter()
        .map(|row| {
            let (username, source, reference) = credential(&row.instance);
            json!({ "username": username, "password_source": source, "password_ref": reference })
        })
        .collect();
    let sql = format!(
        "INSERT INTO credentials (username, password_source, password_ref, created_at, \
             updated_at) \
         SELECT t.username, t.password_source, t.password_ref, $2, $2 FROM {} \
         RETURNING id, username, password_source, password_ref",
        tx.dialect().rows(1, &CREDENTIALS)
    );
    let mut ids: HashMap<Credential, Vec<i64>> = HashMap::new();
    for row in tx.fetch_all(&sql, args![rows, now]).await? {
        let source: String = row.get("password_source")?;
        let source = ["none", "env", "file"]
            .into_iter()
            .find(|s| *s == source)
            .ok_or_else(|| Error::Conflict(format!("unknown password source `{source}`")))?;
        let key = (row.get("username")?, source, row.get("password_ref")?);
        ids.entry(key).or_default().push(row.int("id")?);
    }
    Ok(ids)
}

const NEW_INSTANCES: [Column; 14] = [
    column("name", Kind::Text),
    column("db_type", Kind::Text),
    column("host", Kind::Text),
    column("port", Kind::Int),
    column("database_name", Kind::Text),
    column("credential_id", Kind::Int),
    column("is_active", Kind::Int),
    column("managed", Kind::Int),
    column("labels", Kind::Text),
    column("credential_name", Kind::Text),
    column("tls_mode", Kind::Text),
    column("tls_ca_file", Kind::Text),
    column("tls_cert_file", Kind::Text),
    column("tls_key_file", Kind::Text),
];

/// The new instances, each on one of the new credentials of its contents.
async fn insert_instances(
    tx: &mut Tx,
    create: &[&ImportRow],
    mut credentials: HashMap<Credential, Vec<i64>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut rows = Vec::with_capacity(create.len());
    for ImportRow {
        instance: new,
        active,
    } in create.iter().copied()
    {
        let credential_id = credentials
            .get_mut(&credential(new))
            .and_then(Vec::pop)
            .ok_or(Error::Database(sqlx::Error::RowNotFound))?;
        rows.push(json!({
            "name": new.name.as_str(), "db_type": new.db_type.as_str(), "host": new.host,
            "port": new.port, "database_name": new.database, "credential_id": credential_id,
            "is_active": i64::from(*active),
            "managed": i64::from(new.managed), "labels": new.labels.to_json(),
            "credential_name": new.credential.as_ref().map(CredentialName::as_str),
        }));
        add_tls(rows.last_mut(), new);
    }
    let sql = format!(
        "INSERT INTO instances (name, db_type, host, port, database_name, credential_id, \
             is_active, managed, labels, credential_name, created_at, updated_at, tls_mode, \
             tls_ca_file, tls_cert_file, tls_key_file) \
         SELECT t.name, t.db_type, t.host, t.port, t.database_name, t.credential_id, \
             t.is_active = 1, t.managed = 1, t.labels, t.credential_name, $2, $2, t.tls_mode, \
             t.tls_ca_file, t.tls_cert_file, t.tls_key_file FROM {}",
        tx.dialect().rows(1, &NEW_INSTANCES)
    );
    tx.execute(&sql, args![Value::Array(rows), now])
        .await
        .map_err(registered_meanwhile)?;
    Ok(())
}

const CHANGED: [Column; 14] = [
    column("id", Kind::Int),
    column("db_type", Kind::Text),
    column("host", Kind::Text),
    column("port", Kind::Int),
    column("database_name", Kind::Text),
    column("username", Kind::Text),
    column("password_source", Kind::Text),
    column("password_ref", Kind::Text),
    column("labels", Kind::Text),
    column("credential_name", Kind::Text),
    column("tls_mode", Kind::Text),
    column("tls_ca_file", Kind::Text),
    column("tls_cert_file", Kind::Text),
    column("tls_key_file", Kind::Text),
];

/// The changed instances and their credentials, one statement each.
async fn update(
    tx: &mut Tx,
    changed: &[(&Instance, &NewInstance)],
    now: DateTime<Utc>,
) -> Result<()> {
    let rows: Value = changed
        .iter()
        .map(|(stored, new)| {
            let (username, source, reference) = credential(new);
            let mut row = json!({
                "id": stored.id.0, "db_type": new.db_type.as_str(), "host": new.host,
                "port": new.port, "database_name": new.database, "username": username,
                "password_source": source, "password_ref": reference,
                "labels": new.labels.to_json(),
                "credential_name": new.credential.as_ref().map(CredentialName::as_str),
            });
            add_tls(Some(&mut row), new);
            row
        })
        .collect();
    let from = tx.dialect().rows(1, &CHANGED);
    let instances = format!(
        "UPDATE instances SET db_type = t.db_type, host = t.host, port = t.port, \
             database_name = t.database_name, labels = t.labels, \
             credential_name = t.credential_name, tls_mode = t.tls_mode, \
             tls_ca_file = t.tls_ca_file, tls_cert_file = t.tls_cert_file, \
             tls_key_file = t.tls_key_file, updated_at = $2 \
         FROM {from} WHERE instances.id = t.id"
    );
    tx.execute(&instances, args![rows.clone(), now]).await?;
    let credentials = format!(
        "UPDATE credentials SET username = t.username, password_source = t.password_source, \
             password_ref = t.password_ref, updated_at = $2 \
         FROM instances i, {from} WHERE i.id = t.id AND credentials.id = i.credential_id"
    );
    tx.execute(&credentials, args![rows, now]).await?;
    Ok(())
}

/// The TLS columns of a row to write.
fn add_tls(row: Option<&mut Value>, new: &NewInstance) {
    if let Some(Value::Object(row)) = row {
        let tls = &new.tls;
        row.insert("tls_mode".into(), json!(tls.mode.as_str()));
        row.insert("tls_ca_file".into(), json!(path_text(&tls.ca_file)));
        row.insert("tls_cert_file".into(), json!(path_text(&tls.cert_file)));
        row.insert("tls_key_file".into(), json!(path_text(&tls.key_file)));
    }
}

/// A unique violation on insert: another process registered one of the
/// names after this import read them.
fn registered_meanwhile(e: Error) -> Error {
    if e.is_unique_violation() {
        Error::Conflict(
            "an instance of the import was registered by someone else meanwhile; \
             nothing was imported, run the import again"
                .to_owned(),
        )
    } else {
        e
    }
}
