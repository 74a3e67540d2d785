//! The standard `process_*` series of Prometheus' process collector (CPU, resident and virtual
//! memory, file descriptors, start time), read from `/proc/self` at each scrape, for
//! prometheus-client registries. On systems without `/proc` the collector reports nothing.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// The standard `process_*` series (those of Prometheus' process collector, which Toxiproxy's
/// `-runtime-metrics` includes), read from `/proc/self` at each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

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

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: f64,
    pub start_time_seconds: f64,
}

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    /// This process's figures, or `None` where `/proc` cannot tell.
    pub(crate) fn read() -> Option<Self> {
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

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn the_collector_writes_the_standard_process_series() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
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
    fn this_process_has_resident_memory() {
        assert!(ProcessStats::read().is_some_and(|stats| stats.resident_bytes > 0.0));
    }
}
