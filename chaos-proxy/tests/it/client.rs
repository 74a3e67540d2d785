//! Conformance through `toxiproxy_rust`, the client named in the project's design. It is a
//! blocking client, so every call runs off the async runtime.

use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

use crate::support::{ProxyServer, echo_server, round_trip};

/// Runs `work` with a fresh client on a blocking thread. The client owns a runtime of its own,
/// which must also be dropped off the async runtime.
async fn blocking<T: Send + 'static>(
    server: std::net::SocketAddr,
    work: impl FnOnce(&Client) -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || work(&Client::new(server))).await.expect("the client call does not panic")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_toxiproxy_rust_client_drives_the_whole_lifecycle() {
    let server = ProxyServer::start().await;
    let echo = echo_server().await;
    let (running, version) = blocking(server.addr, |client| (client.is_running(), client.version())).await;
    assert!(running);
    assert!(version.unwrap().contains("2.12.0"));

    let proxies = blocking(server.addr, move |client| {
        client.populate(vec![ProxyPack::new("echo".into(), "127.0.0.1:0".into(), echo.to_string())])
    })
    .await
    .expect("populate succeeds");
    assert_eq!(proxies.len(), 1);
    let listen = proxies[0].proxy_pack.listen.clone();

    let toxics = blocking(server.addr, |client| {
        let proxy = client.find_proxy("echo")?;
        proxy.with_latency("downstream".into(), 50, 0, 1.0).with_timeout("upstream".into(), 5_000, 0.5);
        proxy.toxics()
    })
    .await
    .expect("toxics are listed");
    let mut names: Vec<_> = toxics.iter().map(|toxic| toxic.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["latency_downstream", "timeout_upstream"]);

    let mut stream = tokio::net::TcpStream::connect(&listen).await.unwrap();
    let (down, up) = blocking(server.addr, move |client| {
        let proxy = client.find_proxy("echo").unwrap();
        proxy.delete_all_toxics().unwrap();
        let mut refused_while_down = false;
        proxy
            .with_down(|| refused_while_down = std::net::TcpStream::connect(&listen).is_err())
            .expect("disable and enable succeed");
        (refused_while_down, std::net::TcpStream::connect(&listen).is_ok())
    })
    .await;
    assert!(down, "with_down disables the proxy");
    assert!(up, "and enables it again");
    assert!(round_trip(&mut stream, b"x", std::time::Duration::from_secs(1)).await.is_err(), "disabling closed it");

    let all = blocking(server.addr, |client| {
        client.reset()?;
        client.all()
    })
    .await
    .expect("reset and list succeed");
    assert!(all["echo"].proxy_pack.enabled);
    assert!(all["echo"].proxy_pack.toxics.is_empty());
}
