//! Named credentials: one monitoring account shared by many instances.
//!
//! A fleet of thousands of instances logs in with a handful of accounts;
//! one reference per instance would mean thousands of secrets to mount and
//! rotate (a Kubernetes Secret holds 1 MiB). A named credential is a
//! username and a password *reference* (a variable or a file, never the
//! password); an instance that names it (`instances.credential_name`) logs
//! in with it, so changing the credential, or the secret behind its
//! reference, changes every such instance at once and touches none of
//! them.
//!
//! Contract: names are unique; a credential that an instance still
//! references cannot be removed ([`Error::Conflict`], naming instances).
//! Credentials declared in the configuration are `managed` and reconciled
//! from it (`reconcile.rs`); the others belong to the CLI.

use chrono::Utc;
use serde::Serialize;

use super::db::{args, Db, Row};
use super::{Error, Result};
use crate::domain::CredentialName;
use crate::secret::PasswordRef;

/// A named credential, with how many live instances use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub name: CredentialName,
    pub username: String,
    pub password: PasswordRef,
    /// Declared in the configuration, and so reconciled from it.
    pub managed: bool,
    pub instances: i64,
}

/// A named credential to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub name: CredentialName,
    pub username: String,
    pub password: PasswordRef,
    pub managed: bool,
}

/// What [`Credentials::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Updated,
    Unchanged,
}

/// The named credentials of a store ([`super::Store::credentials`]).
pub struct Credentials<'a> {
    pub(super) db: &'a Db,
}

const SELECT_CREDENTIAL: &str = "SELECT c.name, c.username, c.password_source, c.password_ref, \
     c.managed, (SELECT count(*) FROM instances i \
         WHERE i.credential_name = c.name AND i.deleted_at IS NULL) AS instances \
     FROM credentials c";

impl Credentials<'_> {
    /// Create the credential, or (with `replace`) overwrite the one of that
    /// name; without `replace` an existing name is [`Error::Conflict`].
    pub async fn put(&self, new: &NewCredential, replace: bool) -> Result<Put> {
        let (source, reference) = new.password.to_parts();
        let now = Utc::now();
        let mut tx = self.db.write().await?;
        let sql = format!("{SELECT_CREDENTIAL} WHERE c.name = $1");
        let stored = tx.fetch_optional(&sql, args![new.name.as_str()]).await?;
        let stored = stored.as_ref().map(credential_from_row).transpose()?;
        let put = match stored {
            Some(_) if !replace => {
                let name = &new.name;
                return Err(Error::Conflict(format!(
                    "a credential named `{name}` already exists"
                )));
            }
            Some(s) if same(&s, new) => Put::Unchanged,
            Some(_) => {
                tx.execute(
                    "UPDATE credentials SET username = $2, password_source = $3, \
                         password_ref = $4, managed = $5, updated_at = $6 WHERE name = $1",
                    args![
                        new.name.as_str(),
                        &new.username,
                        source,
                        reference,
                        new.managed,
                        now
                    ],
                )
                .await?;
                Put::Updated
            }
            None => {
                tx.execute(
                    "INSERT INTO credentials (name, username, password_source, password_ref, \
                         managed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    args![
                        new.name.as_str(),
                        &new.username,
                        source,
                        reference,
                        new.managed,
                        now
                    ],
                )
                .await?;
                Put::Created
            }
        };
        tx.commit().await?;
        Ok(put)
    }

    /// Every named credential, ordered by name.
    pub async fn list(&self) -> Result<Vec<Credential>> {
        let sql = format!("{SELECT_CREDENTIAL} WHERE c.name IS NOT NULL ORDER BY c.name");
        let rows = self.db.fetch_all(&sql, args![]).await?;
        rows.iter().map(credential_from_row).collect()
    }

    pub async fn by_name(&self, name: &CredentialName) -> Result<Option<Credential>> {
        let sql = format!("{SELECT_CREDENTIAL} WHERE c.name = $1");
        let row = self.db.fetch_optional(&sql, args![name.as_str()]).await?;
        row.as_ref().map(credential_from_row).transpose()
    }

    /// Remove a credential no live instance uses; returns false when there
    /// is none of that name. Removed instances that named it let go of it.
    pub async fn remove(&self, name: &CredentialName) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let users = tx
            .fetch_all(
                "SELECT name FROM instances WHERE credential_name = $1 AND deleted_at IS NULL \
                 ORDER BY name LIMIT 10",
                args![name.as_str()],
            )
            .await?;
        if !users.is_empty() {
            let names: Vec<String> = users.iter().map(|r| r.get("name")).collect::<Result<_>>()?;
            return Err(Error::Conflict(format!(
                "credential `{name}` is used by {}; point them at another credential first",
                names.join(", ")
            )));
        }
        tx.execute(
            "UPDATE instances SET credential_name = NULL WHERE credential_name = $1",
            args![name.as_str()],
        )
        .await?;
        let removed = tx
            .execute(
                "DELETE FROM credentials WHERE name = $1",
                args![name.as_str()],
            )
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }
}

fn same(stored: &Credential, new: &NewCredential) -> bool {
    stored.username == new.username
        && stored.password == new.password
        && stored.managed == new.managed
}

fn credential_from_row(row: &Row) -> Result<Credential> {
    let corrupt = |what: String| Error::Conflict(format!("corrupt credential row: {what}"));
    let name: String = row.get("name")?;
    let source: String = row.get("password_source")?;
    let reference: Option<String> = row.get("password_ref")?;
    Ok(Credential {
        name: CredentialName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
        username: row.get("username")?,
        password: PasswordRef::from_parts(&source, reference.as_deref())
            .map_err(|e| corrupt(e.to_string()))?,
        managed: row.get("managed")?,
        instances: row.int("instances")?,
    })
}
