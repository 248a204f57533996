//! `probe`: can dbfleet do its work on one instance?
//!
//! It connects with the instance's own settings and credentials, reads what
//! the server says about itself, lists the databases a capacity sync would
//! size (the filters applied), and checks every privilege dbfleet needs on
//! that engine. It writes nothing to the store, so it can vet a new
//! monitoring account before the first nightly run.
//!
//! Reaching the server is the job's success: a missing privilege is a
//! warning on a succeeded job, naming the statement that adds it, so one
//! `dbfleet instance check` lists every problem of the fleet at once.

use super::{Context, Failure, Job};
use crate::adapters::{self, Connection, ServerFlavor, TlsSession};
use crate::domain::DbType;
use crate::inventory;
use crate::message::probe::{Flavor, Output, Params, Privilege, Security};
use crate::message::Warning;
use crate::store::Tally;
use crate::tls::TlsMode;

/// PostgreSQL's predefined role that may size every database, in place of
/// `CONNECT` on each one.
const READ_ALL_STATS: &str = "pg_read_all_stats";

/// The `probe` kind.
pub struct Probe;

impl Job for Probe {
    type Params = Params;
    type Output = Output;

    /// The connection is closed whatever happens.
    async fn run(ctx: &Context<'_>, _params: &Params) -> Result<Output, Failure> {
        let mut connection = ctx.connect().await?;
        let outcome = ctx.remote("probe", examine(ctx, &mut connection)).await;
        connection.close().await;
        outcome
    }

    fn tally(output: &Output) -> Tally {
        let missing = output.missing().count();
        Tally::from_pairs([("missing_grants", i64::try_from(missing).unwrap_or(i64::MAX))])
    }

    fn empty_summary() -> Tally {
        Tally::from_pairs([("missing_grants", 0)])
    }

    fn warnings(output: &Output) -> Vec<Warning> {
        let alternative = output
            .privileges
            .iter()
            .find(|p| !p.required && !p.granted)
            .map(|p| p.grant.as_str());
        let mut warnings: Vec<Warning> = output
            .missing()
            .map(|p| missing_grant(p, alternative))
            .collect();
        warnings.extend(in_clear(output));
        warnings
    }
}

async fn examine(ctx: &Context<'_>, connection: &mut Connection) -> Result<Output, Failure> {
    let server = connection.server_info().await?;
    let session = connection.tls_session().await?;
    let listing = connection.fetch_inventory().await?;
    let targets = inventory::plan(ctx.instance.db_type, &[], &listing, ctx.filters).active;
    let checks = connection.privileges(&targets).await?;
    Ok(Output {
        flavor: flavor(server.flavor),
        version: server.version,
        uptime_seconds: server.uptime_seconds,
        read_only: server.read_only,
        account: server.account,
        server_identity: server.identity,
        privileges: checks.into_iter().map(privilege).collect(),
        security: Some(security(
            ctx.instance.db_type,
            ctx.instance.tls.mode,
            session,
        )),
    })
}

/// What the session's TLS amounts to. Verification follows from the mode:
/// a handshake under `verify-ca` or `verify-full` only succeeds with a
/// certificate that passed those checks.
fn security(engine: DbType, mode: TlsMode, session: Option<TlsSession>) -> Security {
    let encrypted = session.is_some();
    let (tls_version, cipher) = match session {
        Some(s) => (Some(s.version), Some(s.cipher).filter(|c| !c.is_empty())),
        None => (None, None),
    };
    Security {
        tls_mode: mode.name(engine).to_string(),
        encrypted,
        tls_version,
        cipher,
        certificate_verified: encrypted && mode.verifies_certificate(),
        host_verified: encrypted && mode == TlsMode::VerifyFull,
    }
}

/// A connection in clear that the operator did not ask for: under
/// `prefer`, the server offered no TLS. `disable` is the operator's own
/// choice, shown in the output but not warned about.
fn in_clear(output: &Output) -> Option<Warning> {
    let security = output.security.as_ref()?;
    let chosen = matches!(security.tls_mode.as_str(), "disable" | "disabled");
    (!security.encrypted && !chosen).then(|| Warning {
        code: "tls_in_clear".to_string(),
        message: format!(
            "connected in clear (tls_mode `{}`): the server offered no TLS, so the password \
             and the data crossed the network unencrypted; enable TLS on the server and \
             require it here",
            security.tls_mode
        ),
    })
}

