//! The proxies the server manages, and their toxics, with the semantics of Toxiproxy's
//! `ProxyCollection`, `Proxy` and `ToxicCollection`.
//!
//! One lock serialises changes. A toxic change returns once every open connection follows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::engine::{Chains, Direction, ProxySpec, RunningProxy, Toxic, resolve_address};
use crate::error::ApiError;
use crate::metrics::ProxyMetrics;
use crate::model::{self, ProxyFields, ProxyView, ToxicRequest, ToxicView};

#[derive(Debug, Default)]
pub struct ProxyStore {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    /// `-seed`: makes toxicity and jitter draws repeatable.
    seed: Option<u64>,
    metrics: Option<Arc<ProxyMetrics>>,
}

#[derive(Debug)]
struct Proxy {
    name: String,
    /// As given until the proxy first listens, then the address it bound, as in Toxiproxy.
    listen: String,
    upstream: String,
    /// Toxics in the order they were added, each with the stream as the caller spelled it.
    toxics: Vec<(Arc<Toxic>, Direction, String)>,
    running: Option<RunningProxy>,
}

/// The answer to `POST /populate`: the proxies created or kept, and the error that stopped it.
#[derive(Debug)]
pub struct Populated {
    pub proxies: Vec<ProxyView>,
    pub error: Option<ApiError>,
}

impl ProxyStore {
    pub fn new(seed: Option<u64>, metrics: Option<Arc<ProxyMetrics>>) -> Self {
        Self { proxies: Mutex::default(), seed, metrics }
    }

    pub async fn list(&self) -> BTreeMap<String, ProxyView> {
        self.proxies.lock().await.iter().map(|(name, proxy)| (name.clone(), proxy.view())).collect()
    }

    pub async fn get(&self, name: &str) -> Result<ProxyView, ApiError> {
        self.proxies.lock().await.get(name).map(Proxy::view).ok_or_else(ApiError::proxy_not_found)
    }

    pub async fn create(&self, fields: ProxyFields) -> Result<ProxyView, ApiError> {
        if fields.name.is_empty() {
            return Err(ApiError::missing_field("name"));
        }
        if fields.upstream.is_empty() {
            return Err(ApiError::missing_field("upstream"));
        }
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&fields.name) {
            return Err(ApiError::proxy_exists());
        }
        let mut proxy = Proxy::new(&fields);
        if fields.enabled {
            proxy.start(self).await?;
        }
        let view = proxy.view();
        proxies.insert(proxy.name.clone(), proxy);
        Ok(view)
    }

    /// Creates, keeps or replaces each proxy of the list in turn, as Toxiproxy's `PopulateJson`:
    /// a proxy whose listen address resolves to the existing one's and whose upstream is written
    /// the same is kept, toxics and connections included; another by that name is replaced. The
    /// first failure stops the list; what was done before it stays.
    pub async fn populate(&self, list: Vec<ProxyFields>) -> Populated {
        let mut proxies = self.proxies.lock().await;
        let mut views = Vec::with_capacity(list.len());
        for fields in list {
            if let Some(existing) = proxies.get(&fields.name) {
                match existing.differs(&fields).await {
                    Ok(false) => {
                        views.push(existing.view());
                        continue;
                    }
                    Ok(true) => {}
                    Err(error) => return Populated { proxies: views, error: Some(error) },
                }
            }
            if let Some(mut replaced) = proxies.remove(&fields.name) {
                replaced.stop().await;
            }
            let mut proxy = Proxy::new(&fields);
            if fields.enabled
                && let Err(error) = proxy.start(self).await
            {
                return Populated { proxies: views, error: Some(error) };
            }
            views.push(proxy.view());
            proxies.insert(proxy.name.clone(), proxy);
        }
        Populated { proxies: views, error: None }
    }

    /// Applies `PATCH /proxies/{proxy}`: the body is read over the proxy's current listen,
    /// upstream and enabled; a new address restarts it, `enabled` starts or stops it.
    pub async fn update(&self, name: &str, body: &[u8]) -> Result<ProxyView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let current = ProxyFields {
            name: proxy.name.clone(),
            listen: proxy.listen.clone(),
            upstream: proxy.upstream.clone(),
            enabled: proxy.running.is_some(),
        };
        let input = current.decode(body)?;
        if proxy.differs(&input).await? {
            proxy.stop().await;
            proxy.listen = input.listen;
            proxy.upstream = input.upstream;
        }
        match (input.enabled, proxy.running.is_some()) {
            (true, false) => proxy.start(self).await?,
            (false, true) => proxy.stop().await,
            _ => {}
        }
        Ok(proxy.view())
    }

    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut proxy = self.proxies.lock().await.remove(name).ok_or_else(ApiError::proxy_not_found)?;
        proxy.stop().await;
        Ok(())
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            if proxy.running.is_none() {
                proxy.start(self).await?;
            }
            proxy.toxics.clear();
            proxy.apply().await;
        }
        Ok(())
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicView>, ApiError> {
        self.get(proxy).await.map(|view| view.toxics)
    }

    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<ToxicView, ApiError> {
        let proxies = self.proxies.lock().await;
        let proxy = proxies.get(proxy).ok_or_else(ApiError::proxy_not_found)?;
        proxy.find(name).map(|(toxic, _, stream)| ToxicView::new(toxic, stream)).ok_or_else(ApiError::toxic_not_found)
    }

    /// Adds the toxic a `POST /proxies/{proxy}/toxics` body describes, in Toxiproxy's order of
    /// checks: the body, the stream, the type, a duplicate name, then the attributes.
    pub async fn add_toxic(&self, proxy: &str, body: &[u8]) -> Result<ToxicView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let request = ToxicRequest::decode(body)?;
        if proxy.find(&request.name).is_some() {
            return Err(ApiError::toxic_exists());
        }
        let (direction, stream) = (request.direction, request.stream.clone());
        let toxic = Arc::new(request.into_toxic()?);
        warn_if_suspicious(&proxy.name, &toxic);
        let view = ToxicView::new(&toxic, &stream);
        proxy.toxics.push((toxic, direction, stream));
        proxy.apply().await;
        Ok(view)
    }

    pub async fn update_toxic(&self, proxy: &str, name: &str, body: &[u8]) -> Result<ToxicView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let index =
            proxy.toxics.iter().position(|(toxic, ..)| toxic.name == name).ok_or_else(ApiError::toxic_not_found)?;
        let updated = Arc::new(model::decode_toxic_update(&proxy.toxics[index].0, body)?);
        warn_if_suspicious(&proxy.name, &updated);
        let view = ToxicView::new(&updated, &proxy.toxics[index].2);
        proxy.toxics[index].0 = updated;
        proxy.apply().await;
        Ok(view)
    }

    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let index =
            proxy.toxics.iter().position(|(toxic, ..)| toxic.name == name).ok_or_else(ApiError::toxic_not_found)?;
        proxy.toxics.remove(index);
        proxy.apply().await;
        Ok(())
    }

    /// Stops every proxy, for a clean shutdown.
    pub async fn stop_all(&self) {
        for proxy in self.proxies.lock().await.values_mut() {
            proxy.stop().await;
        }
    }
}

