//! Toxiproxy's Prometheus metrics: `-proxy-metrics` for the bytes each proxy received and sent per
//! direction, `-runtime-metrics` for the process. Names and labels are Toxiproxy's
//! (`collectors/proxy.go`, METRICS.md); the Go runtime's own `go_*` series have no equivalent in
//! a Rust process and are not invented.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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
    pub fn counters(&self, direction: &'static str, proxy: &str, listener: &str, upstream: &str) -> (Counter, Counter) {
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

/// The standard `process_*` series (those of Prometheus' process collector, which Toxiproxy's
/// `-runtime-metrics` includes), read from `/proc/self` at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(process) = ProcessStats::read() else { return Ok(()) };
        let mut counter = |name: &str, help: &str, unit: Option<&Unit>, value: f64| -> std::fmt::Result {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
        };
        counter(
            "process_cpu",
            "Total user and system CPU time spent in seconds",
            Some(&Unit::Seconds),
            process.cpu_seconds,
        )?;
        let mut gauge = |name: &str, help: &str, unit: Option<&Unit>, value: f64| -> std::fmt::Result {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
        };
        gauge("process_resident_memory", "Resident memory size in bytes", Some(&Unit::Bytes), process.resident_bytes)?;
        gauge("process_virtual_memory", "Virtual memory size in bytes", Some(&Unit::Bytes), process.virtual_bytes)?;
        gauge("process_open_fds", "Number of open file descriptors", None, process.open_fds)?;
        gauge("process_max_fds", "Maximum number of open file descriptors", None, process.max_fds)?;
        gauge(
            "process_start_time",
            "Start time of the process since unix epoch in seconds",
            Some(&Unit::Seconds),
            process.start_time_seconds,
        )?;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    open_fds: f64,
    max_fds: f64,
    start_time_seconds: f64,
}

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
        let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok());
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kilobytes = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kb| kb * 1024.0)
        };
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime ").and_then(|value| value.trim().parse::<f64>().ok()))?;
        let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<f64>().ok())
        });
        Some(Self {
            // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; starttime 22.
            cpu_seconds: (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND,
            resident_bytes: kilobytes("VmRSS:").unwrap_or_default(),
            virtual_bytes: kilobytes("VmSize:").unwrap_or_default(),
            open_fds: std::fs::read_dir("/proc/self/fd").map(|entries| entries.count() as f64).unwrap_or_default(),
            max_fds: max_fds.unwrap_or_default(),
            start_time_seconds: boot_time + ticks(19)? / TICKS_PER_SECOND,
        })
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
