#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Message contract v1: golden fixtures, JSON Schemas and the Rust types must
//! agree in both directions (decode and encode), for the envelope and for
//! every kind. No services needed.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dbfleet::domain::{BatchId, InstanceId, JobId};
use dbfleet::domain::{DbType, InstanceName};
use dbfleet::message::aggregate::{self, PeriodType};
use dbfleet::message::capacity_sync::{InventoryCounts, Output as CapacityOutput};
use dbfleet::message::data_sync;
use dbfleet::message::probe::{Flavor, Output as ProbeOutput, Privilege};
use dbfleet::message::table_sizes;
use dbfleet::message::{
    capacity_sync, probe, DecodeError, ErrorClass, InstanceDetails, InstanceRef, JobError, JobKind,
    JobMessage, JobOutput, JobParams, JobResult, JobStatus, Target, Warning, JOB_SCHEMA,
    RESULT_SCHEMA,
};
use dbfleet::secret::PasswordRef;
use serde_json::{json, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = root().join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

fn schema_value(name: &str) -> Value {
    let path = root().join("schemas").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

/// Resolves `https://dbfleet.dev/schemas/…` references to the files under
/// `schemas/`, as a producer's validator would be set up to.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri
            .as_str()
            .strip_prefix("https://dbfleet.dev/schemas/")
            .ok_or_else(|| format!("not a dbfleet schema: {uri}"))?;
        Ok(schema_value(path))
    }
}

fn validator(name: &str) -> jsonschema::Validator {
    let schema = schema_value(name);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .with_retriever(LocalSchemas)
        .build(&schema)
        .unwrap_or_else(|e| panic!("compile {name}: {e}"))
}

fn job_validator() -> jsonschema::Validator {
    validator("job.v1.schema.json")
}

fn result_validator() -> jsonschema::Validator {
    validator("result.v1.schema.json")
}

/// The schema's validation errors for `instance`, as readable lines.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} (at `{}`)", e.instance_path()))
        .collect()
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors = violations(validator, instance);
    assert!(
        errors.is_empty(),
        "{what} violates its schema: {errors:#?}\n{instance:#}"
    );
}

fn assert_invalid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    assert!(
        !violations(validator, instance).is_empty(),
        "{what} should violate its schema:\n{instance:#}"
    );
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::milliseconds(ms)
}

fn encoded(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("encode() produces JSON")
}

fn on(id: i64) -> Target {
    Target::Instance(InstanceRef::Id(InstanceId(id)))
}

fn capacity() -> JobParams {
    JobParams::CapacitySync(capacity_sync::Params {})
}

/// The capacity output a result carries, or a panic naming what it carries.
fn capacity_output(result: &JobResult) -> CapacityOutput {
    match &result.output {
        Some(JobOutput::CapacitySync(output)) => output.clone(),
        other => panic!("not a capacity output: {other:?}"),
    }
}

/// Every error class; the exhaustive match breaks the build when a class is
/// added, so the schema's enum and this list cannot silently drift apart.
fn all_error_classes() -> Vec<ErrorClass> {
    let all = vec![
        ErrorClass::Connect,
        ErrorClass::Auth,
        ErrorClass::Query,
        ErrorClass::Permission,
        ErrorClass::Timeout,
        ErrorClass::Unsupported,
        ErrorClass::Config,
        ErrorClass::Internal,
    ];
    for class in &all {
        match class {
            ErrorClass::Connect
            | ErrorClass::Auth
            | ErrorClass::Query
            | ErrorClass::Permission
            | ErrorClass::Timeout
            | ErrorClass::Unsupported
            | ErrorClass::Config
            | ErrorClass::Internal => {}
        }
    }
    all
}

// ---------------------------------------------------------------------------
// The canonical messages, built in Rust
// ---------------------------------------------------------------------------

fn canonical_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f3a2-6c1e-7b42-9d3a-5e8f1c2b4a70")),
        batch_id: Some(BatchId(uuid("0191f3a2-6b9d-7e10-8c45-2a7d9e3f1b06"))),
        target: on(42),
        details: None,
        params: capacity(),
        deadline: at(2026, 3, 14, 2, 15, 0, 0),
        requested_by: None,
        enqueued_at: at(2026, 3, 14, 2, 0, 0, 125),
        attempt: 1,
    }
}

fn standalone_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f4b0-0d2c-7a88-b1e7-3c6d0f9a8e15")),
        batch_id: None,
        target: on(7),
        details: None,
        params: capacity(),
        deadline: at(2026, 3, 14, 9, 40, 0, 0),
        requested_by: Some("ops-portal:jdoe".to_string()),
        enqueued_at: at(2026, 3, 14, 9, 30, 0, 0),
        attempt: 1,
    }
}

fn succeeded_result() -> JobResult {
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f3a2-6c1e-7b42-9d3a-5e8f1c2b4a70")),
        batch_id: BatchId(uuid("0191f3a2-6b9d-7e10-8c45-2a7d9e3f1b06")),
        instance_id: Some(InstanceId(42)),
        target: "orders-db".to_string(),
        requested_by: None,
        kind: JobKind::CapacitySync,
        status: JobStatus::Succeeded,
        error: None,
        warnings: Vec::new(),
        output: Some(JobOutput::CapacitySync(CapacityOutput {
            databases: 18,
            records: 18,
            total_size_mb: 254_813,
            inventory: InventoryCounts {
                created: 2,
                refreshed: 15,
                reactivated: 1,
                deactivated: 3,
                unseen: 0,
                partial: false,
            },
            unmeasured: 0,
            unmeasured_databases: Vec::new(),
            inventory_grant: None,
            server_identity: None,
        })),
        started_at: at(2026, 3, 14, 2, 0, 1, 250),
        finished_at: at(2026, 3, 14, 2, 0, 4, 875),
        attempt: 1,
        worker: "dbfleet-worker-7c9d8f6b5-x2kqp".to_string(),
    }
}

