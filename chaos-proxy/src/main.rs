use std::process::ExitCode;
use std::sync::Arc;

use chaos_proxy::api::TOXIPROXY_VERSION;
use chaos_proxy::flags::{self, Parsed};
use chaos_proxy::metrics::Metrics;
use chaos_proxy::store::ProxyStore;

/// Go's `flag` package exits with 2 on a bad command line; so does this.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let flags = match flags::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(flags)) => flags,
        Ok(Parsed::Help) => {
            println!("{}", flags::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            // Toxiproxy's line first, for scripts that read it.
            println!("toxiproxy-server version {TOXIPROXY_VERSION} ({})", chaos_proxy::api::SERVER);
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("chaos-proxy: {problem}\n{}", flags::USAGE);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Toxiproxy reads LOG_LEVEL; RUST_LOG works too.
    let filter =
        std::env::var("LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_default())
        .init();

    let runtime = match chaos_proxy::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chaos-proxy: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chaos-proxy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(flags: flags::Flags) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let metrics = Metrics::new(flags.proxy_metrics, flags.runtime_metrics).map(Arc::new);
    let store = Arc::new(ProxyStore::new(flags.seed, metrics.as_ref().and_then(|metrics| metrics.proxies.clone())));
    if let Some(config) = &flags.config {
        // Toxiproxy starts even when its config file is bad; it only logs the problem.
        match chaos_proxy::populate_from_file(&store, config).await {
            Ok(count) => tracing::info!(proxies = count, config = %config.display(), "populated proxies from file"),
            Err(error) => tracing::error!(error = format!("{error:#}"), "failed to populate proxies from file"),
        }
    }
    let address = format!("{}:{}", flags.host, flags.port);
    let listener =
        tokio::net::TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
    // The bound address, port 0 resolved, on one line that scripts can read.
    tracing::info!(address = %listener.local_addr()?, version = TOXIPROXY_VERSION, "API listening");
    chaos_proxy::serve(listener, store, metrics, shutdown_signal()).await.context("the API server failed")
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async { match terminate.as_mut() { Some(signal) => { signal.recv().await; } None => std::future::pending().await } } => {}
    }
    tracing::info!("shutting down");
}
