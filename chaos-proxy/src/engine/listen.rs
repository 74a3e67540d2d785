//! A proxy's listen address, bound as Go's `net.Listen("tcp", address)` binds it, and refused with
//! the message Go gives, which Toxiproxy's clients show and match on:
//! `listen tcp 127.0.0.1:3310: bind: address already in use`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

/// Binds `address` (`host:port`, `:port` or empty for every interface, a name resolved to its
/// first IPv4 address as Go prefers for listening).
pub(crate) async fn bind(address: &str) -> Result<TcpListener, String> {
    let (host, port) = host_and_port(address).map_err(|problem| format!("listen tcp: {problem}"))?;
    let port = parse_port(port).map_err(|problem| format!("listen tcp: {problem}"))?;
    let ip = match host {
        "" => None,
        host => Some(resolve(host).await.map_err(|problem| format!("listen tcp: {problem}"))?),
    };
    let shown = join_host_port(ip, port);
    listen(ip, port).map_err(|error| format!("listen tcp {shown}: bind: {}", go_errno_text(&error)))
}

/// An address as Go's `net.ResolveTCPAddr` gives it back: the first IPv4 address of a name, no
/// host for every interface. What `Proxy.Differs` compares.
pub async fn resolve_address(address: &str) -> Result<String, String> {
    let (host, port) = host_and_port(address)?;
    let port = parse_port(port)?;
    let ip = match host {
        "" => None,
        host => Some(resolve(host).await?),
    };
    Ok(join_host_port(ip, port))
}

/// The host and port of a listen address as Go's resolver takes them apart: an empty address is
/// no host and no port (every interface, a free port), and is never split.
fn host_and_port(address: &str) -> Result<(&str, &str), String> {
    if address.is_empty() { Ok(("", "")) } else { split_host_port(address) }
}

/// Go's `net.SplitHostPort`, with its messages.
fn split_host_port(address: &str) -> Result<(&str, &str), String> {
    let problem = |what: &str| format!("address {address}: {what}");
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| problem("missing ']' in address"))?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, port)),
            None if after.is_empty() => Err(problem("missing port in address")),
            None => Err(problem("too many colons in address")),
        };
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(|| problem("missing port in address"))?;
    if host.contains(':') {
        return Err(problem("too many colons in address"));
    }
    Ok((host, port))
}

/// A port as Go reads one: a number up to 65535, or nothing for any free port.
fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Ok(0);
    }
    if port.bytes().all(|byte| byte.is_ascii_digit()) {
        return port.parse().map_err(|_| format!("address {port}: invalid port"));
    }
    Err(format!("lookup tcp/{port}: unknown port"))
}

async fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let found: Vec<SocketAddr> =
        tokio::net::lookup_host((host, 0)).await.map_err(|_| format!("lookup {host}: no such host"))?.collect();
    found
        .iter()
        .find(|address| address.is_ipv4())
        .or(found.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| format!("lookup {host}: no such host"))
}

/// `ip:port` as Go prints it: IPv6 in brackets, nothing for every interface.
fn join_host_port(ip: Option<IpAddr>, port: u16) -> String {
    match ip {
        None => format!(":{port}"),
        Some(IpAddr::V4(ip)) => format!("{ip}:{port}"),
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
    }
}

fn listen(ip: Option<IpAddr>, port: u16) -> std::io::Result<TcpListener> {
    match ip {
        Some(ip) => socket(SocketAddr::new(ip, port)),
        // Every interface: dual-stack IPv6 where the host has it, as Go does, else IPv4.
        None => socket(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)).or_else(|error| {
            match error.raw_os_error() {
                Some(EAFNOSUPPORT | EADDRNOTAVAIL) => socket(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
                _ => Err(error),
            }
        }),
    }
}

fn socket(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // As Go's listeners do: a proxy disabled and enabled again gets its port back at once.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

// Linux's errno values for "no IPv6 here", rather than a libc dependency for two constants.
const EAFNOSUPPORT: i32 = 97;
const EADDRNOTAVAIL: i32 = 99;

/// The text Go's `syscall.Errno.Error` gives: the C library's message, lower-cased at the start,
/// without Rust's `(os error N)`.
fn go_errno_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::no_colon("local373", "listen tcp: address local373: missing port in address")]
    #[case::port_too_large("127.0.0.1:99999", "listen tcp: address 99999: invalid port")]
    #[case::named_port("127.0.0.1:redis", "listen tcp: lookup tcp/redis: unknown port")]
    #[case::bare_ipv6("::1:80", "listen tcp: address ::1:80: too many colons in address")]
    #[case::unclosed_bracket("[::1:80", "listen tcp: address [::1:80: missing ']' in address")]
    #[tokio::test]
    async fn a_bad_address_is_refused_in_gos_words(#[case] address: &str, #[case] expected: &str) {
        assert_eq!(bind(address).await.unwrap_err(), expected);
    }

    #[tokio::test]
    async fn a_taken_port_is_refused_with_the_resolved_address_as_go_prints_it() {
        let taken = bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        assert_eq!(
            bind(&format!("localhost:{port}")).await.unwrap_err(),
            format!("listen tcp 127.0.0.1:{port}: bind: address already in use")
        );
    }

    #[tokio::test]
    async fn an_address_resolves_as_go_resolves_it() {
        assert_eq!(resolve_address("localhost:7070").await.unwrap(), "127.0.0.1:7070");
        assert_eq!(resolve_address(":7070").await.unwrap(), ":7070");
        assert_eq!(resolve_address("[::1]:7070").await.unwrap(), "[::1]:7070");
        assert_eq!(resolve_address("").await.unwrap(), ":0", "Go's ResolveTCPAddr of nothing");
    }

    #[tokio::test]
    async fn an_empty_host_or_address_listens_on_every_interface() {
        for address in [":0", ""] {
            let listener = bind(address).await.unwrap();
            assert!(listener.local_addr().unwrap().ip().is_unspecified(), "{address:?}");
            assert_ne!(listener.local_addr().unwrap().port(), 0, "{address:?}");
        }
    }
}