fn failed_result() -> JobResult {
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f4b0-0d2c-7a88-b1e7-3c6d0f9a8e15")),
        batch_id: BatchId(uuid("0191f4b0-0d2c-7a88-b1e7-3c6d0f9a8e15")),
        instance_id: Some(InstanceId(7)),
        target: "pg-reporting-03".to_string(),
        requested_by: Some("ops-portal:jdoe".to_string()),
        kind: JobKind::CapacitySync,
        status: JobStatus::Failed,
        error: Some(JobError {
            class: ErrorClass::Connect,
            message: "connection refused: pg-reporting-03.db.internal:5432".to_string(),
        }),
        warnings: Vec::new(),
        output: None,
        started_at: at(2026, 3, 14, 9, 30, 2, 0),
        finished_at: at(2026, 3, 14, 9, 30, 12, 0),
        attempt: 2,
        worker: "dbfleet-worker-7c9d8f6b5-m4tzr".to_string(),
    }
}

fn probe_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e0-1a2b-7c3d-8e4f-5a6b7c8d9e01")),
        batch_id: Some(BatchId(uuid("0191f7e0-1a00-7000-8000-00000000b0b0"))),
        target: on(42),
        details: Some(InstanceDetails {
            tls: Some(dbfleet::tls::TlsSettings {
                mode: dbfleet::tls::TlsMode::VerifyFull,
                ca_file: Some("/etc/dbfleet/tls/reports-ca.pem".into()),
                cert_file: None,
                key_file: None,
            }),
            name: InstanceName::parse("reports-pg").unwrap(),
            engine: DbType::Postgresql,
            host: "pg-reporting-03.db.internal".to_string(),
            port: 5432,
            database: None,
            username: "mon".to_string(),
            auth: PasswordRef::Env("REPORTS_PG_PASSWORD".to_string()),
            cluster: Some("reporting".to_string()),
        }),
        params: JobParams::Probe(probe::Params {}),
        deadline: at(2026, 3, 14, 2, 15, 0, 0),
        requested_by: Some("jdoe".to_string()),
        enqueued_at: at(2026, 3, 14, 2, 0, 0, 0),
        attempt: 1,
    }
}

fn job_by_name() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e1-3c4d-7e5f-9a6b-7c8d9e0f1a22")),
        batch_id: None,
        target: Target::Instance(InstanceRef::Name(InstanceName::parse("orders-db").unwrap())),
        details: None,
        params: capacity(),
        deadline: at(2026, 3, 14, 9, 40, 0, 0),
        requested_by: Some("maintenance-runner".to_string()),
        enqueued_at: at(2026, 3, 14, 9, 30, 0, 0),
        attempt: 1,
    }
}

fn privilege(name: &str, database: Option<&str>, granted: bool, required: bool) -> Privilege {
    let (needed_for, grant) = match database {
        Some(db) => (
            "size this database with pg_database_size".to_string(),
            format!("GRANT CONNECT ON DATABASE \"{db}\" TO \"mon\";"),
        ),
        None => (
            "size every database with pg_database_size".to_string(),
            "GRANT pg_read_all_stats TO \"mon\";".to_string(),
        ),
    };
    Privilege {
        privilege: name.to_string(),
        database: database.map(str::to_string),
        granted,
        required,
        needed_for,
        grant,
    }
}

fn probe_result() -> JobResult {
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e0-1a2b-7c3d-8e4f-5a6b7c8d9e01")),
        batch_id: BatchId(uuid("0191f7e0-1a00-7000-8000-00000000b0b0")),
        kind: JobKind::Probe,
        instance_id: Some(InstanceId(42)),
        target: "reports-pg".to_string(),
        requested_by: Some("jdoe".to_string()),
        status: JobStatus::Succeeded,
        error: None,
        warnings: vec![Warning {
            code: "missing_grant".to_string(),
            message: "missing CONNECT on database `ledger`, needed to size this database \
                      with pg_database_size: GRANT CONNECT ON DATABASE \"ledger\" TO \"mon\"; \
                      (or, for every database at once: GRANT pg_read_all_stats TO \"mon\";)"
                .to_string(),
        }],
        output: Some(JobOutput::Probe(ProbeOutput {
            flavor: Flavor::Postgresql,
            version: "15.19 (Debian 15.19-0+deb12u1)".to_string(),
            uptime_seconds: Some(86_400),
            read_only: false,
            account: "mon".to_string(),
            server_identity: Some(
                "system_identifier:7713698516551915648/1773453600000000@5432".into(),
            ),
            privileges: vec![
                privilege("pg_read_all_stats", None, false, false),
                privilege("CONNECT", Some("ledger"), false, true),
                privilege("CONNECT", Some("shop"), true, true),
            ],
            security: Some(probe::Security {
                tls_mode: "verify-full".to_string(),
                encrypted: true,
                tls_version: Some("TLSv1.3".to_string()),
                cipher: Some("TLS_AES_256_GCM_SHA384".to_string()),
                certificate_verified: true,
                host_verified: true,
            }),
        })),
        started_at: at(2026, 3, 14, 2, 0, 1, 0),
        finished_at: at(2026, 3, 14, 2, 0, 1, 400),
        attempt: 1,
        worker: "dbfleet-worker-7c9d8f6b5-x2kqp".to_string(),
    }
}

