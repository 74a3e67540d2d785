//! An in-process proxy server on a free port, a TCP echo server to proxy to, and helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chaos_proxy::metrics::Metrics;
use chaos_proxy::store::ProxyStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub struct ProxyServer {
    pub addr: SocketAddr,
    http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

impl ProxyServer {
    pub async fn start() -> Self {
        Self::start_with_metrics(false, false).await
    }

    /// A server run as with `-proxy-metrics` and `-runtime-metrics`.
    pub async fn start_with_metrics(proxy_metrics: bool, runtime_metrics: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port for the API");
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let metrics = Metrics::new(proxy_metrics, runtime_metrics).map(Arc::new);
        let store = Arc::new(ProxyStore::new(Some(7), metrics.as_ref().and_then(|metrics| metrics.proxies.clone())));
        tokio::spawn(chaos_proxy::serve(listener, store, metrics, async move {
            let _ = signal.await;
        }));
        Self { addr, http: reqwest::Client::new(), _shutdown: shutdown }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.request(method.parse().unwrap(), format!("http://{}{path}", self.addr));
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    pub async fn json(&self, method: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(method, path, Some(&body.to_string())).await
    }

    /// Creates a proxy on a free port in front of `upstream` and returns the address it listens on.
    pub async fn proxy_to(&self, name: &str, upstream: SocketAddr) -> SocketAddr {
        let (status, body) = self
            .json("POST", "/proxies", &json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["listen"].as_str().unwrap().parse().expect("the bound address is reported")
    }

    pub async fn add_toxic(&self, proxy: &str, toxic: Value) -> Value {
        let (status, body) = self.json("POST", &format!("/proxies/{proxy}/toxics"), &toxic).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Echoes every byte back; closes its side when the client half-closes.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// Sends `message` and reads the same number of bytes back, failing after `within`.
pub async fn round_trip(stream: &mut TcpStream, message: &[u8], within: Duration) -> std::io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut reply = vec![0; message.len()];
    tokio::time::timeout(within, stream.read_exact(&mut reply))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"))??;
    Ok(reply)
}

/// What a read saw: data, a clean close, an error, or nothing within the time given.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    Data(usize),
    Closed,
    Error(std::io::ErrorKind),
    Silent,
}

pub async fn read_once(stream: &mut TcpStream, within: Duration) -> ReadOutcome {
    let mut buffer = [0; 4096];
    match tokio::time::timeout(within, stream.read(&mut buffer)).await {
        Err(_) => ReadOutcome::Silent,
        Ok(Ok(0)) => ReadOutcome::Closed,
        Ok(Ok(n)) => ReadOutcome::Data(n),
        Ok(Err(error)) => ReadOutcome::Error(error.kind()),
    }
}
