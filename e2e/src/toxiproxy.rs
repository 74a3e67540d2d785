//! A Toxiproxy module for testcontainers-rs: the image, and a typed async client for its API.
//!
//! The same code drives the local `chaos-proxy` image and `ghcr.io/shopify/toxiproxy:2.12.0`.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use testcontainers::Image;
use testcontainers::core::{ContainerPort, WaitFor};

use crate::error::{Error, Result};
use crate::images;

/// Toxiproxy's API port.
pub const CONTROL_PORT: ContainerPort = ContainerPort::Tcp(8474);

/// A Toxiproxy server image. It takes no arguments: passing any would drop the official image's
/// default `-host=0.0.0.0`.
#[derive(Debug, Clone)]
pub struct ToxiproxyImage {
    name: String,
    tag: String,
}

impl ToxiproxyImage {
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        Self { name: name.into(), tag: tag.into() }
    }
}

impl Image for ToxiproxyImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![images::http_ready("/version", CONTROL_PORT)]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[CONTROL_PORT]
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        Vec::<String>::new()
    }
}

/// Which way a toxic acts: on data to the upstream (client to server) or back downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

/// A toxic to add: its type, attributes, direction, and the share of connections it affects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Toxic {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: Stream,
    pub toxicity: f32,
    pub attributes: Value,
}

impl Toxic {
    fn new(kind: &str, attributes: Value) -> Self {
        Self {
            name: format!("{kind}_downstream"),
            kind: kind.to_owned(),
            stream: Stream::Downstream,
            toxicity: 1.0,
            attributes,
        }
    }

    pub fn latency(latency: Duration) -> Self {
        Self::new("latency", json!({"latency": millis(latency), "jitter": 0}))
    }

    /// Stops all data; with `Duration::ZERO` the connection is held open forever.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new("timeout", json!({"timeout": millis(timeout)}))
    }

    pub fn bandwidth(kilobytes_per_second: u64) -> Self {
        Self::new("bandwidth", json!({"rate": kilobytes_per_second}))
    }

    pub fn slow_close(delay: Duration) -> Self {
        Self::new("slow_close", json!({"delay": millis(delay)}))
    }

    pub fn reset_peer(timeout: Duration) -> Self {
        Self::new("reset_peer", json!({"timeout": millis(timeout)}))
    }

    pub fn limit_data(bytes: u64) -> Self {
        Self::new("limit_data", json!({"bytes": bytes}))
    }

    /// Acts on the given stream; the name follows Toxiproxy's `<type>_<stream>` default.
    #[must_use]
    pub fn on(mut self, stream: Stream) -> Self {
        self.stream = stream;
        self.name = format!(
            "{}_{}",
            self.kind,
            match stream {
                Stream::Upstream => "upstream",
                Stream::Downstream => "downstream",
            }
        );
        self
    }

    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    #[must_use]
    pub fn toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A proxy as the API reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProxyState {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Value>,
}

/// A typed client for Toxiproxy's HTTP API.
#[derive(Debug, Clone)]
pub struct Toxiproxy {
    http: reqwest::Client,
    base: String,
}

impl Toxiproxy {
    /// `base` is the API's address, as in `http://127.0.0.1:8474`.
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        Self { http, base: base.into().trim_end_matches('/').to_owned() }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Option<Value>> {
        let request = format!("{method} {path}");
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder.send().await.map_err(|source| Error::Http {
            service: "toxiproxy",
            request: request.clone(),
            source,
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|source| Error::Http {
            service: "toxiproxy",
            request: request.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(Error::Api { service: "toxiproxy", request, status: status.as_u16(), body: text });
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|error| Error::Api {
            service: "toxiproxy",
            request,
            status: status.as_u16(),
            body: format!("{error}: {text}"),
        })
    }

    fn parse<T: for<'de> Deserialize<'de>>(value: Option<Value>) -> Result<T> {
        serde_json::from_value(value.unwrap_or(Value::Null))
            .map_err(|error| Error::Setup(format!("unexpected toxiproxy answer: {error}")))
    }

    pub async fn version(&self) -> Result<String> {
        let body = self.call(reqwest::Method::GET, "/version", None).await?.unwrap_or(Value::Null);
        Ok(body["version"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn create_proxy(&self, name: &str, listen: &str, upstream: &str) -> Result<ProxyState> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
        Self::parse(self.call(reqwest::Method::POST, "/proxies", Some(body)).await?)
    }

    pub async fn proxy(&self, name: &str) -> Result<ProxyState> {
        Self::parse(self.call(reqwest::Method::GET, &format!("/proxies/{name}"), None).await?)
    }

    /// Disabling closes the listener and every connection: new connects are refused.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyState> {
        Self::parse(
            self.call(reqwest::Method::PATCH, &format!("/proxies/{name}"), Some(json!({"enabled": enabled}))).await?,
        )
    }

    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Value> {
        let body = serde_json::to_value(toxic).expect("a toxic serialises");
        Ok(self
            .call(reqwest::Method::POST, &format!("/proxies/{proxy}/toxics"), Some(body))
            .await?
            .unwrap_or(Value::Null))
    }

    pub async fn update_toxic(&self, proxy: &str, name: &str, attributes: Value) -> Result<Value> {
        let path = format!("/proxies/{proxy}/toxics/{name}");
        Ok(self
            .call(reqwest::Method::PATCH, &path, Some(json!({"attributes": attributes})))
            .await?
            .unwrap_or(Value::Null))
    }

    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<()> {
        self.call(reqwest::Method::DELETE, &format!("/proxies/{proxy}/toxics/{name}"), None).await.map(drop)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<()> {
        self.call(reqwest::Method::POST, "/reset", None).await.map(drop)
    }
}