fn warn_if_suspicious(proxy: &str, toxic: &Toxic) {
    for attribute in toxic.kind.suspicious() {
        tracing::warn!(
            proxy,
            toxic = toxic.name,
            kind = toxic.kind.type_name(),
            "toxic attribute {attribute} is zero or less"
        );
    }
    if toxic.toxicity <= 0.0 {
        tracing::warn!(proxy, toxic = toxic.name, "toxicity {} never applies the toxic", toxic.toxicity);
    }
}

impl Proxy {
    fn new(fields: &ProxyFields) -> Self {
        Self {
            name: fields.name.clone(),
            listen: fields.listen.clone(),
            upstream: fields.upstream.clone(),
            toxics: Vec::new(),
            running: None,
        }
    }

    fn find(&self, name: &str) -> Option<&(Arc<Toxic>, Direction, String)> {
        self.toxics.iter().find(|(toxic, ..)| toxic.name == name)
    }

    fn chains(&self) -> Chains {
        let mut chains = Chains::default();
        for (toxic, direction, _) in &self.toxics {
            chains.of_mut(*direction).push(Arc::clone(toxic));
        }
        chains
    }

    fn view(&self) -> ProxyView {
        // Toxiproxy lists the upstream chain, then the downstream one.
        let toxics = Direction::BOTH
            .into_iter()
            .flat_map(|direction| self.toxics.iter().filter(move |(_, of, _)| *of == direction))
            .map(|(toxic, _, stream)| ToxicView::new(toxic, stream))
            .collect();
        ProxyView {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics,
        }
    }

    /// Toxiproxy's `Proxy.Differs`: whether `input` names another listen address, once resolved
    /// (so `localhost:7070` is `127.0.0.1:7070`), or another upstream, compared as written (so
    /// `localhost:6379` is not `127.0.0.1:6379`). An input listen that cannot be resolved is an
    /// error, as there.
    async fn differs(&self, input: &ProxyFields) -> Result<bool, ApiError> {
        let listen = resolve_address(&input.listen).await.map_err(ApiError::internal)?;
        Ok(!(self.listen == listen && self.upstream == input.upstream))
    }

    async fn start(&mut self, store: &ProxyStore) -> Result<(), ApiError> {
        let spec = ProxySpec {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            seed: store.seed,
            metrics: store.metrics.clone(),
        };
        let running = RunningProxy::start(spec, Arc::new(self.chains())).await.map_err(ApiError::internal)?;
        self.listen = running.listen.to_string();
        self.running = Some(running);
        Ok(())
    }

    /// Closes the listener (new connects are refused once this returns) and every connection.
    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Brings the open connections in line with the toxics.
    async fn apply(&self) {
        if let Some(running) = &self.running {
            running.set_toxics(Arc::new(self.chains())).await;
        }
    }
}
