//! The experiments `cargo run -p chaos` runs with no arguments, built into the binary so that it
//! finds them from any directory. They are the files of `chaos/experiments/`, in the order they
//! run: each name is written once, and gives both the path shown and the file embedded. All of
//! them run here: the ten take about two and a half minutes after the build on a 2-core machine,
//! half the five that the chaos workflow allows.

/// The experiments of `chaos/experiments/`, as `(path, text)`, from the names given.
macro_rules! experiments {
    ($($name:literal),+ $(,)?) => {
        [$((concat!("chaos/experiments/", $name, ".toml"), include_str!(concat!("../experiments/", $name, ".toml")))),+]
    };
}

pub const DEFAULT_EXPERIMENTS: [(&str, &str); 10] = experiments![
    "partition",
    "ip-filter",
    "blackhole",
    "latency",
    "redis-restart",
    "hang-up-burst",
    "slow-clients",
    "failover",
    "primary-loss",
    "shard-filter",
];