fn table_sizes_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c63")),
        batch_id: Some(BatchId(uuid("0191f7e2-5e00-7000-8000-00000000c0c0"))),
        target: on(7),
        details: None,
        params: JobParams::TableSizes(table_sizes::Params {
            database: Some("shop".to_string()),
            top: Some(20),
            instance_top: Some(200),
            budget_seconds: None,
        }),
        deadline: at(2026, 3, 14, 3, 10, 0, 0),
        requested_by: Some("scheduler".to_string()),
        enqueued_at: at(2026, 3, 14, 3, 0, 0, 0),
        attempt: 1,
    }
}

fn table_sizes_result() -> JobResult {
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c63")),
        batch_id: BatchId(uuid("0191f7e2-5e00-7000-8000-00000000c0c0")),
        kind: JobKind::TableSizes,
        instance_id: Some(InstanceId(7)),
        target: "orders-db".to_string(),
        requested_by: Some("scheduler".to_string()),
        status: JobStatus::Succeeded,
        error: None,
        warnings: vec![Warning {
            code: "not_read".to_string(),
            message: "the tables of `archive` were not read (lock timeout); \
                      its last snapshot stands"
                .to_string(),
        }],
        output: Some(JobOutput::TableSizes(table_sizes::Output {
            databases: 1,
            tables: 20,
            folded: 312,
            total_size_mb: 48_213,
            skipped: 1,
            skipped_databases: vec![table_sizes::SkippedDatabase {
                database: "archive".to_string(),
                reason: "lock timeout".to_string(),
            }],
        })),
        started_at: at(2026, 3, 14, 3, 0, 2, 0),
        finished_at: at(2026, 3, 14, 3, 0, 9, 250),
        attempt: 1,
        worker: "dbfleet-worker-7c9d8f6b5-x2kqp".to_string(),
    }
}

fn aggregate_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c71")),
        batch_id: Some(BatchId(uuid("0191f7e2-5e00-7000-8000-00000000a99a"))),
        target: on(7),
        details: None,
        params: JobParams::Aggregate(aggregate::Params {
            periods: Some(vec![PeriodType::Monthly, PeriodType::Quarterly]),
            current: false,
            date: Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()),
        }),
        deadline: at(2026, 4, 1, 1, 10, 0, 0),
        requested_by: Some("scheduler".to_string()),
        enqueued_at: at(2026, 4, 1, 1, 0, 0, 0),
        attempt: 1,
    }
}

fn aggregate_result() -> JobResult {
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    let period = |period, start, end, databases| aggregate::PeriodOutput {
        period,
        start,
        end,
        databases,
        instance_row: true,
    };
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c71")),
        batch_id: BatchId(uuid("0191f7e2-5e00-7000-8000-00000000a99a")),
        kind: JobKind::Aggregate,
        instance_id: Some(InstanceId(7)),
        target: "orders-db".to_string(),
        requested_by: Some("scheduler".to_string()),
        status: JobStatus::Succeeded,
        error: None,
        warnings: Vec::new(),
        output: Some(JobOutput::Aggregate(aggregate::Output {
            periods: vec![
                period(PeriodType::Monthly, day(3, 1), day(3, 31), 4),
                period(PeriodType::Quarterly, day(1, 1), day(3, 31), 5),
            ],
        })),
        started_at: at(2026, 4, 1, 1, 0, 2, 0),
        finished_at: at(2026, 4, 1, 1, 0, 2, 120),
        attempt: 1,
        worker: "dbfleet-worker-7c9d8f6b5-x2kqp".to_string(),
    }
}

fn data_sync_job() -> JobMessage {
    JobMessage {
        schema: JOB_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c81")),
        batch_id: Some(BatchId(uuid("0191f7e2-5e00-7000-8000-00000000a9aa"))),
        target: on(12),
        details: None,
        params: JobParams::DataSync(data_sync::Params {
            definition: "orders-backup".to_string(),
            database: Some("shop_copy".to_string()),
            mode: Some(dbfleet::sync::SyncMode::Incremental),
            ..Default::default()
        }),
        deadline: at(2026, 4, 1, 2, 10, 0, 0),
        requested_by: Some("maintenance-runner".to_string()),
        enqueued_at: at(2026, 4, 1, 2, 0, 0, 0),
        attempt: 1,
    }
}

fn data_sync_result() -> JobResult {
    JobResult {
        schema: RESULT_SCHEMA.to_string(),
        job_id: JobId(uuid("0191f7e2-5e6f-7a8b-9c0d-1e2f3a4b5c81")),
        batch_id: BatchId(uuid("0191f7e2-5e00-7000-8000-00000000a9aa")),
        kind: JobKind::DataSync,
        instance_id: Some(InstanceId(12)),
        target: "backup-pg".to_string(),
        requested_by: Some("maintenance-runner".to_string()),
        status: JobStatus::Succeeded,
        error: None,
        warnings: Vec::new(),
        output: Some(JobOutput::DataSync(data_sync::Output {
            definition: "orders-backup".to_string(),
            tables: vec![data_sync::TableRun {
                table: "orders".to_string(),
                target: "backup-pg/shop_copy".to_string(),
                mode: dbfleet::sync::SyncMode::Incremental,
                status: data_sync::RunStatus::Success,
                rows_read: 5120,
                rows_applied: 5119,
                rows_deleted: 0,
                position: Some(vec![
                    Some("2026-04-01 01:59:00.000000".to_string()),
                    Some("90211".to_string()),
                ]),
                verification: Some(data_sync::Verification {
                    chunks: 3,
                    matched: 3,
                    ..Default::default()
                }),
                error: None,
                permanent: false,
                rows_rejected: 1,
                rejected: vec![data_sync::Rejected {
                    key: vec![Some("90007".to_string())],
                    reason: "new row for relation \"orders\" violates check constraint \
                             \"orders_total_check\" (SQLSTATE 23514)"
                        .to_string(),
                }],
            }],
        })),
        started_at: at(2026, 4, 1, 2, 0, 1, 0),
        finished_at: at(2026, 4, 1, 2, 0, 4, 500),
        attempt: 1,
        worker: "dbfleet-worker-7c9d8f6b5-x2kqp".to_string(),
    }
}

