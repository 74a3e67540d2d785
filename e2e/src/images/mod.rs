//! The images the stack runs: built locally `FROM scratch` by default, or pinned official images
//! with `E2E_IMAGES=registry`.

mod rootfs;

use std::path::Path;
use std::time::Duration;

use testcontainers::GenericBuildableImage;
use testcontainers::core::wait::HttpWaitStrategy;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncBuilder as _;
use tokio::sync::OnceCell;

pub use rootfs::RootFs;

use crate::error::{Error, Result};
use crate::{prerequisites, workspace};

/// Ready once `GET path` on `port` answers 200. Polled every 50 ms: the images start in about
/// a second, and the default interval would add most of another.
pub(crate) fn http_ready(path: &str, port: ContainerPort) -> WaitFor {
    WaitFor::http(
        HttpWaitStrategy::new(path)
            .with_port(port)
            .with_expected_status_code(200_u16)
            .with_poll_interval(Duration::from_millis(50)),
    )
}

/// Where the images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// Built here from host binaries and this workspace's binaries; nothing is pulled.
    Local,
    /// `redis:7.4`, `ghcr.io/shopify/toxiproxy:2.12.0`, and the backend from `backend/Dockerfile`.
    Registry,
}

impl ImageSource {
    /// Reads `E2E_IMAGES` (`local`, the default, or `registry`).
    pub fn from_env() -> Result<Self> {
        match std::env::var("E2E_IMAGES").as_deref() {
            Err(_) | Ok("" | "local") => Ok(Self::Local),
            Ok("registry") => Ok(Self::Registry),
            Ok(other) => Err(Error::Setup(format!("E2E_IMAGES={other:?}: expected local or registry"))),
        }
    }
}

/// An image by name and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
}

