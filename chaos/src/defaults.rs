//! The experiments `cargo run -p chaos` runs with no arguments, built into the binary so that it
//! finds them from any directory. The same files live in `chaos/experiments/`.

pub const DEFAULT_EXPERIMENTS: [(&str, &str); 7] = [
    ("chaos/experiments/partition.toml", include_str!("../experiments/partition.toml")),
    ("chaos/experiments/ip-filter.toml", include_str!("../experiments/ip-filter.toml")),
    ("chaos/experiments/blackhole.toml", include_str!("../experiments/blackhole.toml")),
    ("chaos/experiments/latency.toml", include_str!("../experiments/latency.toml")),
    ("chaos/experiments/redis-restart.toml", include_str!("../experiments/redis-restart.toml")),
    ("chaos/experiments/hang-up-burst.toml", include_str!("../experiments/hang-up-burst.toml")),
    ("chaos/experiments/slow-clients.toml", include_str!("../experiments/slow-clients.toml")),
];
