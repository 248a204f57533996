use super::*;

fn job(schema: &str) -> String {
    format!(
        r#"{{"schema":"{schema}","job_id":"0190d7a0-0000-7000-8000-000000000001","kind":"capacity_sync","instance_id":1,"deadline":"2026-01-01T00:00:00Z","enqueued_at":"2026-01-01T00:00:00Z"}}"#
    )
}

fn on(id: i64) -> Target {
    Target::Instance(InstanceRef::Id(InstanceId(id)))
}

#[test]
fn rejects_other_major_versions_and_families() {
    assert!(JobMessage::decode(job("dbfleet.job.v1").as_bytes()).is_ok());
    assert!(JobMessage::decode(job("dbfleet.job.v1.3").as_bytes()).is_ok());
    for bad in [
        "dbfleet.job.v2",
        "dbfleet.result.v1",
        "dbfleet.job.v10",
        "dbfleet.job.v1.",
        "dbfleet.job.v1.beta",
        "x",
    ] {
        assert_eq!(
            JobMessage::decode(job(bad).as_bytes()),
            Err(DecodeError::UnknownSchema(bad.to_string())),
        );
    }
    assert_eq!(JobMessage::decode(b"{}"), Err(DecodeError::MissingSchema));
    assert!(matches!(
        JobMessage::decode(b"\xff"),
        Err(DecodeError::NotJson(_))
    ));
    let no_instance = job("dbfleet.job.v1").replace(r#""instance_id":1,"#, "");
    assert!(matches!(
        JobMessage::decode(no_instance.as_bytes()),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn a_v1_job_is_a_capacity_sync_without_params() {
    let decoded = JobMessage::decode(job("dbfleet.job.v1").as_bytes()).unwrap();
    assert_eq!(decoded.kind(), JobKind::CapacitySync);
    assert_eq!(decoded.target, on(1));
    assert_eq!(
        decoded.params,
        JobParams::CapacitySync(capacity_sync::Params {})
    );
    // Written back, it is the same v1 message: no `params` appears.
    let again: serde_json::Value = serde_json::from_slice(&decoded.encode()).unwrap();
    let original: serde_json::Value = serde_json::from_str(&job("dbfleet.job.v1")).unwrap();
    assert_eq!(again, original);
}

#[test]
fn unknown_kinds_are_told_apart_from_bad_messages() {
    let future = job("dbfleet.job.v1").replace("capacity_sync", "table_sizes_v9");
    assert_eq!(
        JobMessage::decode(future.as_bytes()),
        Err(DecodeError::UnknownKind("table_sizes_v9".into()))
    );
    let no_kind = job("dbfleet.job.v1").replace(r#""kind":"capacity_sync","#, "");
    assert!(matches!(
        JobMessage::decode(no_kind.as_bytes()),
        Err(DecodeError::Invalid(_))
    ));
    let bad_params =
        job("dbfleet.job.v1").replace(r#""instance_id":1"#, r#""instance_id":1,"params":[1]"#);
    assert!(matches!(
        JobMessage::decode(bad_params.as_bytes()),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn a_job_may_name_its_instance() {
    let by_name = job("dbfleet.job.v1").replace(r#""instance_id":1"#, r#""instance":"orders-db""#);
    let decoded = JobMessage::decode(by_name.as_bytes()).unwrap();
    let name = InstanceName::parse("orders-db").unwrap();
    assert_eq!(decoded.target, Target::Instance(InstanceRef::Name(name)));
    assert_eq!(decoded.target.instance_id(), None);
    assert_eq!(JobMessage::decode(&decoded.encode()).unwrap(), decoded);
}

#[test]
fn every_kind_round_trips() {
    for kind in JobKind::ALL {
        assert_eq!(JobKind::parse(kind.as_str()), Some(*kind));
        let given = match kind {
            JobKind::DataSync => serde_json::json!({ "definition": "orders" }),
            _ => serde_json::json!({}),
        };
        let params = JobParams::from_json(*kind, given).unwrap();
        let job = JobMessage::new(JobId::new(), None, on(5), params, Utc::now(), None);
        assert_eq!(job.kind(), *kind);
        assert_eq!(JobMessage::decode(&job.encode()).unwrap(), job);
    }
}

#[test]
fn standalone_job_is_its_own_batch() {
    let params = JobParams::Probe(probe::Params {});
    let job = JobMessage::new(JobId::new(), None, on(3), params, Utc::now(), None);
    assert_eq!(job.effective_batch_id().0, job.job_id.0);
}

#[test]
fn a_v1_result_carries_its_counters_as_output() {
    let v1 = r#"{"schema":"dbfleet.result.v1","job_id":"0190d7a0-0000-7000-8000-000000000001",
        "batch_id":"0190d7a0-0000-7000-8000-000000000001","instance_id":7,"kind":"capacity_sync",
        "status":"succeeded","error":null,
        "counters":{"databases":2,"records":2,"total_size_mb":30,
                    "inventory":{"created":1,"refreshed":1,"reactivated":0,"deactivated":0}},
        "started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z",
        "attempt":1,"worker":"w"}"#;
    let result = JobResult::decode(v1.as_bytes()).unwrap();
    let Some(JobOutput::CapacitySync(output)) = &result.output else {
        panic!("{result:?}")
    };
    assert_eq!((output.databases, output.total_size_mb), (2, 30));
    assert_eq!(result.instance_id, Some(InstanceId(7)));
    // Re-encoded, the counters travel as `output`.
    let again: serde_json::Value = serde_json::from_slice(&result.encode()).unwrap();
    assert!(again.get("counters").is_none());
    assert_eq!(again["output"]["records"], 2);
}

#[test]
fn failed_results_have_no_output_and_keep_the_target() {
    let params = JobParams::CapacitySync(capacity_sync::Params {});
    let job = JobMessage::new(JobId::new(), None, on(9), params, Utc::now(), None);
    let error = JobError::new(ErrorClass::Internal, "not published");
    let result = JobResult::failed(&job, error.clone(), 0, "dispatcher");
    assert_eq!(result.status, JobStatus::Failed);
    assert_eq!(result.output, None);
    assert_eq!(result.error, Some(error));
    assert_eq!(
        (result.instance_id, result.target.as_str()),
        (Some(InstanceId(9)), "instance id 9")
    );
    assert_eq!(JobResult::decode(&result.encode()).unwrap(), result);
}

/// Parameters left out (`null`, as a schedule, the API or `--params`
/// without a value give them) are every kind's defaults, as `{}` is.
#[test]
fn absent_params_are_the_kinds_defaults() {
    for kind in JobKind::ALL {
        for value in [serde_json::Value::Null, serde_json::json!({})] {
            let params = JobParams::from_json(*kind, value.clone());
            if *kind == JobKind::DataSync {
                // A data sync must name its definition: it has no defaults.
                let e = params.unwrap_err().to_string();
                assert!(e.contains("missing field `definition`"), "{e}");
                continue;
            }
            assert_eq!(
                params.ok(),
                Some(JobParams::default_for(*kind)),
                "{kind} from {value}"
            );
        }
    }
}

#[test]
fn settling_fixes_only_what_is_left_to_today() {
    use super::aggregate;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let open = JobParams::default_for(JobKind::Aggregate).settled(today);
    let JobParams::Aggregate(p) = &open else {
        unreachable!()
    };
    assert_eq!(p.date, Some(today));
    let backfill = aggregate::Params {
        date: chrono::NaiveDate::from_ymd_opt(2025, 1, 31),
        ..aggregate::Params::default()
    };
    let kept = JobParams::Aggregate(backfill.clone()).settled(today);
    assert_eq!(kept, JobParams::Aggregate(backfill));
    let probe = JobParams::default_for(JobKind::Probe);
    assert_eq!(probe.clone().settled(today), probe);
}

#[test]
fn data_syncs_of_different_definitions_do_not_overlap() {
    let orders = JobParams::DataSync(data_sync::Params {
        definition: "orders".to_string(),
        ..Default::default()
    });
    let running =
        |definition: &str| serde_json::json!({ "definition": definition, "mode": "full" });
    assert!(orders.overlaps(Some(&running("orders"))));
    assert!(!orders.overlaps(Some(&running("items"))));
    assert!(!orders.overlaps(None));
    let capacity = JobParams::default_for(JobKind::CapacitySync);
    assert!(capacity.overlaps(None));
    assert!(capacity.overlaps(Some(&running("orders"))));
}
