//! Building [`Settings`] from the root section: one function per section,
//! each reading its keys with their defaults, then checking what spans
//! several keys (a job's timeouts must fit inside its deadline).
//!
//! The declared instances are built by `instances.rs`.

use std::path::PathBuf;
use std::time::Duration;

use super::instances::{credentials, instances};
use super::section::Section;
use super::tls::{broker_tls, default_tls_mode};
use super::{
    AggregatorSettings, ApiSettings, BatchSettings, BrokerSettings, FilterSettings, JobSettings,
    LogFormat, LogSettings, Settings, StoreSettings, TelemetrySettings, WorkerSettings,
};
use crate::message::JobKind;

/// Build the whole [`Settings`] from the root section.
pub(super) fn build_settings(root: &mut Section<'_>) -> Settings {
    let instance_tls_mode = root.section("instance_defaults", default_tls_mode);
    let timezone = timezone(root);
    let capacity = root.section("capacity", super::capacity::capacity);
    let default_table_sizes = capacity.table_sizes_schedule;
    let mut schedules = super::schedules::schedules(root, timezone, default_table_sizes);
    let syncs = super::syncs::syncs(root);
    for cadence in super::syncs::cadence_schedules(&syncs, timezone) {
        if schedules.iter().any(|s| s.name == cadence.name) {
            let problem = format!("`{}` is the name of a sync's cadence", cadence.name);
            root.error("schedules", &problem);
        }
        schedules.push(cadence);
    }
    Settings {
        store: root.section("store", store),
        broker: root.section("broker", broker),
        worker: root.section("worker", worker),
        job: JobSettings {
            kind_deadlines: root.section("jobs", kind_deadlines),
            ..root.section("job", job)
        },
        batch: root.section("batch", batch),
        aggregator: root.section("aggregator", aggregator),
        timezone,
        filters: root.section("filters", filters),
        log: root.section("log", log),
        telemetry: root.section("telemetry", telemetry),
        api: root.section("api", api),
        retention: root.section("retention", super::retention::retention),
        schedules,
        capacity,
        alerts: root.section("alerts", super::alerts::alerts),
        syncs,
        data_dir: PathBuf::from(root.string_or("data_dir", "data")),
        credentials: credentials(root),
        instances: instances(root, instance_tls_mode),
        instance_tls_mode,
    }
}

/// The URL is optional: without it the store is SQLite under `data_dir`.
fn store(s: &mut Section<'_>) -> StoreSettings {
    StoreSettings {
        url: s.url(
            "url",
            store_scheme,
            "postgres://… or sqlite:…",
            crate::store::validate_url,
        ),
        max_connections: s.int_in("max_connections", 1..=1000, 10),
    }
}