/// The canonical messages of this build and their golden fixtures: each
/// decodes to its message and each message encodes to its fixture.
fn canonical_jobs() -> Vec<(&'static str, JobMessage)> {
    vec![
        ("job.v1.json", canonical_job()),
        ("job.v1.standalone.json", standalone_job()),
        ("job.probe.json", probe_job()),
        ("job.by-name.json", job_by_name()),
        ("job.table_sizes.json", table_sizes_job()),
        ("job.aggregate.json", aggregate_job()),
        ("job.data_sync.json", data_sync_job()),
    ]
}

fn canonical_results() -> Vec<(&'static str, JobResult)> {
    vec![
        ("result.capacity_sync.succeeded.json", succeeded_result()),
        ("result.capacity_sync.failed.json", failed_result()),
        ("result.probe.succeeded.json", probe_result()),
        ("result.table_sizes.succeeded.json", table_sizes_result()),
        ("result.aggregate.succeeded.json", aggregate_result()),
        ("result.data_sync.succeeded.json", data_sync_result()),
    ]
}

const JOB_FIXTURES: [&str; 8] = [
    "job.v1.json",
    "job.v1.standalone.json",
    "job.v1.extra-fields.json",
    "job.probe.json",
    "job.by-name.json",
    "job.table_sizes.json",
    "job.aggregate.json",
    "job.data_sync.json",
];
/// Results as the first v1 workers wrote them (`counters`), then as this
/// build writes them (`output`).
const RESULT_FIXTURES: [&str; 8] = [
    "result.v1.succeeded.json",
    "result.v1.failed.json",
    "result.capacity_sync.succeeded.json",
    "result.capacity_sync.failed.json",
    "result.probe.succeeded.json",
    "result.table_sizes.succeeded.json",
    "result.aggregate.succeeded.json",
    "result.data_sync.succeeded.json",
];

// ---------------------------------------------------------------------------
// Decode direction
// ---------------------------------------------------------------------------

#[test]
fn decodes_batch_job_fixture() {
    let job = JobMessage::decode(&fixture_bytes("job.v1.json")).unwrap();
    assert_eq!(job.schema, "dbfleet.job.v1");
    assert_eq!(
        job.job_id.to_string(),
        "0191f3a2-6c1e-7b42-9d3a-5e8f1c2b4a70"
    );
    assert_eq!(
        job.batch_id.map(|b| b.to_string()).as_deref(),
        Some("0191f3a2-6b9d-7e10-8c45-2a7d9e3f1b06")
    );
    assert_eq!(
        job.effective_batch_id().to_string(),
        "0191f3a2-6b9d-7e10-8c45-2a7d9e3f1b06"
    );
    assert_eq!(job.kind(), JobKind::CapacitySync);
    assert_eq!(job.target, on(42));
    assert_eq!(job.deadline.to_rfc3339(), "2026-03-14T02:15:00+00:00");
    assert_eq!(
        job.enqueued_at.to_rfc3339(),
        "2026-03-14T02:00:00.125+00:00"
    );
    assert_eq!(job.requested_by, None);
    assert_eq!(job, canonical_job());
}

#[test]
fn decodes_standalone_job_fixture() {
    let job = JobMessage::decode(&fixture_bytes("job.v1.standalone.json")).unwrap();
    assert_eq!(job.schema, "dbfleet.job.v1");
    assert_eq!(
        job.job_id.to_string(),
        "0191f4b0-0d2c-7a88-b1e7-3c6d0f9a8e15"
    );
    assert_eq!(job.batch_id, None);
    // A standalone job is its own batch of one.
    assert_eq!(job.effective_batch_id().0, job.job_id.0);
    assert_eq!(job.target, on(7));
    assert_eq!(job.requested_by.as_deref(), Some("ops-portal:jdoe"));
    assert_eq!(job.deadline.to_rfc3339(), "2026-03-14T09:40:00+00:00");
    assert_eq!(job.enqueued_at.to_rfc3339(), "2026-03-14T09:30:00+00:00");
    assert_eq!(job, standalone_job());
}

