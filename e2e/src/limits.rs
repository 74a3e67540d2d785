//! The backend container's resource limits, as production sets them in `infra/compute.tf`.

/// Memory and CPU for a container, as Scaleway's Serverless Containers express them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLimits {
    /// `memory_limit`, in MiB.
    pub memory_mib: u64,
    /// `cpu_limit`, in thousandths of a vCPU.
    pub cpu_millis: u64,
}

impl ContainerLimits {
    /// `scaleway_container.backend` in `infra/compute.tf`; a test keeps the two equal.
    pub const PRODUCTION: Self = Self { memory_mib: 512, cpu_millis: 280 };

    /// For Docker's `Memory` (and `MemorySwap`, so that no swap hides a kill).
    pub fn memory_bytes(self) -> i64 {
        i64::try_from(self.memory_mib * 1024 * 1024).unwrap_or(i64::MAX)
    }

    /// For Docker's `NanoCpus`: a thousandth of a vCPU is a thousandth of one of this machine's
    /// cores, never more than the machine has (on a 2-core machine, 280 is 0.28 of a core).
    pub fn nano_cpus(self) -> i64 {
        let cores = std::thread::available_parallelism().map_or(1, |cores| u64::try_from(cores.get()).unwrap_or(1));
        i64::try_from(self.cpu_millis.min(cores * 1000) * 1_000_000).unwrap_or(i64::MAX)
    }
}

impl Default for ContainerLimits {
    fn default() -> Self {
        Self::PRODUCTION
    }
}