fn store_scheme(url: &str) -> bool {
    ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// `memory://` is the in-process broker; it takes no host or options.
fn broker_scheme(url: &str) -> bool {
    url == "memory://" || url.starts_with("amqp://") || url.starts_with("amqps://")
}

/// The URL is optional: without it the queue is in-process.
fn broker(s: &mut Section<'_>) -> BrokerSettings {
    let url = s.url(
        "url",
        broker_scheme,
        "amqp://…, amqps://… or memory://",
        crate::broker::validate_url,
    );
    BrokerSettings {
        url,
        prefix: prefix(s),
        delivery_limit: s.int_in("delivery_limit", 1..=1000, 5),
        retry_delays: s.durations(
            "retry_delays",
            &DEFAULT_RETRY_DELAYS,
            Duration::from_secs(1),
        ),
        tls: s.section("tls", broker_tls),
    }
}

/// Delays between retries of a job that hit a transient failure.
const DEFAULT_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];
/// The broker name prefix: it becomes part of exchange and queue names, so it
/// is kept to characters that every broker and every shell accepts.
fn prefix(s: &mut Section<'_>) -> String {
    let prefix = s.string_or("prefix", "dbfleet");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if prefix.chars().count() > 64 || !prefix.chars().all(allowed) {
        let problem = format!("`{prefix}` must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        s.error("prefix", &problem);
    }
    prefix
}

fn worker(s: &mut Section<'_>) -> WorkerSettings {
    let concurrency: u16 = s.int_in("concurrency", 1..=1024, 4);
    let prefetch = s.int_in("prefetch", 1..=u16::MAX, concurrency.saturating_mul(2));
    if s.is_valid("prefetch") && s.is_valid("concurrency") && prefetch < concurrency {
        let problem =
            format!("must be at least `worker.concurrency` ({concurrency}), or job slots sit idle");
        s.error("prefetch", &problem);
    }
    let name = s.string("name");
    if name.as_deref() == Some("") {
        s.error(
            "name",
            "must not be empty; remove the key to use the host name",
        );
    }
    let drain_timeout = s.duration(
        "drain_timeout",
        Duration::from_secs(30),
        Duration::from_millis(1),
    );
    let zone = s.non_empty_string("zone").and_then(|zone| {
        crate::labels::Labels::new([(crate::labels::ZONE, zone.as_str())])
            .map_err(|problems| s.error("zone", &problems.join("; ")))
            .ok()
            .map(|_| zone)
    });
    WorkerSettings {
        concurrency,
        prefetch,
        name,
        drain_timeout,
        zone,
        interactive_slots: s.int_in("interactive_slots", 1..=64, 1),
    }
}

/// Job time budgets. The connect and statement timeouts must fit inside the
/// job's deadline (counted from its start), else it could never finish.
fn job(s: &mut Section<'_>) -> JobSettings {
    let second = Duration::from_secs(1);
    let millisecond = Duration::from_millis(1);
    let settings = JobSettings {
        deadline: s.duration("deadline", Duration::from_secs(600), second),
        connect_timeout: s.duration("connect_timeout", Duration::from_secs(20), millisecond),
        statement_timeout: s.duration("statement_timeout", Duration::from_secs(300), millisecond),
        lock_timeout: s.duration("lock_timeout", Duration::from_secs(10), millisecond),
        max_per_host: s.int_in("max_per_host", 0..=10_000, 0),
        kind_deadlines: Vec::new(),
    };
    let inner = [
        ("connect_timeout", settings.connect_timeout),
        ("statement_timeout", settings.statement_timeout),
    ];
    for (key, value) in inner {
        // Comparing against a defaulted stand-in would only confuse.
        let both_valid = s.is_valid(key) && s.is_valid("deadline");
        if both_valid && value >= settings.deadline {
            let problem = format!(
                "must be shorter than `job.deadline` ({} is not shorter than {})",
                humantime::format_duration(value),
                humantime::format_duration(settings.deadline)
            );
            s.error(key, &problem);
        }
    }
    settings
}

/// `jobs:`: per kind, its own budget (`jobs.data_sync.deadline: 12h`).
fn kind_deadlines(s: &mut Section<'_>) -> Vec<(JobKind, Duration)> {
    let mut deadlines = Vec::new();
    for kind in JobKind::ALL {
        let deadline = s.section(kind.as_str(), |k| {
            let set = k.map.contains_key("deadline");
            let deadline = k.duration("deadline", Duration::ZERO, Duration::from_secs(1));
            set.then_some(deadline)
        });
        deadlines.extend(deadline.map(|d| (*kind, d)));
    }
    deadlines
}

/// A batch's bound: jobs not started by then fail, whatever their budget.
fn batch(s: &mut Section<'_>) -> BatchSettings {
    let six_hours = Duration::from_secs(6 * 3600);
    BatchSettings {
        deadline: s.duration("deadline", six_hours, Duration::from_secs(1)),
    }
}

fn aggregator(s: &mut Section<'_>) -> AggregatorSettings {
    AggregatorSettings {
        prefetch: s.int_in("prefetch", 1..=2000, 100),
        // Zero would make the sweeper spin.
        sweep_interval: s.duration(
            "sweep_interval",
            Duration::from_secs(15),
            Duration::from_secs(1),
        ),
    }
}

fn timezone(root: &mut Section<'_>) -> chrono_tz::Tz {
    let name = root.string_or("timezone", "UTC");
    name.parse().unwrap_or_else(|_| {
        root.error("timezone", &format!("unknown time zone `{name}`"));
        chrono_tz::Tz::UTC
    })
}

fn filters(s: &mut Section<'_>) -> FilterSettings {
    FilterSettings {
        path: PathBuf::from(s.string_or("path", "config/database_filters.yaml")),
    }
}

fn telemetry(s: &mut Section<'_>) -> TelemetrySettings {
    let metrics_addr = s.non_empty_string("metrics_addr").and_then(|raw| {
        raw.parse()
            .map_err(|_| {
                let problem = format!("expected an address such as `0.0.0.0:9464`, found `{raw}`");
                s.error("metrics_addr", &problem);
            })
            .ok()
    });
    TelemetrySettings {
        metrics_addr,
        otlp_endpoint: otlp_endpoint(s),
        sample_ratio: s.fraction_or("sample_ratio", 1.0),
    }
}

/// An `http://` base URL: spans go to a collector next to the process (a
/// sidecar or the node's agent), which forwards them on over TLS.
fn otlp_endpoint(s: &mut Section<'_>) -> Option<String> {
    let raw = s.non_empty_string("otlp_endpoint")?;
    let problem = match raw.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() && !rest.starts_with('/') => return Some(raw),
        Some(("https", _)) => "https is not supported; send to a collector over http (a sidecar or the node's agent) and let it forward over TLS",
        _ => "expected an OTLP/HTTP base URL such as `http://otel-collector:4318`",
    };
    s.error("otlp_endpoint", problem);
    None
}

