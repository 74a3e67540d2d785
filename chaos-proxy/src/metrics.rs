//! Toxiproxy's Prometheus metrics: `-proxy-metrics` for the bytes each proxy received and sent per
//! direction, `-runtime-metrics` for the process. Names and labels are Toxiproxy's
//! (`collectors/proxy.go`, METRICS.md); the Go runtime's own `go_*` series have no equivalent in
//! a Rust process and are not invented.

use process_metrics::ProcessCollector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};

/// Labels in Toxiproxy's order, which is also the alphabetical order Prometheus prints them in.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyLabels {
    direction: &'static str,
    listener: String,
    proxy: String,
    upstream: String,
}

/// `toxiproxy_proxy_received_bytes_total` and `toxiproxy_proxy_sent_bytes_total`.
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    received: Family<ProxyLabels, Counter>,
    sent: Family<ProxyLabels, Counter>,
}

impl ProxyMetrics {
    /// The received and sent counters of one direction of one proxy.
    pub(crate) fn counters(
        &self,
        direction: &'static str,
        proxy: &str,
        listener: &str,
        upstream: &str,
    ) -> (Counter, Counter) {
        let labels = ProxyLabels {
            direction,
            listener: listener.to_owned(),
            proxy: proxy.to_owned(),
            upstream: upstream.to_owned(),
        };
        (self.received.get_or_create(&labels).clone(), self.sent.get_or_create(&labels).clone())
    }
}

/// Which metrics the server exports, from `-proxy-metrics` and `-runtime-metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub proxies: Option<std::sync::Arc<ProxyMetrics>>,
}

impl Metrics {
    /// `None` when neither flag is on: Toxiproxy then has no `/metrics` route at all.
    pub fn new(proxy_metrics: bool, runtime_metrics: bool) -> Option<Self> {
        if !proxy_metrics && !runtime_metrics {
            return None;
        }
        let mut registry = Registry::default();
        let proxies = proxy_metrics.then(|| {
            let metrics = std::sync::Arc::new(ProxyMetrics::default());
            let toxiproxy = registry.sub_registry_with_prefix("toxiproxy").sub_registry_with_prefix("proxy");
            toxiproxy.register_with_unit(
                "received",
                "The total number of bytes received on a proxy link in a direction",
                Unit::Bytes,
                metrics.received.clone(),
            );
            toxiproxy.register_with_unit(
                "sent",
                "The total number of bytes sent on a proxy link in a direction",
                Unit::Bytes,
                metrics.sent.clone(),
            );
            metrics
        });
        if runtime_metrics {
            registry.register_collector(Box::new(ProcessCollector));
        }
        Some(Self { registry, proxies })
    }

    /// The scrape, in the OpenMetrics text format that Prometheus reads.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Prometheus' content type for what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_metrics_have_toxiproxys_names_and_labels() {
        let metrics = Metrics::new(true, false).unwrap();
        let (received, sent) =
            metrics.proxies.as_ref().unwrap().counters("upstream", "redis", "127.0.0.1:6380", "redis:6379");
        received.inc_by(5);
        sent.inc_by(3);
        let text = metrics.encode();
        let labels = r#"{direction="upstream",listener="127.0.0.1:6380",proxy="redis",upstream="redis:6379"}"#;
        assert!(text.contains(&format!("toxiproxy_proxy_received_bytes_total{labels} 5")), "{text}");
        assert!(text.contains(&format!("toxiproxy_proxy_sent_bytes_total{labels} 3")), "{text}");
        assert!(!text.contains("process_"), "{text}");
    }

    #[test]
    fn runtime_metrics_describe_this_process() {
        let text = Metrics::new(false, true).unwrap().encode();
        for series in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }

    #[test]
    fn without_either_flag_there_are_no_metrics() {
        assert!(Metrics::new(false, false).is_none());
    }
}
