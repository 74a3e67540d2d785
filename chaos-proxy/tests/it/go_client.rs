//! Toxiproxy's own Go client (`client/`), as its API tests call it: the same requests, and its
//! error text, `Create: HTTP 409: proxy already exists`, so that the ported tests compare the
//! same strings as `api_test.go`. It covers what `toxiproxy_rust` cannot express: named toxics,
//! toxicity, null attributes, updates and the errors themselves.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(crate) struct GoClient {
    base: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Proxy {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(rename = "toxics", default)]
    pub active_toxics: Vec<Toxic>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Toxic {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub stream: String,
    pub toxicity: f32,
    #[serde(default)]
    pub attributes: BTreeMap<String, f64>,
}

pub(crate) type Result<T> = std::result::Result<T, String>;

impl GoClient {
    pub(crate) fn new(addr: std::net::SocketAddr) -> Self {
        Self { base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    /// One call, checked as the Go client's `checkError` does: the expected status, or
    /// `{caller}: HTTP {status}: {message}`.
    async fn call(&self, method: &str, path: &str, body: Option<Value>, expected: u16, caller: &str) -> Result<Value> {
        let mut request = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| format!("{caller}: {error}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|error| format!("{caller}: {error}"))?;
        if status != expected {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|error| error["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(format!("{caller}: HTTP {status}: {message}"));
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub(crate) async fn proxies(&self) -> Result<BTreeMap<String, Proxy>> {
        self.call("GET", "/proxies", None, 200, "Proxies").await.map(|body| serde_json::from_value(body).unwrap())
    }

    pub(crate) async fn proxy(&self, name: &str) -> Result<Proxy> {
        self.call("GET", &format!("/proxies/{name}"), None, 200, "Proxy")
            .await
            .map(|body| serde_json::from_value(body).unwrap())
    }

    /// `CreateProxy`: a new, enabled proxy, saved.
    pub(crate) async fn create_proxy(&self, name: &str, listen: &str, upstream: &str) -> Result<Proxy> {
        self.save_new(name, listen, upstream, true).await
    }

    /// `NewProxy` then `Save`: `POST /proxies` with the fields as they are (and `toxics: null`).
    pub(crate) async fn save_new(&self, name: &str, listen: &str, upstream: &str, enabled: bool) -> Result<Proxy> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": enabled, "toxics": null});
        self.call("POST", "/proxies", Some(body), 201, "Create").await.map(|body| serde_json::from_value(body).unwrap())
    }

    /// `Save` of a proxy already created: `PATCH /proxies/{name}`.
    pub(crate) async fn save(&self, proxy: &Proxy) -> Result<Proxy> {
        let body = json!({"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled, "toxics": null});
        self.call("PATCH", &format!("/proxies/{}", proxy.name), Some(body), 200, "Save")
            .await
            .map(|body| serde_json::from_value(body).unwrap())
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        self.call("DELETE", &format!("/proxies/{name}"), None, 204, "Delete").await.map(drop)
    }

    /// `Populate`: the proxies it returns are dropped on error, as the Go client drops them.
    pub(crate) async fn populate(&self, proxies: &[(&str, &str, &str, bool)]) -> Result<Vec<Proxy>> {
        let body: Vec<Value> = proxies
            .iter()
            .map(|(name, listen, upstream, enabled)| {
                json!({"name": name, "listen": listen, "upstream": upstream, "enabled": enabled, "toxics": null})
            })
            .collect();
        self.call("POST", "/populate", Some(Value::Array(body)), 201, "Populate")
            .await
            .map(|body| serde_json::from_value(body["proxies"].clone()).unwrap_or_default())
    }

    pub(crate) async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>> {
        self.call("GET", &format!("/proxies/{proxy}/toxics"), None, 200, "Toxics")
            .await
            .map(|body| serde_json::from_value(body).unwrap())
    }

    /// `AddToxic(name, type, stream, toxicity, attributes)`: an empty stream is left out, a
    /// toxicity of -1 is sent as 1, and no attributes are sent as null.
    pub(crate) async fn add_toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &str,
        stream: &str,
        toxicity: f32,
        attributes: Option<Value>,
    ) -> Result<Toxic> {
        let mut body = json!({"name": name, "type": kind, "toxicity": if (toxicity + 1.0).abs() < f32::EPSILON { 1.0 } else { toxicity }, "attributes": attributes});
        if !stream.is_empty() {
            body["stream"] = json!(stream);
        }
        self.call("POST", &format!("/proxies/{proxy}/toxics"), Some(body), 200, "AddToxic")
            .await
            .map(|body| serde_json::from_value(body).unwrap())
    }

    /// `UpdateToxic(name, toxicity, attributes)`: a toxicity of -1 is left out.
    pub(crate) async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        toxicity: f32,
        attributes: Value,
    ) -> Result<Toxic> {
        let mut body = json!({"attributes": attributes});
        if (toxicity + 1.0).abs() >= f32::EPSILON {
            body["toxicity"] = json!(toxicity);
        }
        self.call("PATCH", &format!("/proxies/{proxy}/toxics/{name}"), Some(body), 200, "UpdateToxic")
            .await
            .map(|body| serde_json::from_value(body).unwrap())
    }

    pub(crate) async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<()> {
        self.call("DELETE", &format!("/proxies/{proxy}/toxics/{name}"), None, 204, "RemoveToxic").await.map(drop)
    }
}
