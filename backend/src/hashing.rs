//! Password hashing on a fixed set of worker threads, each with its argon2 memory allocated once.
//!
//! argon2id at its default cost fills 19 MiB per hash. Hashed on tokio's blocking pool, every hash
//! allocated afresh on whichever thread ran it, glibc kept an arena per thread, and a burst left the
//! process at 800 MB; a client that hung up also gave back its place while its hash ran on. Here a
//! hash holds its worker from the moment it is queued until it is done, whatever its client does:
//! at most `workers` hashes run, and their memory, `workers × 19 MiB`, never grows. A registration
//! that cannot get a worker within the queue timeout is turned away ([`HashError::Busy`]).

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use prometheus_client::metrics::gauge::Gauge;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::HashingSettings;
use crate::metrics::HashingMetrics;
use crate::sources::Sources;

/// Why a password was not hashed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HashError {
    /// Every worker stayed busy for the whole queue timeout: the service is overloaded, not broken.
    #[error("no password hashing worker became free within {0:?}")]
    Busy(Duration),
    #[error("argon2 hashing failed: {0}")]
    Argon2(String),
    #[error("the password hashing workers have stopped")]
    Stopped,
}

/// Hands passwords to the workers. Clones share them; the workers stop once every clone is gone.
#[derive(Clone, Debug)]
pub(crate) struct PasswordHasher {
    kind: Kind,
    settings: HashingSettings,
    metrics: HashingMetrics,
    /// Salts.
    sources: Arc<Sources>,
}

#[derive(Clone, Debug)]
enum Kind {
    Workers {
        jobs: SyncSender<Job>,
        slots: Arc<Semaphore>,
    },
    /// On the caller's task, with argon2's least cost: for the simulation, whose clock a thread
    /// of its own would run outside of.
    Inline,
}

struct Job {
    password: SecretString,
    salt: [u8; SALT_LEN],
    reply: oneshot::Sender<Result<String, HashError>>,
    /// Dropped by the worker once the hash is done, not when the client goes away.
    _slot: Slot,
}

/// A worker's place, held from queueing to the end of the hash.
struct Slot {
    _permit: OwnedSemaphorePermit,
    in_progress: Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_progress.dec();
    }
}

/// Bytes of salt, argon2's recommended length.
const SALT_LEN: usize = 16;

impl PasswordHasher {
    /// Starts `settings.workers` threads, each with its own argon2 memory.
    pub(crate) fn start(
        settings: HashingSettings,
        metrics: HashingMetrics,
        sources: Arc<Sources>,
    ) -> std::io::Result<Self> {
        // Every queued job holds a slot, so the channel never holds more than there are workers.
        let (jobs, queue) = sync_channel(settings.workers);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..settings.workers {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(format!("password-hash-{index}")).spawn(move || work(&queue))?;
        }
        let kind = Kind::Workers { jobs, slots: Arc::new(Semaphore::new(settings.workers)) };
        Ok(Self { kind, settings, metrics, sources })
    }

    /// Hashes on the caller's task with argon2's least cost, salted from `sources`.
    pub(crate) fn inline(settings: HashingSettings, metrics: HashingMetrics, sources: Arc<Sources>) -> Self {
        Self { kind: Kind::Inline, settings, metrics, sources }
    }

    /// Hashes `password` with argon2id into a PHC string, waiting at most the queue timeout for a
    /// worker.
    pub(crate) async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let mut salt = [0; SALT_LEN];
        self.sources.fill(&mut salt);
        let (jobs, slots) = match &self.kind {
            Kind::Workers { jobs, slots } => (jobs, slots),
            Kind::Inline => {
                let params = Params::new(Params::MIN_M_COST, Params::MIN_T_COST, Params::MIN_P_COST, None)
                    .map_err(|error| HashError::Argon2(error.to_string()))?;
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut memory = vec![Block::new(); argon2.params().block_count()];
                return hash_into(&argon2, password.expose_secret().as_bytes(), &salt, &mut memory);
            }
        };
        let wait = self.settings.queue_timeout;
        let permit = match tokio::time::timeout(wait, Arc::clone(slots).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(HashError::Stopped),
            Err(_elapsed) => {
                self.metrics.rejected.inc();
                return Err(HashError::Busy(wait));
            }
        };
        self.metrics.in_progress.inc();
        let slot = Slot { _permit: permit, in_progress: self.metrics.in_progress.clone() };
        let (reply, answer) = oneshot::channel();
        match jobs.try_send(Job { password, salt, reply, _slot: slot }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                unreachable!("a job is only sent with a slot, and there are as many as workers")
            }
            Err(TrySendError::Disconnected(_)) => return Err(HashError::Stopped),
        }
        answer.await.map_err(|_| HashError::Stopped)?
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    let argon2 = Argon2::default();
    let mut memory = vec![Block::new(); argon2.params().block_count()];
    loop {
        // The lock is released before hashing: one idle worker waits on the queue, the others on it.
        let Ok(job) = queue.lock().expect("no worker panics while holding the queue").recv() else { return };
        let hash = hash_into(&argon2, job.password.expose_secret().as_bytes(), &job.salt, &mut memory);
        // The client may have gone; the hash is done either way and its slot is freed below.
        let _ = job.reply.send(hash);
    }
}

fn hash_into(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], memory: &mut [Block]) -> Result<String, HashError> {
    let failed = |error: &dyn std::fmt::Display| HashError::Argon2(error.to_string());
    let mut output = [0; Params::DEFAULT_OUTPUT_LEN];
    argon2.hash_password_into_with_memory(password, salt, &mut output, memory).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier as _;

    use super::*;
    use crate::metrics::Metrics;

    fn hasher(workers: usize, queue_timeout: Duration) -> (PasswordHasher, Gauge) {
        let metrics = Metrics::new().hashing;
        let in_progress = metrics.in_progress.clone();
        let settings = HashingSettings { workers, queue_timeout };
        (PasswordHasher::start(settings, metrics, Arc::new(Sources::from_os())).unwrap(), in_progress)
    }

    #[tokio::test]
    async fn a_hash_is_an_argon2id_phc_string_that_verifies_and_hides_the_password() {
        let (hasher, _) = hasher(1, Duration::from_secs(5));
        let hash = hasher.hash(SecretString::from("correct horse 1")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse 1", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horse 2", &parsed).is_err());
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_their_salt() {
        let (hasher, _) = hasher(1, Duration::from_secs(5));
        let first = hasher.hash(SecretString::from("same password 1")).await.unwrap();
        let second = hasher.hash(SecretString::from("same password 1")).await.unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_cancelled_hash_keeps_its_worker_until_it_is_done() {
        let (hasher, in_progress) = hasher(1, Duration::from_secs(5));
        let cancelled = tokio::time::timeout(Duration::from_micros(1), hasher.hash(SecretString::from("abandoned 1")));
        assert!(cancelled.await.is_err(), "a hash takes longer than a microsecond");
        assert_eq!(in_progress.get(), 1, "the hash runs on without its caller");
        testkit::poll_until("the hash ends", Duration::from_secs(5), || async { in_progress.get() }, |n| *n == 0).await;
    }

    #[tokio::test]
    async fn no_free_worker_within_the_queue_timeout_is_busy() {
        let (hasher, _) = hasher(1, Duration::from_millis(1));
        let first = hasher.hash(SecretString::from("first one 1"));
        let second = hasher.hash(SecretString::from("second one 2"));
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_ok());
        assert!(matches!(second, Err(HashError::Busy(_))), "{second:?}");
    }
}
