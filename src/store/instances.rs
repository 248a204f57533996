//! The instance registry: what to connect to, and with which credential
//! reference.
//!
//! Contract: names are unique among instances that are not removed
//! ([`Error::Conflict`] otherwise); removal is soft (`deleted_at`), so an
//! instance's history stays and its name can be reused. An operator's
//! enable or disable of a declared instance is kept as an override
//! (`active_override`, ruling 6), which reconciliation honours until
//! [`Instances::clear_override`]. Passwords are never
//! stored: each instance has its own `credentials` row holding a
//! [`PasswordRef`], written in the same transaction as the instance, and
//! may instead log in with a named credential (`credentials.rs`), whose
//! username and reference it then reads (its own row stays, empty).

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;

use super::db::{args, Db, Row};
use super::{Error, Result};
use crate::domain::{CredentialName, DbType, InstanceId, InstanceName};
use crate::labels::Labels;
use crate::secret::PasswordRef;
use crate::tls::{TlsMode, TlsSettings};

/// A registered instance, as the worker needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: InstanceId,
    pub name: InstanceName,
    pub db_type: DbType,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    /// The login: the named credential's when [`Instance::credential`] is
    /// set, the instance's own otherwise.
    pub username: String,
    pub password: PasswordRef,
    /// The named credential the instance logs in with, if any.
    pub credential: Option<CredentialName>,
    /// TLS mode and certificate file references.
    pub tls: TlsSettings,
    pub is_active: bool,
    /// Declared in the configuration, and so reconciled from it.
    pub managed: bool,
    /// An operator's enable (`true`) or disable (`false`) of a declared
    /// instance, which reconciliation keeps; `None`: the configuration
    /// decides. Always `None` for instances that are not declared.
    pub active_override: Option<bool>,
    pub labels: Labels,
    /// Who disabled the instance, when it was not `instance disable` (an
    /// import with `--prune`); `None` otherwise.
    pub disabled_by: Option<String>,
}

impl Instance {
    /// Does the instance already have `new`'s settings (the ones an import
    /// or a reconciliation writes)? Its name, owner and state are not
    /// among them.
    pub fn has_settings(&self, new: &NewInstance) -> bool {
        self.db_type == new.db_type
            && self.host == new.host
            && self.port == new.port
            && self.database == new.database
            && self.labels == new.labels
            && self.tls == new.tls
            && match &new.credential {
                Some(name) => self.credential.as_ref() == Some(name),
                None => {
                    self.credential.is_none()
                        && self.username == new.username
                        && self.password == new.password
                }
            }
    }
}

/// An instance to register.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub name: InstanceName,
    pub db_type: DbType,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    /// The instance's own login; unused (empty) with a named credential.
    pub username: String,
    pub password: PasswordRef,
    /// Log in with this named credential instead (it must exist).
    pub credential: Option<CredentialName>,
    pub tls: TlsSettings,
    /// Declared in the configuration (see [`Instance::managed`]).
    pub managed: bool,
    pub labels: Labels,
}

/// The instances of a store ([`super::Store::instances`]).
pub struct Instances<'a> {
    pub(super) db: &'a Db,
}

/// An instance with its login: the named credential's row when it names
/// one, its own otherwise.
pub(super) const SELECT_INSTANCE: &str =
    "SELECT i.id, i.name, i.db_type, i.host, i.port, i.database_name, i.is_active, i.managed, \
     i.active_override, i.labels, i.disabled_by, i.credential_name, i.tls_mode, i.tls_ca_file, \
     i.tls_cert_file, i.tls_key_file, c.username, c.password_source, c.password_ref \
     FROM instances i LEFT JOIN credentials n ON n.name = i.credential_name \
     JOIN credentials c ON c.id = COALESCE(n.id, i.credential_id)";