#[test]
fn decodes_minor_revision_and_ignores_unknown_fields() {
    let job = JobMessage::decode(&fixture_bytes("job.v1.extra-fields.json")).unwrap();
    assert_eq!(job.schema, "dbfleet.job.v1.3");
    assert_eq!(
        job.job_id.to_string(),
        "0191f5c7-2e40-7f31-a6b2-8d4e1f0c9b23"
    );
    assert_eq!(
        job.batch_id.map(|b| b.to_string()).as_deref(),
        Some("0191f5c7-2d11-7c05-9e8a-4b3f6a2d1c90")
    );
    assert_eq!(job.kind(), JobKind::CapacitySync);
    assert_eq!(job.target, on(1312));
    assert_eq!(job.requested_by.as_deref(), Some("scheduler"));
    assert_eq!(job.deadline, at(2026, 3, 15, 2, 15, 0, 0));
    assert_eq!(job.enqueued_at, at(2026, 3, 15, 2, 0, 0, 0));
    // The fixture does carry fields unknown to v1.
    let raw = fixture("job.v1.extra-fields.json");
    for extra in ["priority", "trace", "tags"] {
        assert!(
            raw.get(extra).is_some(),
            "fixture lacks extra field `{extra}`"
        );
    }
    // Re-encoding keeps the known fields only (and the revision it read).
    let reencoded = encoded(&job.encode());
    for extra in ["priority", "trace", "tags"] {
        assert!(
            reencoded.get(extra).is_none(),
            "`{extra}` survived re-encoding"
        );
    }
}

#[test]
fn decodes_succeeded_result_fixture() {
    let result = JobResult::decode(&fixture_bytes("result.v1.succeeded.json")).unwrap();
    assert_eq!(result.schema, "dbfleet.result.v1");
    assert_eq!(
        result.job_id.to_string(),
        "0191f3a2-6c1e-7b42-9d3a-5e8f1c2b4a70"
    );
    assert_eq!(
        result.batch_id.to_string(),
        "0191f3a2-6b9d-7e10-8c45-2a7d9e3f1b06"
    );
    assert_eq!(result.instance_id, Some(InstanceId(42)));
    assert_eq!(result.kind, JobKind::CapacitySync);
    assert_eq!(result.status, JobStatus::Succeeded);
    assert_eq!(result.error, None);
    let counters = capacity_output(&result);
    assert_eq!(counters.databases, 18);
    assert_eq!(counters.records, 18);
    assert_eq!(counters.total_size_mb, 254_813);
    assert_eq!(
        counters.inventory,
        InventoryCounts {
            created: 2,
            refreshed: 15,
            reactivated: 1,
            deactivated: 3,
            unseen: 0,
            partial: false,
        }
    );
    assert_eq!(
        result.started_at.to_rfc3339(),
        "2026-03-14T02:00:01.250+00:00"
    );
    assert_eq!(
        result.finished_at.to_rfc3339(),
        "2026-03-14T02:00:04.875+00:00"
    );
    assert_eq!(result.attempt, 1);
    assert_eq!(result.worker, "dbfleet-worker-7c9d8f6b5-x2kqp");
    // A v1 worker wrote no `target`; everything else is today's result.
    assert_eq!(
        result,
        JobResult {
            target: String::new(),
            ..succeeded_result()
        }
    );
}

#[test]
fn decodes_failed_result_fixture() {
    let result = JobResult::decode(&fixture_bytes("result.v1.failed.json")).unwrap();
    assert_eq!(result.schema, "dbfleet.result.v1");
    assert_eq!(
        result.job_id.to_string(),
        "0191f4b0-0d2c-7a88-b1e7-3c6d0f9a8e15"
    );
    // The result of a standalone job: its batch is keyed by the job id.
    assert_eq!(result.batch_id.0, result.job_id.0);
    assert_eq!(result.instance_id, Some(InstanceId(7)));
    assert_eq!(result.status, JobStatus::Failed);
    let error = result
        .error
        .clone()
        .expect("a failed result carries an error");
    assert_eq!(error.class, ErrorClass::Connect);
    assert_eq!(error.class.as_str(), "connect");
    assert_eq!(
        error.message,
        "connection refused: pg-reporting-03.db.internal:5432"
    );
    assert_eq!(capacity_output(&result), CapacityOutput::default());
    assert_eq!(result.attempt, 2);
    assert_eq!(result.worker, "dbfleet-worker-7c9d8f6b5-m4tzr");
    assert_eq!(result.started_at, at(2026, 3, 14, 9, 30, 2, 0));
    assert_eq!(result.finished_at, at(2026, 3, 14, 9, 30, 12, 0));
    // A v1 worker wrote zero counters and no `target` or `requested_by` on
    // a failure.
    assert_eq!(
        result,
        JobResult {
            target: String::new(),
            requested_by: None,
            output: Some(JobOutput::CapacitySync(CapacityOutput::default())),
            ..failed_result()
        }
    );
}

#[test]
fn rejects_unknown_major_version() {
    assert_eq!(
        JobMessage::decode(&fixture_bytes("job.v2.json")),
        Err(DecodeError::UnknownSchema("dbfleet.job.v2".to_string()))
    );
    // A result is not a job, and a job is not a result.
    assert!(matches!(
        JobMessage::decode(&fixture_bytes("result.v1.succeeded.json")),
        Err(DecodeError::UnknownSchema(_))
    ));
    assert!(matches!(
        JobResult::decode(&fixture_bytes("job.v1.json")),
        Err(DecodeError::UnknownSchema(_))
    ));
}

#[test]
fn result_error_and_counters_are_optional() {
    let mut raw = fixture("result.v1.succeeded.json");
    let obj = raw.as_object_mut().unwrap();
    obj.remove("error");
    obj.remove("counters");
    let result = JobResult::decode(&serde_json::to_vec(&raw).unwrap()).unwrap();
    assert_eq!(result.error, None);
    assert_eq!(result.output, None);
    assert_valid(&result_validator(), &raw, "result without error/counters");
}

// ---------------------------------------------------------------------------
// Encode direction
// ---------------------------------------------------------------------------

