//! The proxy server in-process on a free port, with helpers to drive its API. The echo server and
//! round trips come from testkit.

use std::net::SocketAddr;

use chaos_proxy::InProcess;
use reqwest::StatusCode;
use serde_json::{Value, json};
pub(crate) use testkit::net::{ReadOutcome, echo_server, read_once, round_trip};

pub(crate) struct ProxyServer {
    pub addr: SocketAddr,
    http: reqwest::Client,
    _server: InProcess,
}

impl ProxyServer {
    pub(crate) async fn start() -> Self {
        Self::start_with_metrics(false, false).await
    }

    /// A server run as with `-proxy-metrics` and `-runtime-metrics`.
    pub(crate) async fn start_with_metrics(proxy_metrics: bool, runtime_metrics: bool) -> Self {
        let server = InProcess::start(Some(7), proxy_metrics, runtime_metrics).await.expect("a free port for the API");
        Self { addr: server.addr, http: reqwest::Client::new(), _server: server }
    }
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
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

    pub(crate) async fn json(&self, method: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(method, path, Some(&body.to_string())).await
    }

    /// Creates a proxy on a free port in front of `upstream` and returns the address it listens on.
    pub(crate) async fn proxy_to(&self, name: &str, upstream: SocketAddr) -> SocketAddr {
        let (status, body) = self
            .json("POST", "/proxies", &json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["listen"].as_str().unwrap().parse().expect("the bound address is reported")
    }

    pub(crate) async fn add_toxic(&self, proxy: &str, toxic: Value) -> Value {
        let (status, body) = self.json("POST", &format!("/proxies/{proxy}/toxics"), &toxic).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}