impl Instances<'_> {
    pub async fn add(&self, new: &NewInstance) -> Result<Instance> {
        let now = Utc::now();
        let (source, reference) = new.password.to_parts();
        let mut tx = self.db.write().await?;
        let credential = tx
            .fetch_one(
                "INSERT INTO credentials (username, password_source, password_ref, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
                args![&new.username, source, reference, now],
            )
            .await?
            .int("id")?;
        let id = tx
            .fetch_one(
                "INSERT INTO instances (name, db_type, host, port, database_name, credential_id, \
                     managed, labels, credential_name, created_at, updated_at, tls_mode, \
                     tls_ca_file, tls_cert_file, tls_key_file) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14) \
                 RETURNING id",
                args![
                    new.name.as_str(),
                    new.db_type.as_str(),
                    &new.host,
                    u32::from(new.port),
                    new.database.as_deref(),
                    credential,
                    new.managed,
                    new.labels.to_json(),
                    new.credential.as_ref().map(CredentialName::as_str),
                    now,
                    new.tls.mode.as_str(),
                    path_text(&new.tls.ca_file),
                    path_text(&new.tls.cert_file),
                    path_text(&new.tls.key_file)
                ],
            )
            .await
            .map_err(|e| name_taken(e, new))?
            .int("id")?;
        tx.commit().await?;
        let id = InstanceId(id);
        self.get(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("instance {id}")))
    }

    /// Overwrite an instance's connection settings (and credential reference).
    pub async fn update(&self, id: InstanceId, new: &NewInstance) -> Result<()> {
        let now = Utc::now();
        let (source, reference) = new.password.to_parts();
        let mut tx = self.db.write().await?;
        let updated = tx
            .fetch_optional(
                "UPDATE instances SET db_type = $2, host = $3, port = $4, database_name = $5, \
                     managed = $6, labels = $7, credential_name = $8, updated_at = $9, \
                     tls_mode = $10, tls_ca_file = $11, tls_cert_file = $12, tls_key_file = $13 \
                 WHERE id = $1 AND deleted_at IS NULL RETURNING credential_id",
                args![
                    id,
                    new.db_type.as_str(),
                    &new.host,
                    u32::from(new.port),
                    new.database.as_deref(),
                    new.managed,
                    new.labels.to_json(),
                    new.credential.as_ref().map(CredentialName::as_str),
                    now,
                    new.tls.mode.as_str(),
                    path_text(&new.tls.ca_file),
                    path_text(&new.tls.cert_file),
                    path_text(&new.tls.key_file)
                ],
            )
            .await
            .map_err(|e| unknown_credential(e, new))?;
        let Some(row) = updated else {
            return Err(Error::NotFound(format!("instance {id}")));
        };
        tx.execute(
            "UPDATE credentials SET username = $2, password_source = $3, password_ref = $4, \
                 updated_at = $5 WHERE id = $1",
            args![
                row.int("credential_id")?,
                &new.username,
                source,
                reference,
                now
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Every instance that is not removed, ordered by name.
    pub async fn list(&self) -> Result<Vec<Instance>> {
        let sql = format!("{SELECT_INSTANCE} WHERE i.deleted_at IS NULL ORDER BY i.name");
        let rows = self.db.fetch_all(&sql, args![]).await?;
        rows.iter().map(instance_from_row).collect()
    }

    pub async fn get(&self, id: InstanceId) -> Result<Option<Instance>> {
        let sql = format!("{SELECT_INSTANCE} WHERE i.id = $1 AND i.deleted_at IS NULL");
        let row = self.db.fetch_optional(&sql, args![id]).await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    pub async fn by_name(&self, name: &InstanceName) -> Result<Option<Instance>> {
        let sql = format!("{SELECT_INSTANCE} WHERE i.name = $1 AND i.deleted_at IS NULL");
        let row = self.db.fetch_optional(&sql, args![name.as_str()]).await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    /// Returns false when no such instance exists.
    pub async fn set_active(&self, name: &InstanceName, active: bool) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE instances SET is_active = $2, updated_at = $3 \
                 WHERE name = $1 AND deleted_at IS NULL",
                args![name.as_str(), active, Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// An operator's enable or disable: sets the state, and for a declared
    /// instance records it as the override reconciliation keeps. Returns
    /// false when no such instance exists.
    pub async fn override_active(&self, name: &InstanceName, active: bool) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE instances SET is_active = $2, \
                     active_override = CASE WHEN managed THEN $2 ELSE NULL END, \
                     disabled_by = NULL, disabled_at = NULL, updated_at = $3 \
                 WHERE name = $1 AND deleted_at IS NULL",
                args![name.as_str(), active, Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Forget the operator's override: the configuration decides again
    /// (the caller, or the next reconciliation, applies it). Returns false
    /// when no such instance exists.
    pub async fn clear_override(&self, name: &InstanceName) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE instances SET active_override = NULL, updated_at = $2 \
                 WHERE name = $1 AND deleted_at IS NULL",
                args![name.as_str(), Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Replace an instance's labels. Returns false when no such instance
    /// exists.
    pub async fn set_labels(&self, name: &InstanceName, labels: &Labels) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE instances SET labels = $2, updated_at = $3 \
                 WHERE name = $1 AND deleted_at IS NULL",
                args![name.as_str(), labels.to_json(), Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Soft delete: the instance leaves the registry, its history stays.
    pub async fn remove(&self, name: &InstanceName) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE instances SET is_active = FALSE, deleted_at = $2, updated_at = $2 \
                 WHERE name = $1 AND deleted_at IS NULL",
                args![name.as_str(), Utc::now()],
            )
            .await?;
        Ok(changed > 0)
    }
}

/// A unique violation on insert: the name is taken by a live instance.
fn name_taken(e: Error, new: &NewInstance) -> Error {
    if e.is_unique_violation() {
        Error::Conflict(format!("an instance named `{}` already exists", new.name))
    } else {
        unknown_credential(e, new)
    }
}

/// A foreign-key violation: the named credential does not exist.
fn unknown_credential(e: Error, new: &NewInstance) -> Error {
    match &new.credential {
        Some(name) if e.is_foreign_key_violation() => Error::NotFound(format!(
            "no credential named `{name}`; add it with `dbfleet credential add` or under \
             `credentials:` in the configuration"
        )),
        _ => e,
    }
}

/// A file reference as the store keeps it.
pub(super) fn path_text(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref().map(|p| p.display().to_string())
}

/// The TLS columns of an instance row.
fn tls_from_row(row: &Row) -> Result<TlsSettings> {
    let mode: String = row.get("tls_mode")?;
    let file = |column: &str| -> Result<Option<PathBuf>> {
        Ok(row.get::<Option<String>>(column)?.map(PathBuf::from))
    };
    Ok(TlsSettings {
        mode: TlsMode::parse(DbType::Postgresql, &mode)
            .map_err(|e| Error::Conflict(format!("corrupt instance row: {e}")))?,
        ca_file: file("tls_ca_file")?,
        cert_file: file("tls_cert_file")?,
        key_file: file("tls_key_file")?,
    })
}

pub(super) fn instance_from_row(row: &Row) -> Result<Instance> {
    let corrupt = |what: String| Error::Conflict(format!("corrupt instance row: {what}"));
    let name: String = row.get("name")?;
    let db_type: String = row.get("db_type")?;
    let port = row.int("port")?;
    let source: String = row.get("password_source")?;
    let reference: Option<String> = row.get("password_ref")?;
    Ok(Instance {
        id: InstanceId(row.int("id")?),
        name: InstanceName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
        db_type: db_type.parse().map_err(|e| corrupt(format!("{e}")))?,
        host: row.get("host")?,
        port: u16::try_from(port).map_err(|_| corrupt(format!("port {port}")))?,
        database: row.get("database_name")?,
        username: row.get("username")?,
        password: PasswordRef::from_parts(&source, reference.as_deref())
            .map_err(|e| corrupt(e.to_string()))?,
        credential: row
            .get::<Option<String>>("credential_name")?
            .map(|n| CredentialName::parse(&n).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        tls: tls_from_row(row)?,
        is_active: row.get("is_active")?,
        managed: row.get("managed")?,
        active_override: row.get("active_override")?,
        labels: Labels::from_json(&row.get::<String>("labels")?)
            .map_err(|e| corrupt(format!("labels: {e}")))?,
        disabled_by: row.get("disabled_by")?,
    })
}
