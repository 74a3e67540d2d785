//! The redis-rs client for the configured mode, with the URL's credentials, the TCP settings and
//! the CA. Nothing here touches the network.

use std::sync::Arc;

use redis::io::tcp::TcpSettings;
use redis::{ConnectionInfo, IntoConnectionInfo as _, ProtocolVersion, TlsCertificates};
use secrecy::ExposeSecret as _;

use super::SetupError;
use super::connection::Connector;
use super::dial::Dialer;
use crate::config::{RedisMode, RedisSettings};

pub(super) fn connector_for(
    settings: &RedisSettings,
    dialer: Option<Arc<dyn Dialer>>,
) -> Result<Connector, SetupError> {
    let nodes: Vec<ConnectionInfo> =
        settings.url.expose_nodes().map(|node| node_info(settings, node)).collect::<Result<_, _>>()?;
    let certificates = certificates(settings)?;
    let (connect, respond) = (settings.connect_timeout, settings.operation_timeout);
    match settings.mode {
        RedisMode::Standalone => {
            let info = nodes.into_iter().next().expect("the settings hold one node at least");
            let client = match certificates {
                Some(certificates) => redis::Client::build_with_tls(info, certificates),
                None => redis::Client::open(info),
            }
            .map_err(|error| SetupError::Url(error.to_string()))?;
            Ok(Connector::standalone(client, connect, respond, dialer))
        }
        RedisMode::Cluster => Connector::cluster(nodes, certificates, connect, respond, dialer)
            .map_err(|error| SetupError::Url(error.to_string())),
    }
}

fn node_info(settings: &RedisSettings, node: &str) -> Result<ConnectionInfo, SetupError> {
    let info = node
        .into_connection_info()
        // redis-rs may quote the URL in its error; only the redacted form is ever shown.
        .map_err(|_| SetupError::Url(format!("{} could not be parsed by the redis client", settings.url)))?;
    // RESP3, so that redis-rs reports a closed connection (see `connection::Pooled`).
    let mut redis = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    if let Some(password) = &settings.password {
        redis = redis.set_password(password.expose_secret());
    }
    Ok(info.set_tcp_settings(tcp_settings(settings)).set_redis_settings(redis))
}

fn tcp_settings(settings: &RedisSettings) -> TcpSettings {
    let mut tcp = TcpSettings::default().set_nodelay(true);
    if let Some(keepalive) = settings.keepalive {
        tcp = tcp.set_keepalive(
            socket2::TcpKeepalive::new()
                .with_time(keepalive.idle)
                .with_interval(keepalive.interval)
                .with_retries(keepalive.count),
        );
    }
    if let Some(user_timeout) = settings.tcp_user_timeout {
        tcp = tcp.set_user_timeout(user_timeout);
    }
    tcp
}

fn certificates(settings: &RedisSettings) -> Result<Option<TlsCertificates>, SetupError> {
    match &settings.tls_ca_file {
        Some(path) if settings.url.uses_tls() => {
            let root_cert = std::fs::read(path)
                .map_err(|source| SetupError::CaFile { path: path.display().to_string(), source })?;
            Ok(Some(TlsCertificates { client_tls: None, root_cert: Some(root_cert) }))
        }
        _ => Ok(None),
    }
}
