use std::process::ExitCode;

use gift_genie_backend::config::Settings;
use gift_genie_backend::startup::App;
use gift_genie_backend::{install_tls_provider, telemetry};

/// Exit status for a configuration the service cannot start with, as in sysexits' `EX_CONFIG`.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("gift-genie: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(error) = telemetry::init(&settings.log) {
        eprintln!("gift-genie: cannot set up logging: {error}");
        return ExitCode::FAILURE;
    }
    install_tls_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gift-genie: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "gift-genie stopped");
            eprintln!("gift-genie: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let redis = &settings.redis;
    tracing::info!(
        redis_url = %redis.url,
        pool_max_size = redis.pool_max_size,
        connect_timeout = ?redis.connect_timeout,
        operation_timeout = ?redis.operation_timeout,
        retry_max_attempts = redis.retry.max_attempts,
        health_check_interval = ?redis.health_check_interval,
        "starting gift-genie"
    );
    let app = App::build(settings).await?;
    tracing::info!(addr = %app.local_addr(), "listening");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Completes on SIGTERM (what container platforms send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
