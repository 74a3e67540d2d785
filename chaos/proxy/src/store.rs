//! The proxies the server manages, each driven by a noxious proxy runner.
//!
//! Every change is validated in full before anything is touched, so a bad request leaves the
//! state as it was. One lock serialises changes, as Toxiproxy's collection locks do.

use std::collections::BTreeMap;

use noxious::proxy::{ProxyConfig, ProxyRunner, Runner as _, Toxics};
use noxious::signal::{Close, Stop, Stopper};
use noxious::socket::TcpListener;
use noxious::toxic::{StreamDirection, Toxic, ToxicEvent, ToxicEventKind, ToxicEventResult};
use tokio::sync::Mutex;

use crate::error::ApiError;
use crate::model::{ProxyInput, ProxyPatch, ProxyView, ToxicInput, ToxicPatch, ToxicView, normalize_listen};

#[derive(Debug, Default)]
pub struct ProxyStore {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    /// `-seed`: makes toxicity and jitter draws repeatable.
    seed: Option<u64>,
}

#[derive(Debug)]
struct Proxy {
    name: String,
    /// The requested address until the proxy first listens, then the address it bound.
    listen: String,
    upstream: String,
    /// In the order they were added; the engine keeps one chain per direction.
    toxics: Vec<Toxic>,
    running: Option<Running>,
}

/// A listening proxy: the handles that change its toxics and stop it.
#[derive(Debug)]
struct Running {
    events: bmrng::RequestSender<ToxicEvent, ToxicEventResult>,
    stopper: Stopper,
    stopped: Close,
}

impl ProxyStore {
    pub fn new(seed: Option<u64>) -> Self {
        Self { proxies: Mutex::default(), seed }
    }

    pub async fn list(&self) -> BTreeMap<String, ProxyView> {
        self.proxies.lock().await.iter().map(|(name, proxy)| (name.clone(), proxy.view())).collect()
    }

    pub async fn get(&self, name: &str) -> Result<ProxyView, ApiError> {
        self.proxies.lock().await.get(name).map(Proxy::view).ok_or_else(ApiError::proxy_not_found)
    }

    pub async fn create(&self, input: ProxyInput) -> Result<ProxyView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut proxy = Proxy::from_input(&input, "")?;
        if proxies.contains_key(&proxy.name) {
            return Err(ApiError::proxy_exists());
        }
        if input.enabled.unwrap_or(true) {
            proxy.start(self.seed).await?;
        }
        let view = proxy.view();
        proxies.insert(proxy.name.clone(), proxy);
        Ok(view)
    }

    /// Creates or replaces several proxies at once. Proxies whose listen and upstream addresses
    /// are unchanged are kept as they are, connections and toxics included.
    pub async fn populate(&self, inputs: Vec<ProxyInput>) -> Result<Vec<ProxyView>, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut planned = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.iter().enumerate() {
            let proxy = Proxy::from_input(input, &format!(" at proxy {}", index + 1))?;
            if planned.iter().any(|(other, _): &(Proxy, bool)| other.name == proxy.name) {
                return Err(ApiError::bad_request_body(&format!("duplicate proxy name {:?}", proxy.name)));
            }
            planned.push((proxy, input.enabled.unwrap_or(true)));
        }
        let mut views = Vec::with_capacity(planned.len());
        for (mut proxy, enabled) in planned {
            if let Some(existing) = proxies.get(&proxy.name)
                && existing.listen == normalize_listen(&proxy.listen)
                && existing.upstream == proxy.upstream
            {
                views.push(existing.view());
                continue;
            }
            if let Some(mut replaced) = proxies.remove(&proxy.name) {
                replaced.stop().await;
            }
            if enabled {
                proxy.start(self.seed).await?;
            }
            views.push(proxy.view());
            proxies.insert(proxy.name.clone(), proxy);
        }
        Ok(views)
    }

    pub async fn update(&self, name: &str, patch: ProxyPatch) -> Result<ProxyView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let listen = patch.listen.map_or_else(|| proxy.listen.clone(), |listen| normalize_listen(&listen));
        let upstream = patch.upstream.unwrap_or_else(|| proxy.upstream.clone());
        if upstream.is_empty() {
            return Err(ApiError::missing_field("upstream"));
        }
        let enabled = patch.enabled.unwrap_or(proxy.running.is_some());
        if listen != proxy.listen || upstream != proxy.upstream {
            proxy.stop().await;
            proxy.listen = listen;
            proxy.upstream = upstream;
        }
        match (enabled, proxy.running.is_some()) {
            (true, false) => proxy.start(self.seed).await?,
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
            let names: Vec<String> = proxy.toxics.iter().map(|toxic| toxic.name.clone()).collect();
            for name in names {
                proxy.remove_toxic(&name).await?;
            }
            if proxy.running.is_none() {
                proxy.start(self.seed).await?;
            }
        }
        Ok(())
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicView>, ApiError> {
        self.get(proxy).await.map(|view| view.toxics)
    }

    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<ToxicView, ApiError> {
        self.toxics(proxy).await?.into_iter().find(|toxic| toxic.name == name).ok_or_else(ApiError::toxic_not_found)
    }

    pub async fn add_toxic(&self, proxy: &str, input: ToxicInput) -> Result<ToxicView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let toxic = input.into_toxic()?;
        if proxy.toxics.iter().any(|existing| existing.name == toxic.name) {
            return Err(ApiError::toxic_exists());
        }
        proxy.send(ToxicEventKind::AddToxic(toxic.clone())).await?;
        let view = ToxicView::from(&toxic);
        proxy.toxics.push(toxic);
        Ok(view)
    }

    pub async fn update_toxic(&self, proxy: &str, name: &str, patch: ToxicPatch) -> Result<ToxicView, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        let index = proxy.toxics.iter().position(|toxic| toxic.name == name).ok_or_else(ApiError::toxic_not_found)?;
        let updated = patch.apply(&proxy.toxics[index])?;
        proxy.send(ToxicEventKind::UpdateToxic(updated.clone())).await?;
        let view = ToxicView::from(&updated);
        proxy.toxics[index] = updated;
        Ok(view)
    }

    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(proxy).ok_or_else(ApiError::proxy_not_found)?;
        proxy.remove_toxic(name).await
    }

    /// Stops every proxy, for a clean shutdown.
    pub async fn stop_all(&self) {
        for proxy in self.proxies.lock().await.values_mut() {
            proxy.stop().await;
        }
    }
}