#[test]
fn encodes_canonical_fixtures_exactly() {
    let jobs = canonical_jobs()
        .into_iter()
        .map(|(name, job)| (name, job.encode()));
    let results = canonical_results()
        .into_iter()
        .map(|(name, result)| (name, result.encode()));
    for (name, bytes) in jobs.chain(results) {
        assert_eq!(
            encoded(&bytes),
            fixture(name),
            "encoding differs from fixture {name}"
        );
    }
}

#[test]
fn decodes_canonical_fixtures_exactly() {
    for (name, job) in canonical_jobs() {
        assert_eq!(
            JobMessage::decode(&fixture_bytes(name)).unwrap(),
            job,
            "{name}"
        );
    }
    for (name, result) in canonical_results() {
        assert_eq!(
            JobResult::decode(&fixture_bytes(name)).unwrap(),
            result,
            "{name}"
        );
    }
}

#[test]
fn encode_decode_round_trips() {
    for (_, job) in canonical_jobs() {
        assert_eq!(JobMessage::decode(&job.encode()).unwrap(), job);
    }
    for (_, result) in canonical_results() {
        assert_eq!(JobResult::decode(&result.encode()).unwrap(), result);
    }
}

/// Every kind this build knows has its schema and golden fixtures, so a new
/// kind cannot ship without them.
#[test]
fn every_kind_has_a_schema_and_fixtures() {
    for kind in JobKind::ALL {
        let name = format!("kinds/{kind}.schema.json");
        let schema = schema_value(&name);
        for def in ["job", "params", "output"] {
            assert!(
                schema["$defs"][def].is_object(),
                "{name} has no $defs/{def}"
            );
        }
        let jobs: Vec<_> = canonical_jobs()
            .into_iter()
            .filter(|(_, job)| job.kind() == *kind)
            .collect();
        let results: Vec<_> = canonical_results()
            .into_iter()
            .filter(|(_, result)| result.kind == *kind && result.output.is_some())
            .collect();
        assert!(!jobs.is_empty(), "no job fixture of kind {kind}");
        assert!(
            !results.is_empty(),
            "no succeeded result fixture of kind {kind}"
        );
    }
}

/// A result's output is checked against its kind's schema: a probe output
/// is not a capacity output.
#[test]
fn the_output_is_validated_by_its_kind() {
    let results = result_validator();
    let mut swapped = fixture("result.probe.succeeded.json");
    swapped["kind"] = json!("capacity_sync");
    assert_invalid(
        &results,
        &swapped,
        "a probe output under kind capacity_sync",
    );
    assert!(JobResult::decode(&serde_json::to_vec(&swapped).unwrap()).is_err());
    let mut incomplete = fixture("result.probe.succeeded.json");
    incomplete["output"]
        .as_object_mut()
        .unwrap()
        .remove("privileges");
    assert_invalid(&results, &incomplete, "a probe output without privileges");
    assert!(JobResult::decode(&serde_json::to_vec(&incomplete).unwrap()).is_err());
}

// ---------------------------------------------------------------------------
// JSON Schemas
// ---------------------------------------------------------------------------