/// The API is off unless enabled, and enabled only with a token reference:
/// an API that anyone may write to is never a default.
fn api(s: &mut Section<'_>) -> ApiSettings {
    let defaults = ApiSettings::default();
    let enabled = s.bool_or("enabled", defaults.enabled);
    let listen = s.non_empty_string("listen").and_then(|raw| {
        raw.parse()
            .map_err(|_| {
                let problem =
                    format!("expected an address such as `127.0.0.1:8080`, found `{raw}`");
                s.error("listen", &problem);
            })
            .ok()
    });
    let token = api_token(s);
    if enabled && token.is_none() && s.is_valid("token_env") && s.is_valid("token_file") {
        s.error(
            "enabled",
            "the API needs `api.token_env` or `api.token_file`",
        );
    }
    ApiSettings {
        enabled,
        listen: listen.unwrap_or(defaults.listen),
        token,
        read_requires_token: s.bool_or("read_requires_token", defaults.read_requires_token),
        body_limit: body_limit(s, defaults.body_limit),
    }
}

fn body_limit(s: &mut Section<'_>, default: usize) -> usize {
    let default = u32::try_from(default).unwrap_or(u32::MAX);
    let bytes = s.int_in("body_limit", 1024..=16 * 1024 * 1024, default);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// `token_env` (a variable's name) or `token_file` (a path), not both.
fn api_token(s: &mut Section<'_>) -> Option<crate::secret::PasswordRef> {
    let env = s.non_empty_string("token_env");
    let file = s.non_empty_string("token_file");
    match (env, file) {
        (Some(_), Some(_)) => {
            s.error("token_file", "give `token_env` or `token_file`, not both");
            None
        }
        (Some(var), None) => crate::secret::PasswordRef::env(&var)
            .map_err(|e| s.error("token_env", &e.to_string()))
            .ok(),
        (None, Some(path)) => Some(crate::secret::PasswordRef::File(PathBuf::from(path))),
        (None, None) => None,
    }
}

fn log(s: &mut Section<'_>) -> LogSettings {
    let format = match s.string_or("format", "pretty").as_str() {
        "pretty" => LogFormat::Pretty,
        "json" => LogFormat::Json,
        other => {
            let problem = format!("expected `pretty` or `json`, found `{other}`");
            s.error("format", &problem);
            LogFormat::Pretty
        }
    };
    let level = s.string_or("level", "info");
    // Checked here so a typo shows up in `config check`, not at start-up
    // as a filter that silently logs nothing.
    if let Err(problem) = crate::telemetry::check_filter(&level) {
        s.error("level", &format!("invalid log filter: {problem}"));
    }
    LogSettings { format, level }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::load_from_str;
    use crate::config::test_support::{errors, exposed, secs, SOURCE};
    use crate::config::ConfigErrors;
    use secrecy::ExposeSecret;

    #[test]
    fn each_kind_may_have_its_own_budget() {
        use crate::message::JobKind;
        let text =
            "job: {deadline: 15m}\njobs: {data_sync: {deadline: 12h}, probe: {deadline: 30s}}\n";
        let job = load_from_str(SOURCE, text, Vec::new()).unwrap().job;
        assert_eq!(job.deadline_of(JobKind::DataSync), secs(12 * 3600));
        assert_eq!(job.deadline_of(JobKind::Probe), secs(30));
        assert_eq!(job.deadline_of(JobKind::CapacitySync), secs(900));
        let defaults = load_from_str(SOURCE, "", Vec::new()).unwrap().job;
        assert_eq!(defaults.deadline_of(JobKind::DataSync), secs(6 * 3600));
        let problems: Vec<String> = errors(
            "jobs: {backup: {deadline: 1h}, probe: {deadline: 0s}}\n",
            vec![],
        )
        .iter()
        .map(|e| format!("{}: {}", e.key, e.problem))
        .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("jobs.backup: unknown key")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("jobs.probe.deadline:")),
            "{problems:?}"
        );
    }

    #[test]
    fn full_file_gives_every_value_as_written() {
        let text = "
store: {url: 'postgresql://u:p@db:5432/fleet', max_connections: 33}
broker: {url: 'amqps://b/vh', prefix: fleet-2.test_x, delivery_limit: 9}
worker: {concurrency: 12, name: w-7}
job: {deadline: 1h, connect_timeout: 45s, statement_timeout: 30m, lock_timeout: 2s}
aggregator: {prefetch: 250, sweep_interval: 1m 30s}
timezone: Asia/Shanghai
filters: {path: /etc/dbfleet/filters.yaml}
log: {format: json, level: 'dbfleet=debug,info'}
data_dir: /var/lib/dbfleet
";
        let s = load_from_str(SOURCE, text, vec![]).unwrap();
        assert_eq!(
            exposed(&s.store.url),
            Some("postgresql://u:p@db:5432/fleet")
        );
        assert_eq!(s.store.max_connections, 33);
        assert_eq!(exposed(&s.broker.url), Some("amqps://b/vh"));
        assert_eq!(s.broker.prefix, "fleet-2.test_x");
        assert_eq!(s.broker.delivery_limit, 9);
        assert_eq!(s.worker.concurrency, 12);
        assert_eq!(s.worker.name.as_deref(), Some("w-7"));
        assert_eq!(s.job.deadline, secs(3600));
        assert_eq!(s.job.connect_timeout, secs(45));
        assert_eq!(s.job.statement_timeout, secs(1800));
        assert_eq!(s.job.lock_timeout, secs(2));
        assert_eq!(s.aggregator.prefetch, 250);
        assert_eq!(s.aggregator.sweep_interval, secs(90));
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.filters.path, PathBuf::from("/etc/dbfleet/filters.yaml"));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.level, "dbfleet=debug,info");
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/dbfleet"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let texts = [
            "",
            "# nothing but a comment\n",
            "worker:\njob: ~\ninstances: ~\n",
            "store: {url: ~}\nbroker: {url: ~}\ninstances: []\ndata_dir: ~\n",
        ];
        for text in texts {
            let s = load_from_str(SOURCE, text, vec![]).unwrap();
            // No URL means the embedded store and the in-process queue.
            assert!(s.store.url.is_none(), "{text}");
            assert_eq!(s.store.max_connections, 10);
            assert!(s.broker.url.is_none(), "{text}");
            assert_eq!(s.broker.prefix, "dbfleet");
            assert_eq!(s.broker.delivery_limit, 5);
            assert_eq!(s.worker.concurrency, 4);
            assert_eq!(s.worker.name, None);
            assert_eq!(s.job.deadline, secs(600));
            assert_eq!(s.job.connect_timeout, secs(20));
            assert_eq!(s.job.statement_timeout, secs(300));
            assert_eq!(s.job.lock_timeout, secs(10));
            assert_eq!(s.aggregator.prefetch, 100);
            assert_eq!(s.aggregator.sweep_interval, secs(15));
            assert_eq!(s.timezone, chrono_tz::UTC);
            assert_eq!(
                s.filters.path,
                PathBuf::from("config/database_filters.yaml")
            );
            assert_eq!(s.log.format, LogFormat::Pretty);
            assert_eq!(s.log.level, "info");
            assert_eq!(s.data_dir, PathBuf::from("data"));
            assert!(s.instances.is_empty());
        }
    }

    #[test]
    fn a_deadline_error_hides_the_comparison_against_its_default() {
        // The defaulted deadline (10m) is not what the user wrote, so a 15m
        // statement timeout must not be reported against it.
        let found = errors("job: {deadline: soon, statement_timeout: 15m}", vec![]);
        let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["job.deadline"]);
    }

    #[test]
    fn the_api_is_off_by_default_and_never_on_without_a_token() {
        let settings = load_from_str(SOURCE, "{}", vec![]).unwrap();
        assert_eq!(settings.api, ApiSettings::default());
        let text = "api: {enabled: true, listen: '0.0.0.0:9000', token_env: API_TOKEN}";
        let settings = load_from_str(SOURCE, text, vec![]).unwrap();
        assert!(settings.api.enabled);
        assert_eq!(settings.api.listen.port(), 9000);
        let check = |text: &str, want: &[&str]| {
            let found = errors(text, vec![]);
            let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, want, "{text}");
        };
        check("api: {enabled: true}", &["api.enabled"]);
        check("api: {token_env: A, token_file: /t}", &["api.token_file"]);
        check(
            "api: {token_env: 'not a name', enabled: true}",
            &["api.token_env"],
        );
        check(
            "api: {listen: here, body_limit: 1}",
            &["api.listen", "api.body_limit"],
        );
        check("api: {tokn_env: A}", &["api.tokn_env"]);
    }

    #[test]
    fn url_schemes() {
        let cases = [
            ("store", "postgres://h/d", true),
            ("store", "postgresql://h/d", true),
            ("store", "sqlite:dbfleet.db", true),
            ("store", "mysql://h/d", false),
            ("broker", "amqp://h", true),
            ("broker", "amqps://h", true),
            ("broker", "memory://", true),
            ("broker", "memory://extra", false),
            ("broker", "http://h", false),
        ];
        for (section, url, accepted) in cases {
            let env = vec![(
                format!("DBFLEET__{}__URL", section.to_uppercase()),
                url.to_owned(),
            )];
            let result = load_from_str(SOURCE, "", env);
            assert_eq!(
                result.is_ok(),
                accepted,
                "{section}.url = {url}: {result:?}"
            );
            match result {
                Ok(s) => {
                    let got = if section == "store" {
                        s.store.url
                    } else {
                        s.broker.url
                    };
                    assert_eq!(got.as_ref().map(|u| u.expose_secret()), Some(url));
                }
                Err(ConfigErrors(found)) => {
                    let want = format!("unsupported {section} URL scheme; expected");
                    assert_eq!(found.len(), 1, "{found:#?}");
                    assert!(found[0].problem.starts_with(&want), "{}", found[0]);
                }
            }
        }
    }
}