fn flavor(flavor: ServerFlavor) -> Flavor {
    match flavor {
        ServerFlavor::Mysql => Flavor::Mysql,
        ServerFlavor::Mariadb => Flavor::Mariadb,
        ServerFlavor::Postgresql => Flavor::Postgresql,
    }
}

fn privilege(check: adapters::PrivilegeCheck) -> Privilege {
    Privilege {
        required: check.privilege != READ_ALL_STATS,
        privilege: check.privilege,
        database: check.database,
        granted: check.granted,
        needed_for: check.needed_for,
        grant: check.grant,
    }
}

/// The warning for one missing privilege: what it is for and how to grant
/// it, and the one grant that would cover it with others, if there is one.
fn missing_grant(p: &Privilege, alternative: Option<&str>) -> Warning {
    let on = p
        .database
        .as_ref()
        .map(|d| format!(" on database `{d}`"))
        .unwrap_or_default();
    let mut message = format!(
        "missing {}{on}, needed to {}: {}",
        p.privilege, p.needed_for, p.grant
    );
    if let Some(all) = alternative {
        message.push_str(&format!(" (or, for every database at once: {all})"));
    }
    Warning {
        code: "missing_grant".to_string(),
        message,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::message::JobOutput;

    fn check(name: &str, database: Option<&str>, granted: bool) -> Privilege {
        privilege(adapters::PrivilegeCheck {
            privilege: name.to_string(),
            database: database.map(str::to_string),
            granted,
            needed_for: "size it".to_string(),
            grant: format!("GRANT {name};"),
        })
    }

    fn output(privileges: Vec<Privilege>) -> Output {
        Output {
            flavor: Flavor::Postgresql,
            version: "15.19".to_string(),
            uptime_seconds: Some(10),
            read_only: false,
            account: "mon".to_string(),
            server_identity: None,
            privileges,
            security: None,
        }
    }

    pub fn sample_output() -> JobOutput {
        JobOutput::Probe(output(vec![check("CONNECT", Some("a"), true)]))
    }

    #[test]
    fn each_missing_required_privilege_is_one_warning() {
        let out = output(vec![
            check("CONNECT", Some("locked"), false),
            check("CONNECT", Some("open"), true),
            check(READ_ALL_STATS, None, false),
        ]);
        let warnings = Probe::warnings(&out);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "missing_grant");
        let text = &warnings[0].message;
        assert!(text.contains("CONNECT on database `locked`"), "{text}");
        assert!(text.contains("GRANT CONNECT;"), "{text}");
        assert!(text.contains("GRANT pg_read_all_stats;"), "{text}");
        assert_eq!(Probe::tally(&out).get("missing_grants"), 1);
    }

    #[test]
    fn an_unused_alternative_is_not_a_problem() {
        let out = output(vec![
            check("CONNECT", Some("open"), true),
            check(READ_ALL_STATS, None, false),
        ]);
        assert!(Probe::warnings(&out).is_empty());
        assert_eq!(Probe::tally(&out).get("missing_grants"), 0);
        let mysql = output(vec![
            check("PROCESS", None, false),
            check("SHOW DATABASES", None, false),
        ]);
        assert_eq!(Probe::warnings(&mysql).len(), 2);
    }

    #[test]
    fn security_follows_the_session_and_the_mode() {
        let tls = || {
            Some(TlsSession {
                version: "TLSv1.3".into(),
                cipher: "TLS_AES_256_GCM_SHA384".into(),
            })
        };
        let full = security(DbType::Mysql, TlsMode::VerifyFull, tls());
        assert_eq!(full.tls_mode, "verify_identity");
        assert!(full.encrypted && full.certificate_verified && full.host_verified);
        let ca = security(DbType::Postgresql, TlsMode::VerifyCa, tls());
        assert!(ca.certificate_verified && !ca.host_verified);
        let required = security(DbType::Postgresql, TlsMode::Require, tls());
        assert!(required.encrypted && !required.certificate_verified);
        assert_eq!(required.tls_version.as_deref(), Some("TLSv1.3"));
    }

    #[test]
    fn clear_is_a_warning_unless_the_operator_chose_it() {
        let mut out = output(vec![]);
        out.security = Some(security(DbType::Mysql, TlsMode::Prefer, None));
        let warnings = Probe::warnings(&out);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, "tls_in_clear");
        assert!(warnings[0].message.contains("`preferred`"), "{warnings:?}");
        assert_eq!(Probe::tally(&out).get("missing_grants"), 0);
        out.security = Some(security(DbType::Mysql, TlsMode::Disable, None));
        assert!(Probe::warnings(&out).is_empty());
    }
}
