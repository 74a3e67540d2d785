//! Which address a request comes from, for rate limiting.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// Why `X-Forwarded-For` could not name the client, so that the peer address stands in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Untrusted {
    /// The entry the trusted proxies point at is not an address.
    Unparsable,
    /// Fewer entries than trusted proxies: some proxy did not append, or the header is missing.
    ShortChain,
}

impl Untrusted {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Unparsable => "unparsable",
            Self::ShortChain => "short_chain",
        }
    }
}

/// The client's address: the socket peer, unless `trusted_proxy_hops` reverse proxies sit in front
/// of the service. Each trusted proxy appends the address it saw to `X-Forwarded-For`, so the
/// client is the entry `trusted_proxy_hops` from the right. Entries further left were written by
/// the client itself and prove nothing, so when that entry is missing or unreadable the answer is
/// an error, and the caller falls back to the peer: never to an entry the client chose.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxy_hops: usize) -> Result<IpAddr, Untrusted> {
    if trusted_proxy_hops == 0 {
        return Ok(peer);
    }
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    let entry = chain.iter().rev().nth(trusted_proxy_hops - 1).ok_or(Untrusted::ShortChain)?;
    parse_entry(entry).ok_or(Untrusted::Unparsable)
}

/// An address as proxies write it: bare, with a port (`203.0.113.7:4711`), or bracketed IPv6 with
/// or without one (`[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PEER: &str = "10.0.0.1";

    fn client(hops: usize, forwarded: &[&str]) -> Result<IpAddr, Untrusted> {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        client_ip(PEER.parse().unwrap(), &headers, hops)
    }

    #[rstest]
    #[case::no_trusted_proxy_ignores_the_header(0, &["203.0.113.9"], PEER)]
    #[case::one_proxy_takes_the_rightmost_entry(1, &["198.51.100.7, 203.0.113.9"], "203.0.113.9")]
    #[case::two_proxies_skip_the_nearest_one(2, &["198.51.100.7, 203.0.113.9, 10.1.1.1"], "203.0.113.9")]
    #[case::entries_may_span_several_headers(2, &["198.51.100.7", "203.0.113.9"], "198.51.100.7")]
    #[case::ipv6_entries_are_understood(1, &["2001:db8::1"], "2001:db8::1")]
    #[case::an_ipv4_entry_may_carry_a_port(1, &["203.0.113.7:4711"], "203.0.113.7")]
    #[case::a_bracketed_ipv6_entry_may_carry_a_port(1, &["[2001:db8::1]:443"], "2001:db8::1")]
    #[case::a_bracketed_ipv6_entry_may_come_without(1, &["[2001:db8::1]"], "2001:db8::1")]
    fn client_ip_trusts_only_the_configured_number_of_proxies(
        #[case] hops: usize,
        #[case] forwarded: &[&str],
        #[case] expected: &str,
    ) {
        assert_eq!(client(hops, forwarded), Ok(expected.parse().unwrap()));
    }

    #[rstest]
    #[case::a_short_chain(3, &["203.0.113.9"], Untrusted::ShortChain)]
    #[case::no_header(1, &[], Untrusted::ShortChain)]
    #[case::garbage(1, &["not-an-ip"], Untrusted::Unparsable)]
    #[case::garbage_where_the_client_should_be(2, &["not-an-ip, 10.1.1.1"], Untrusted::Unparsable)]
    #[case::an_unclosed_bracket(1, &["[2001:db8::1"], Untrusted::Unparsable)]
    fn a_chain_that_cannot_name_the_client_says_why(
        #[case] hops: usize,
        #[case] forwarded: &[&str],
        #[case] expected: Untrusted,
    ) {
        assert_eq!(client(hops, forwarded), Err(expected));
    }
}
