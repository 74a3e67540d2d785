//! The experiments `cargo run -p chaos` runs with no arguments, built into the binary so that it
//! finds them from any directory. The same files live in `chaos/experiments/`. All of them run
//! here: the ten take about two and a half minutes after the build on a 2-core machine, half the
//! five that the chaos workflow allows.

pub const DEFAULT_EXPERIMENTS: [(&str, &str); 10] = [
    ("chaos/experiments/partition.toml", include_str!("../experiments/partition.toml")),
    ("chaos/experiments/ip-filter.toml", include_str!("../experiments/ip-filter.toml")),
    ("chaos/experiments/blackhole.toml", include_str!("../experiments/blackhole.toml")),
    ("chaos/experiments/latency.toml", include_str!("../experiments/latency.toml")),
    ("chaos/experiments/redis-restart.toml", include_str!("../experiments/redis-restart.toml")),
    ("chaos/experiments/hang-up-burst.toml", include_str!("../experiments/hang-up-burst.toml")),
    ("chaos/experiments/slow-clients.toml", include_str!("../experiments/slow-clients.toml")),
    ("chaos/experiments/failover.toml", include_str!("../experiments/failover.toml")),
    ("chaos/experiments/primary-loss.toml", include_str!("../experiments/primary-loss.toml")),
    ("chaos/experiments/shard-filter.toml", include_str!("../experiments/shard-filter.toml")),
];