#[test]
fn schemas_are_valid_draft_2020_12() {
    for name in ["job.v1.schema.json", "result.v1.schema.json"] {
        let schema = schema_value(name);
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not a valid 2020-12 schema: {e}");
        }
        assert_eq!(
            schema["$id"],
            json!(format!("https://dbfleet.dev/schemas/{name}")),
            "{name} $id"
        );
        assert_eq!(schema["additionalProperties"], json!(true), "{name}");
        for (field, spec) in schema["properties"].as_object().unwrap() {
            assert!(
                spec["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}: property `{field}` has no description"
            );
        }
    }
    for kind in JobKind::ALL {
        let name = format!("kinds/{kind}.schema.json");
        let schema = schema_value(&name);
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not a valid 2020-12 schema: {e}");
        }
        assert_eq!(
            schema["$id"],
            json!(format!("https://dbfleet.dev/schemas/{name}")),
            "{name} $id"
        );
        assert!(schema["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        let output = &schema["$defs"]["output"];
        for (field, spec) in output["properties"].as_object().unwrap() {
            assert!(
                spec["description"].as_str().is_some_and(|d| !d.is_empty())
                    || spec["$ref"].is_string(),
                "{name}: output field `{field}` has no description"
            );
        }
    }
}

#[test]
fn fixtures_validate_against_schemas() {
    let jobs = job_validator();
    for name in JOB_FIXTURES {
        assert_valid(&jobs, &fixture(name), name);
    }
    let results = result_validator();
    for name in RESULT_FIXTURES {
        assert_valid(&results, &fixture(name), name);
    }
    // The v2 job is not a v1 job.
    assert_invalid(&jobs, &fixture("job.v2.json"), "job.v2.json");
    // Nor is a result a job, or a job a result.
    assert_invalid(&jobs, &fixture("result.v1.succeeded.json"), "result as job");
    assert_invalid(&results, &fixture("job.v1.json"), "job as result");
}

#[test]
fn freshly_encoded_messages_validate() {
    let jobs = job_validator();
    let results = result_validator();

    let fresh_job = JobMessage::new(
        JobId::new(),
        Some(BatchId::new()),
        on(9_000_000_001),
        capacity(),
        Utc::now() + TimeDelta::minutes(15),
        Some("dbfleet dispatch".to_string()),
    );
    assert_valid(&jobs, &encoded(&fresh_job.encode()), "JobMessage::new");
    // A data sync names its definition: it has no job of default
    // parameters (its canonical job is checked below).
    for kind in JobKind::ALL.iter().filter(|k| **k != JobKind::DataSync) {
        let params = JobParams::default_for(*kind);
        let job = JobMessage::new(JobId::new(), None, on(3), params, Utc::now(), None);
        assert_valid(&jobs, &encoded(&job.encode()), kind.as_str());
    }
    let bare_job = JobMessage::new(JobId::new(), None, on(1), capacity(), Utc::now(), None);
    assert_valid(
        &jobs,
        &encoded(&bare_job.encode()),
        "JobMessage::new, no batch",
    );

    for (_, job) in canonical_jobs() {
        assert_valid(&jobs, &encoded(&job.encode()), "canonical job");
    }

    let started = Utc::now();
    for class in all_error_classes() {
        let result = JobResult {
            status: JobStatus::Failed,
            error: Some(JobError {
                class,
                message: format!("{} failure", class.as_str()),
            }),
            started_at: started,
            finished_at: started + TimeDelta::milliseconds(1_234),
            attempt: 3,
            ..failed_result()
        };
        let value = encoded(&result.encode());
        assert_eq!(value["error"]["class"], json!(class.as_str()));
        assert_eq!(ErrorClass::parse(class.as_str()), Some(class));
        assert_valid(&results, &value, class.as_str());
        assert_eq!(JobResult::decode(&result.encode()).unwrap(), result);
    }
    for (_, result) in canonical_results() {
        assert_valid(&results, &encoded(&result.encode()), "canonical result");
    }
}

#[test]
fn schema_enums_match_rust() {
    let result_schema = schema_value("result.v1.schema.json");
    let classes: Vec<&str> = all_error_classes().iter().map(|c| c.as_str()).collect();
    assert_eq!(
        result_schema["$defs"]["error"]["properties"]["class"]["enum"],
        json!(classes)
    );
    assert_eq!(
        result_schema["properties"]["status"]["enum"],
        json!([JobStatus::Succeeded.as_str(), JobStatus::Failed.as_str()])
    );
    let kinds: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    let kinds = json!(kinds);
    assert_eq!(result_schema["properties"]["kind"]["enum"], kinds);
    assert_eq!(
        schema_value("job.v1.schema.json")["properties"]["kind"]["enum"],
        kinds
    );

    // Values outside the enums are refused by both the schema and the decoder.
    let results = result_validator();
    let mut bad_class = fixture("result.v1.failed.json");
    bad_class["error"]["class"] = json!("network");
    assert_invalid(&results, &bad_class, "unknown error class");
    assert!(JobResult::decode(&serde_json::to_vec(&bad_class).unwrap()).is_err());

    let mut bad_status = fixture("result.v1.succeeded.json");
    bad_status["status"] = json!("running");
    assert_invalid(&results, &bad_status, "unknown status");
    assert!(JobResult::decode(&serde_json::to_vec(&bad_status).unwrap()).is_err());

    let jobs = job_validator();
    let mut bad_kind = fixture("job.v1.json");
    bad_kind["kind"] = json!("backup");
    assert_invalid(&jobs, &bad_kind, "unknown kind");
    assert_eq!(
        JobMessage::decode(&serde_json::to_vec(&bad_kind).unwrap()),
        Err(DecodeError::UnknownKind("backup".to_string()))
    );
}

/// Removing a field is refused by the schema exactly when the decoder refuses
/// it, so `required` in the schemas matches the Rust types.
#[test]
fn schema_required_fields_match_rust() {
    let jobs = job_validator();
    let job = fixture("job.v1.standalone.json");
    for field in job.as_object().unwrap().keys() {
        if field == "schema" {
            continue; // Its absence is a different error (MissingSchema).
        }
        let mut without = job.clone();
        without.as_object_mut().unwrap().remove(field);
        let decoded = JobMessage::decode(&serde_json::to_vec(&without).unwrap());
        let schema_ok = violations(&jobs, &without).is_empty();
        assert_eq!(
            decoded.is_ok(),
            schema_ok,
            "job without `{field}`: decode {decoded:?}, schema valid {schema_ok}"
        );
    }

    let results = result_validator();
    let result = fixture("result.v1.failed.json");
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (field, value) in result.as_object().unwrap() {
        paths.push(vec![field.clone()]);
        if let Some(inner) = value.as_object() {
            for (sub, subvalue) in inner {
                paths.push(vec![field.clone(), sub.clone()]);
                if let Some(inner2) = subvalue.as_object() {
                    for sub2 in inner2.keys() {
                        paths.push(vec![field.clone(), sub.clone(), sub2.clone()]);
                    }
                }
            }
        }
    }
    for path in paths {
        if path == ["schema"] {
            continue;
        }
        let mut without = result.clone();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut without;
        for p in parents {
            node = &mut node[p.as_str()];
        }
        node.as_object_mut().unwrap().remove(last);
        let decoded = JobResult::decode(&serde_json::to_vec(&without).unwrap());
        let schema_ok = violations(&results, &without).is_empty();
        assert_eq!(
            decoded.is_ok(),
            schema_ok,
            "result without `{}`: decode {decoded:?}, schema valid {schema_ok}",
            path.join(".")
        );
    }

    // `error` may be null or an object, nothing else.
    let mut bad_error = fixture("result.v1.failed.json");
    bad_error["error"] = json!("connection refused");
    assert_invalid(&results, &bad_error, "error as a string");
    assert!(JobResult::decode(&serde_json::to_vec(&bad_error).unwrap()).is_err());
}

#[test]
fn schema_checks_formats_and_version_pattern() {
    let jobs = job_validator();
    let results = result_validator();

    let mut bad_uuid = fixture("job.v1.json");
    bad_uuid["job_id"] = json!("job-42");
    assert_invalid(&jobs, &bad_uuid, "non-UUID job_id");
    assert!(JobMessage::decode(&serde_json::to_vec(&bad_uuid).unwrap()).is_err());

    let mut bad_time = fixture("job.v1.json");
    bad_time["deadline"] = json!("tomorrow");
    assert_invalid(&jobs, &bad_time, "non-date-time deadline");
    assert!(JobMessage::decode(&serde_json::to_vec(&bad_time).unwrap()).is_err());

    let mut bad_instance = fixture("job.v1.json");
    bad_instance["instance_id"] = json!("42");
    assert_invalid(&jobs, &bad_instance, "string instance_id");
    assert!(JobMessage::decode(&serde_json::to_vec(&bad_instance).unwrap()).is_err());

    let mut negative_count = fixture("result.v1.succeeded.json");
    negative_count["counters"]["inventory"]["created"] = json!(-1);
    assert_invalid(&results, &negative_count, "negative count");
    assert!(JobResult::decode(&serde_json::to_vec(&negative_count).unwrap()).is_err());

    for (schema, ok) in [
        ("dbfleet.job.v1", true),
        ("dbfleet.job.v1.0", true),
        ("dbfleet.job.v1.12", true),
        ("dbfleet.job.v2", false),
        ("dbfleet.job.v10", false),
        ("dbfleet.job.v1x", false),
        ("dbfleet.result.v1", false),
        ("xdbfleet.job.v1", false),
    ] {
        let mut job = fixture("job.v1.json");
        job["schema"] = json!(schema);
        assert_eq!(violations(&jobs, &job).is_empty(), ok, "schema `{schema}`");
        let decoded = JobMessage::decode(&serde_json::to_vec(&job).unwrap());
        assert_eq!(decoded.is_ok(), ok, "decode `{schema}`: {decoded:?}");
    }
    for (schema, ok) in [
        ("dbfleet.result.v1", true),
        ("dbfleet.result.v1.4", true),
        ("dbfleet.result.v2", false),
        ("dbfleet.job.v1", false),
    ] {
        let mut result = fixture("result.v1.succeeded.json");
        result["schema"] = json!(schema);
        assert_eq!(
            violations(&results, &result).is_empty(),
            ok,
            "schema `{schema}`"
        );
        let decoded = JobResult::decode(&serde_json::to_vec(&result).unwrap());
        assert_eq!(decoded.is_ok(), ok, "decode `{schema}`: {decoded:?}");
    }
}

// ---------------------------------------------------------------------------
// No secrets on the wire
// ---------------------------------------------------------------------------

const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "apikey",
    "private_key",
];

