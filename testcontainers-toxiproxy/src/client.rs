//! A typed async client for Toxiproxy 2.x's HTTP API.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use testcontainers::ContainerAsync;

use crate::error::Error;
use crate::image::{CONTROL_PORT, Toxiproxy};
use crate::toxic::Toxic;

/// A proxy as the API reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Proxy {
    pub name: String,
    /// The address it listens on; Toxiproxy reports the bound one once it is enabled.
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<Toxic>,
}

/// A client for one Toxiproxy server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ToxiproxyClient {
    http: reqwest::Client,
    base: String,
}

impl ToxiproxyClient {
    /// `base_url` is the API's address, as in `http://127.0.0.1:8474`.
    pub fn new(base_url: impl Into<String>) -> Self {
        // Every call is a quick state change; an answer this late means the server is stuck.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        Self { http, base: base_url.into().trim_end_matches('/').to_owned() }
    }

    /// A client for a started [`Toxiproxy`] container, through its published control port.
    pub async fn for_container(container: &ContainerAsync<Toxiproxy>) -> Result<Self, Error> {
        let host = container.get_host().await?;
        let port = container.get_host_port_ipv4(CONTROL_PORT).await?;
        Ok(Self::new(format!("http://{host}:{port}")))
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The server's version, as in `2.12.0`.
    pub async fn version(&self) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        self.call::<Version>(Method::GET, "/version", None).await.map(|answer| answer.version)
    }

    pub async fn proxies(&self) -> Result<BTreeMap<String, Proxy>, Error> {
        self.call(Method::GET, "/proxies", None).await
    }

    /// Creates an enabled proxy from `listen` (inside the server's network) to `upstream`.
    pub async fn create_proxy(&self, name: &str, listen: &str, upstream: &str) -> Result<Proxy, Error> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
        self.call(Method::POST, "/proxies", Some(body)).await
    }

    pub async fn proxy(&self, name: &str) -> Result<Proxy, Error> {
        self.call(Method::GET, &format!("/proxies/{name}"), None).await
    }

    /// Disabling closes the listener and every connection, so new connects are refused.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Proxy, Error> {
        self.call(Method::PATCH, &format!("/proxies/{name}"), Some(json!({"enabled": enabled}))).await
    }

    /// Points the proxy at another upstream. Toxiproxy restarts the proxy to do so: the
    /// connections it held are closed, and new ones go to `upstream`.
    pub async fn set_upstream(&self, name: &str, upstream: &str) -> Result<Proxy, Error> {
        self.call(Method::PATCH, &format!("/proxies/{name}"), Some(json!({"upstream": upstream}))).await
    }

    pub async fn delete_proxy(&self, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &format!("/proxies/{name}")).await
    }

    /// Adds `toxic` to `proxy`; connections already open are affected too.
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, Error> {
        let body = serde_json::to_value(toxic).expect("a toxic serialises");
        self.call(Method::POST, &format!("/proxies/{proxy}/toxics"), Some(body)).await
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, Error> {
        self.call(Method::GET, &format!("/proxies/{proxy}/toxics"), None).await
    }

    /// Replaces the toxicity and attributes of the toxic named `toxic.name`; its type and stream
    /// stay as they were created.
    pub async fn update_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, Error> {
        let written = serde_json::to_value(toxic).expect("a toxic serialises");
        let body = json!({"toxicity": toxic.toxicity, "attributes": written["attributes"]});
        self.call(Method::PATCH, &format!("/proxies/{proxy}/toxics/{}", toxic.name), Some(body)).await
    }

    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &format!("/proxies/{proxy}/toxics/{name}")).await
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), Error> {
        self.call_empty(Method::POST, "/reset").await
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T, Error> {
        let (request, text) = self.send(method, path, body).await?;
        serde_json::from_str(&text).map_err(|error| Error::Unexpected { request, detail: format!("{error}: {text}") })
    }

    async fn call_empty(&self, method: Method, path: &str) -> Result<(), Error> {
        self.send(method, path, None).await.map(drop)
    }

    /// Sends one request; a status other than 2xx becomes [`Error::Api`] with Toxiproxy's message.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<(String, String), Error> {
        let request = format!("{method} {path}");
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let failed = |source| Error::Http { request: request.clone(), source };
        let response = builder.send().await.map_err(failed)?;
        let status = response.status();
        let text = response.text().await.map_err(failed)?;
        if !status.is_success() {
            // Toxiproxy's errors are `{"error": "...", "status": N}`; its router's own 404 is text.
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|error| error["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.trim().to_owned());
            return Err(Error::Api { request, status: status.as_u16(), message });
        }
        Ok((request, text))
    }
}
