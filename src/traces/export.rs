//! Where spans go: an OpenTelemetry layer under `tracing`, exporting over
//! OTLP/HTTP (protobuf) when `telemetry.otlp_endpoint` is set.
//!
//! The layer is installed even without an endpoint, so trace context still
//! flows: a job another system traced keeps its trace id through a worker
//! that exports nothing, and log lines carry trace ids either way. Without
//! an endpoint nothing starts a sampled trace, and a span whose parent was
//! sampled elsewhere is recorded and dropped (there is no exporter), so the
//! cost is the ids.
//!
//! Sampling is `ParentBased(TraceIdRatioBased(sample_ratio))`: a job's
//! trace is kept or dropped whole, decided once where it starts (the
//! dispatcher, or the system that asked) and followed by every process.
//! Spans leave in batches from a background thread; [`Traces::shutdown`]
//! sends what is left when the process stops.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::TelemetrySettings;

/// How long an export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The span provider of this process; shut it down to flush.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Send the spans not sent yet and stop the exporter; blocking, so
    /// called from a blocking thread.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            eprintln!("traces: could not send the last spans: {e}");
        }
    }
}

/// The OpenTelemetry layer for `service` (`dbfleet` or `dbfleet-worker`)
/// and its provider. Only dbfleet's own spans become OpenTelemetry spans,
/// at info and above whatever `log.level` says: tracing is not logging.
pub fn layer<S>(
    settings: &TelemetrySettings,
    service: &'static str,
) -> (impl Layer<S> + Send + Sync, Traces)
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let provider = provider(settings, service);
    let tracer = provider.tracer("dbfleet");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(Targets::new().with_target("dbfleet", LevelFilter::INFO));
    (layer, Traces { provider })
}

fn provider(settings: &TelemetrySettings, service: &'static str) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder().with_resource(resource(service));
    let Some(endpoint) = &settings.otlp_endpoint else {
        return builder
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .build();
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build();
    let sampler = Sampler::TraceIdRatioBased(settings.sample_ratio);
    let builder = builder.with_sampler(Sampler::ParentBased(Box::new(sampler)));
    match exporter {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(e) => {
            // Checked when the configuration loads; reported, not fatal.
            eprintln!("traces: no exporter ({e}); spans are not sent");
            builder.build()
        }
    }
}

/// `telemetry.otlp_endpoint` is the collector's base URL, as in
/// `OTEL_EXPORTER_OTLP_ENDPOINT`; traces go to its `/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Who is sending: the service, its version, the host, and in Kubernetes
/// the pod (`POD_NAME`, or `HOSTNAME`, which is the pod's name there).
fn resource(service: &'static str) -> Resource {
    let mut attributes = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
    if let Some(host) = &host {
        attributes.push(KeyValue::new("host.name", host.clone()));
    }
    let pod = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty());
    if let Some(pod) = pod.or(host.filter(|_| in_kubernetes())) {
        attributes.push(KeyValue::new("k8s.pod.name", pod));
    }
    if let Some(namespace) = std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
    {
        attributes.push(KeyValue::new("k8s.namespace.name", namespace));
    }
    Resource::builder()
        .with_service_name(service)
        .with_attributes(attributes)
        .build()
}

fn in_kubernetes() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_a_base_url_like_the_standard_variable() {
        for (endpoint, url) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("http://c/otlp", "http://c/otlp/v1/traces"),
        ] {
            assert_eq!(traces_url(endpoint), url);
        }
    }
}