/// Panics if any key, or any string value, in `value` looks like it carries a
/// secret: a key naming one, a `word=`/`word:` assignment, or a URL with
/// credentials in its user-info part.
fn assert_no_secrets(value: &Value, path: &str, what: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let lower = key.to_ascii_lowercase();
                for word in SECRET_WORDS {
                    assert!(
                        !lower.contains(word),
                        "{what}: key `{path}.{key}` looks like a secret"
                    );
                }
                assert_no_secrets(inner, &format!("{path}.{key}"), what);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                assert_no_secrets(inner, &format!("{path}[{i}]"), what);
            }
        }
        Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            for word in SECRET_WORDS {
                for sep in ["=", ":"] {
                    assert!(
                        !lower.contains(&format!("{word}{sep}")),
                        "{what}: value at `{path}` looks like it carries a secret: {s:?}"
                    );
                }
            }
            // scheme://user:pass@host
            if let Some((_, rest)) = lower.split_once("://") {
                let authority = rest.split('/').next().unwrap_or_default();
                if let Some((userinfo, _)) = authority.split_once('@') {
                    assert!(
                        !userinfo.contains(':'),
                        "{what}: value at `{path}` is a URL with credentials: {s:?}"
                    );
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[test]
fn the_secret_check_catches_secrets() {
    for bad in [
        json!({"db_password": "x"}),
        json!({"auth": {"Token": "x"}}),
        json!({"error": {"message": "login failed: password=hunter2"}}),
        json!({"dsn": "postgres://app:hunter2@db:5432/app"}),
    ] {
        let caught = std::panic::catch_unwind(|| assert_no_secrets(&bad, "$", "probe")).is_err();
        assert!(caught, "not flagged: {bad}");
    }
    assert_no_secrets(
        &json!({"message": "auth failed for user app at postgres://db:5432/app"}),
        "$",
        "probe",
    );
}

#[test]
fn no_message_carries_a_secret() {
    let mut messages: Vec<(String, Value)> = Vec::new();
    for (_, job) in canonical_jobs() {
        messages.push(("encoded job".to_string(), encoded(&job.encode())));
    }
    for (_, result) in canonical_results() {
        messages.push(("encoded result".to_string(), encoded(&result.encode())));
    }
    for class in all_error_classes() {
        let result = JobResult {
            error: Some(JobError {
                class,
                message: format!("{} failure", class.as_str()),
            }),
            ..failed_result()
        };
        messages.push((
            format!("encoded {class:?} result"),
            encoded(&result.encode()),
        ));
    }
    for name in JOB_FIXTURES
        .iter()
        .chain(RESULT_FIXTURES.iter())
        .chain(["job.v2.json"].iter())
    {
        messages.push(((*name).to_string(), fixture(name)));
    }
    for (what, value) in &messages {
        assert_no_secrets(value, "$", what);
    }
}