impl Proxy {
    /// Validates the fields every proxy needs; `position` locates the proxy in a populate list.
    fn from_input(input: &ProxyInput, position: &str) -> Result<Self, ApiError> {
        if input.name.is_empty() {
            return Err(ApiError::missing_field(&format!("name{position}")));
        }
        if input.upstream.is_empty() {
            return Err(ApiError::missing_field(&format!("upstream{position}")));
        }
        Ok(Self {
            name: input.name.clone(),
            listen: normalize_listen(&input.listen),
            upstream: input.upstream.clone(),
            toxics: Vec::new(),
            running: None,
        })
    }

    fn view(&self) -> ProxyView {
        let in_chain_order = self
            .toxics
            .iter()
            .filter(|toxic| toxic.direction == StreamDirection::Upstream)
            .chain(self.toxics.iter().filter(|toxic| toxic.direction == StreamDirection::Downstream));
        ProxyView {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics: in_chain_order.map(ToxicView::from).collect(),
        }
    }

    /// Binds the listen address and starts accepting clients with the current toxics.
    async fn start(&mut self, seed: Option<u64>) -> Result<(), ApiError> {
        let config = ProxyConfig {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: true,
            rand_seed: seed,
        };
        let toxics = Toxics {
            upstream: self.toxics.iter().filter(|t| t.direction == StreamDirection::Upstream).cloned().collect(),
            downstream: self.toxics.iter().filter(|t| t.direction == StreamDirection::Downstream).cloned().collect(),
        };
        let (listener, info) = ProxyRunner::initialize_proxy::<TcpListener>(config, toxics)
            .await
            .map_err(|error| ApiError::listen(&self.listen, &error))?;
        self.listen.clone_from(&info.config.listen);
        let (events, receiver) = bmrng::channel(1);
        let (stop, stopper) = Stop::new();
        let (listener_closed, closer) = Close::new();
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(error) = ProxyRunner::run_proxy(listener, info, receiver, stop, closer).await {
                tracing::error!(proxy = name, %error, "proxy stopped accepting clients");
            }
        });
        tracing::info!(proxy = self.name, listen = self.listen, upstream = self.upstream, "started proxy");
        self.running = Some(Running { events, stopper, stopped: listener_closed });
        Ok(())
    }

    /// Closes the listener and every connection; returns once the listener is closed, so that new
    /// connects are refused from then on.
    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stopper.stop();
            let _ = running.stopped.recv().await;
            tracing::info!(proxy = self.name, "stopped proxy");
        }
    }

    /// Applies a toxic change to the open connections. A stopped proxy picks the toxics up when
    /// it starts again.
    async fn send(&self, kind: ToxicEventKind) -> Result<(), ApiError> {
        let Some(running) = &self.running else { return Ok(()) };
        match running.events.send_receive(ToxicEvent::new(self.name.clone(), kind)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ApiError::internal(format!("the proxy engine refused the change: {error}"))),
            Err(_) => Err(ApiError::internal("the proxy engine stopped unexpectedly")),
        }
    }

    async fn remove_toxic(&mut self, name: &str) -> Result<(), ApiError> {
        let index = self.toxics.iter().position(|toxic| toxic.name == name).ok_or_else(ApiError::toxic_not_found)?;
        self.send(ToxicEventKind::RemoveToxic(name.to_owned())).await?;
        self.toxics.remove(index);
        Ok(())
    }
}
