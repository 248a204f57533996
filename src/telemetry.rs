//! Logging set-up shared by both programs: pretty or JSON lines on stderr,
//! filtered by `log.level` (or `RUST_LOG` when set to a filter that passes
//! the same check).
//!
//! - `log.level` is checked when the configuration loads
//!   ([`check_filter`]): a `tracing` filter reads an unknown word such as
//!   `loud` as a *target* and then logs nothing at all, which no one means.
//! - Some libraries' lines are quiet unless the filter names them
//!   ([`QUIET`]): PostgreSQL notices (`relation … already exists,
//!   skipping` on every migrate) and lapin, whose own error lines repeat
//!   what dbfleet reports where it handles the error.
//! - Pretty lines carry colour only on a terminal, so a log file or a pipe
//!   gets plain text.
//! - Spans also go to [`crate::traces`], whatever the log level.
//! - JSON lines carry the fields of the current span and of every span
//!   around it, so a job's fields (set on its span) reach every line the
//!   job logs.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Directive;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};
use crate::traces::export::Traces;

/// Targets logged only at these levels unless the filter names them.
pub const QUIET: [(&str, &str); 2] = [("sqlx::postgres::notice", "warn"), ("lapin", "off")];

/// The levels a directive may name.
const LEVELS: &str = "trace, debug, info, warn, error, off";

/// Install the global subscriber for `service` (`dbfleet` or
/// `dbfleet-worker`): log lines on stderr, and the spans that make up each
/// job's trace ([`crate::traces`]); a second call installs nothing. Shut
/// the returned [`Traces`] down before the process exits, so the last spans
/// are sent.
pub fn init(log: &LogSettings, telemetry: &TelemetrySettings, service: &'static str) -> Traces {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|env| check_filter(env).is_ok())
        .unwrap_or_else(|| log.level.clone());
    let (traces_layer, traces) = crate::traces::export::layer(telemetry, service);
    let lines = match log.format {
        LogFormat::Json => json(std::io::stderr).boxed(),
        LogFormat::Pretty => pretty(std::io::stderr, std::io::stderr().is_terminal()).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter(&directives)))
        .with(traces_layer)
        .try_init();
    traces
}

/// `directives`, plus [`QUIET`] for each target they do not name.
pub fn filter(directives: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    for (target, level) in QUIET {
        if !directives.contains(target) {
            if let Ok(directive) = format!("{target}={level}").parse::<Directive>() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

fn json<W>(writer: W) -> impl Layer<Registry> + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .json()
        .with_current_span(true)
        .with_span_list(true)
}

fn pretty<W>(writer: W, ansi: bool) -> impl Layer<Registry> + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
}

/// Check a `log.level` value: each comma-separated directive is a level
/// (`info`), `target=level` (`dbfleet=debug`), or a span directive
/// (`dbfleet[job]=debug`). The problem names the first bad directive.
pub fn check_filter(directives: &str) -> Result<(), String> {
    for directive in directives.split(',') {
        check_directive(directive).map_err(|problem| format!("`{directive}`: {problem}"))?;
    }
    EnvFilter::try_new(directives)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn check_directive(directive: &str) -> Result<(), String> {
    if directive.is_empty() {
        return Err("an empty directive (two commas in a row?)".to_string());
    }
    if directive.trim() != directive {
        return Err("spaces around a directive are not allowed".to_string());
    }
    if directive.contains('[') {
        return directive
            .parse::<Directive>()
            .map(drop)
            .map_err(|e| format!("not a span directive: {e}"));
    }
    let (target, level) = match directive.rsplit_once('=') {
        Some((target, level)) => (Some(target), level),
        None => (None, directive),
    };
    if target.is_some_and(|t| t.trim().is_empty()) {
        return Err("no target before `=`".to_string());
    }
    match level.trim().parse::<LevelFilter>() {
        Ok(_) => Ok(()),
        Err(_) if target.is_some() => Err(format!("`{level}` is not a level ({LEVELS})")),
        Err(_) => Err(format!("neither a level ({LEVELS}) nor `target=level`")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn filters_are_levels_or_target_level_directives() {
        for good in [
            "info",
            "WARN",
            "off",
            "dbfleet=debug,info",
            "dbfleet::fleet=trace,sqlx=warn",
            "dbfleet[job]=debug",
            "[job{kind=probe}]=trace",
        ] {
            assert_eq!(check_filter(good), Ok(()), "{good}");
        }
        let cases = [
            ("loud", "`loud`: neither a level"),
            ("info,loud", "`loud`: neither a level"),
            ("dbfleet", "`dbfleet`: neither a level"),
            ("dbfleet=loud", "`dbfleet=loud`: `loud` is not a level"),
            ("=debug", "`=debug`: no target before `=`"),
            ("info,,debug", "``: an empty directive"),
            ("info, sqlx=warn", "` sqlx=warn`: spaces around"),
            (
                "dbfleet[job=debug",
                "`dbfleet[job=debug`: not a span directive",
            ),
        ];
        for (bad, problem) in cases {
            let found = check_filter(bad).unwrap_err();
            assert!(found.starts_with(problem), "{bad}: {found}");
        }
    }

    #[test]
    fn quiet_targets_stay_quiet_unless_named() {
        let shown = filter("info").to_string();
        assert!(shown.contains("sqlx::postgres::notice=warn"), "{shown}");
        assert!(shown.contains("lapin=off"), "{shown}");
        let named = filter("info,lapin=warn").to_string();
        assert!(
            named.contains("lapin=warn") && !named.contains("lapin=off"),
            "{named}"
        );
    }

    /// A writer into a shared buffer, for the subscribers under test.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn log_in_a_job_span(lines: impl Layer<Registry> + Send + Sync) {
        let subscriber = tracing_subscriber::registry().with(lines.with_filter(filter("info")));
        tracing::subscriber::with_default(subscriber, || {
            let batch = tracing::info_span!("batch", batch_id = "b-1");
            let _batch = batch.enter();
            let job = tracing::info_span!("job", job_id = "j-7", kind = "probe");
            let _job = job.enter();
            tracing::info!("connected");
        });
    }

    #[test]
    fn json_lines_carry_the_fields_of_every_enclosing_span() {
        let out = Capture::default();
        let writer = out.clone();
        log_in_a_job_span(json(move || writer.clone()));
        let line: serde_json::Value = serde_json::from_str(out.text().trim()).unwrap();
        assert_eq!(line["fields"]["message"], "connected");
        assert_eq!(line["span"]["job_id"], "j-7");
        assert_eq!(line["span"]["kind"], "probe");
        assert_eq!(line["spans"][0]["batch_id"], "b-1");
        assert_eq!(line["spans"][1]["job_id"], "j-7");
    }

    #[test]
    fn pretty_lines_are_plain_text_off_a_terminal() {
        let plain = Capture::default();
        let writer = plain.clone();
        log_in_a_job_span(pretty(move || writer.clone(), false));
        assert!(plain.text().contains("connected"), "{}", plain.text());
        assert!(!plain.text().contains('\u{1b}'), "{:?}", plain.text());

        let coloured = Capture::default();
        let writer = coloured.clone();
        log_in_a_job_span(pretty(move || writer.clone(), true));
        assert!(coloured.text().contains('\u{1b}'));
    }
}
