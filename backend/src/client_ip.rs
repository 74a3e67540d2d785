//! Which address a request comes from, for rate limiting.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client's address: the socket peer, unless `trusted_proxy_hops` reverse proxies sit in front
/// of the service. Each trusted proxy appends the address it saw to `X-Forwarded-For`, so the
/// client is the entry `trusted_proxy_hops` from the right. Entries further left were written by
/// the client itself and prove nothing.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxy_hops: usize) -> IpAddr {
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    let Some(entry) = chain.iter().rev().nth(trusted_proxy_hops - 1).or(chain.first()) else {
        return peer;
    };
    entry.parse().unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PEER: &str = "10.0.0.1";

    #[rstest]
    #[case::no_trusted_proxy_ignores_the_header(0, &["203.0.113.9"], PEER)]
    #[case::one_proxy_takes_the_rightmost_entry(1, &["198.51.100.7, 203.0.113.9"], "203.0.113.9")]
    #[case::two_proxies_skip_the_nearest_one(2, &["198.51.100.7, 203.0.113.9, 10.1.1.1"], "203.0.113.9")]
    #[case::entries_may_span_several_headers(2, &["198.51.100.7", "203.0.113.9"], "198.51.100.7")]
    #[case::a_short_chain_falls_back_to_its_first_entry(3, &["203.0.113.9"], "203.0.113.9")]
    #[case::no_header_falls_back_to_the_peer(1, &[], PEER)]
    #[case::garbage_falls_back_to_the_peer(1, &["not-an-ip"], PEER)]
    #[case::ipv6_entries_are_understood(1, &["2001:db8::1"], "2001:db8::1")]
    fn client_ip_trusts_only_the_configured_number_of_proxies(
        #[case] hops: usize,
        #[case] forwarded: &[&str],
        #[case] expected: &str,
    ) {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        assert_eq!(client_ip(PEER.parse().unwrap(), &headers, hops), expected.parse::<IpAddr>().unwrap());
    }
}