impl ImageRef {
    fn new(name: &str, tag: &str) -> Self {
        Self { name: name.to_owned(), tag: tag.to_owned() }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Every image a stack needs.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub source: ImageSource,
    pub redis: ImageRef,
    pub toxiproxy: ImageRef,
    pub backend: ImageRef,
}

const REDIS_DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /data
EXPOSE 6379
ENTRYPOINT [\"/usr/bin/redis-server\"]
";

const BACKEND_DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
USER 65534:65534
ENTRYPOINT [\"/usr/local/bin/gift-genie\"]
";

const TOXIPROXY_DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
EXPOSE 8474
USER 65534:65534
ENTRYPOINT [\"/usr/local/bin/chaos-proxy\", \"-host=0.0.0.0\"]
";

const SIDECAR_DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin XTABLES_LIBDIR=/xtables
WORKDIR /run
ENTRYPOINT [\"/bin/sleep\", \"infinity\"]
";

/// Prepares the images once per process and returns them.
pub async fn prepare(docker: &bollard::Docker) -> Result<ImageSet> {
    static IMAGES: OnceCell<ImageSet> = OnceCell::const_new();
    IMAGES.get_or_try_init(|| prepare_uncached(docker)).await.cloned()
}

async fn prepare_uncached(docker: &bollard::Docker) -> Result<ImageSet> {
    prerequisites::docker(docker).await?;
    let source = ImageSource::from_env()?;
    match source {
        ImageSource::Local => {
            let binaries = tokio::task::spawn_blocking(|| {
                workspace::build_binaries(&[("gift-genie-backend", "gift-genie"), ("chaos-proxy", "chaos-proxy")])
            })
            .await
            .map_err(|join| Error::CargoBuild(join.to_string()))??;
            let redis = RootFs::default()
                .binary(&prerequisites::host_binary("redis-server", "redis-server")?, "/usr/bin/redis-server")?
                .binary(&prerequisites::host_binary("redis-cli", "redis-tools")?, "/usr/bin/redis-cli")?;
            let backend = RootFs::default().binary(&binaries["gift-genie"], "/usr/local/bin/gift-genie")?;
            let toxiproxy = RootFs::default().binary(&binaries["chaos-proxy"], "/usr/local/bin/chaos-proxy")?;
            Ok(ImageSet {
                source,
                redis: build_local(docker, "gift-genie-e2e-redis", redis, REDIS_DOCKERFILE).await?,
                toxiproxy: build_local(docker, "gift-genie-e2e-toxiproxy", toxiproxy, TOXIPROXY_DOCKERFILE).await?,
                backend: build_local(docker, "gift-genie-e2e-backend", backend, BACKEND_DOCKERFILE).await?,
            })
        }
        ImageSource::Registry => Ok(ImageSet {
            source,
            redis: ImageRef::new("redis", "7.4"),
            toxiproxy: ImageRef::new("ghcr.io/shopify/toxiproxy", "2.12.0"),
            backend: build_backend_from_dockerfile().await?,
        }),
    }
}

/// iptables and sleep, to filter traffic inside Redis's network namespace. Built on first use
/// (only the IP-filter fault needs it), and always locally: no official image carries iptables,
/// and the host's works in any namespace.
pub async fn sidecar(docker: &bollard::Docker) -> Result<ImageRef> {
    static SIDECAR: OnceCell<ImageRef> = OnceCell::const_new();
    SIDECAR
        .get_or_try_init(|| async {
            let rootfs =
                tokio::task::spawn_blocking(sidecar_rootfs).await.map_err(|join| Error::Setup(join.to_string()))??;
            build_local(docker, "gift-genie-e2e-sidecar", rootfs, SIDECAR_DOCKERFILE).await
        })
        .await
        .cloned()
}

fn sidecar_rootfs() -> Result<RootFs> {
    let iptables = prerequisites::host_binary("iptables", "iptables")?;
    let sleep = prerequisites::host_binary("sleep", "coreutils")?;
    let rootfs = RootFs::default().binary(&iptables, "/usr/sbin/iptables")?.binary(&sleep, "/bin/sleep")?;
    // iptables loads its match and target extensions with dlopen, next to libxtables.
    let xtables = rootfs
        .files()
        .find(|(target, _)| {
            Path::new(target).file_name().is_some_and(|name| name.to_string_lossy().starts_with("libxtables.so"))
        })
        .and_then(|(target, _)| Path::new(target).parent().map(|dir| dir.join("xtables")))
        .ok_or_else(|| Error::Setup("iptables does not link libxtables; cannot find its extensions".to_owned()))?;
    rootfs.directory(&xtables, "/xtables")
}

/// Builds a `FROM scratch` image tagged by its content hash, unless it already exists.
async fn build_local(docker: &bollard::Docker, name: &str, rootfs: RootFs, dockerfile: &str) -> Result<ImageRef> {
    let (hashed, dockerfile_text) = (rootfs.clone(), dockerfile.to_owned());
    let tag = tokio::task::spawn_blocking(move || hashed.content_hash(&dockerfile_text))
        .await
        .map_err(|join| Error::Setup(format!("hashing {name} failed: {join}")))??;
    let image = ImageRef::new(name, &tag);
    if docker.inspect_image(&image.to_string()).await.is_ok() {
        tracing::debug!(%image, "image already built");
        return Ok(image);
    }
    tracing::info!(%image, "building image");
    let mut buildable = GenericBuildableImage::new(name, &tag).with_dockerfile_string(dockerfile);
    for (target, host) in rootfs.files() {
        buildable = buildable.with_file(host, format!("rootfs{target}"));
    }
    drop(buildable.build_image().await?);
    Ok(image)
}

/// The production image, from `backend/Dockerfile`, for machines that can pull its base images.
async fn build_backend_from_dockerfile() -> Result<ImageRef> {
    let root = workspace::root();
    let image = ImageRef::new("gift-genie-e2e-backend", "dockerfile");
    tracing::info!(%image, "building the backend from backend/Dockerfile");
    let mut buildable =
        GenericBuildableImage::new(&image.name, &image.tag).with_dockerfile(root.join("backend/Dockerfile"));
    for entry in workspace::build_context_entries()? {
        buildable = buildable.with_file(root.join(&entry), entry);
    }
    drop(buildable.build_image().await?);
    Ok(image)
}
