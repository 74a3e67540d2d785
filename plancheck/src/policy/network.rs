//! The private network as a plan leaves it: its subnets, Redis's addresses in it, and what a
//! host, or a value that holds one, is to Redis.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

use super::{PRIVATE_NETWORK, REDIS, is_rfc1918};
use crate::plan::EndResource;

/// The port Redis answers on, on every endpoint Scaleway gives it.
pub(crate) const REDIS_PORT: u64 = 6379;

/// Subnets of the private networks, and Redis's private addresses with the cluster of each.
pub(crate) struct Network {
    pub subnets: Vec<Ipv4Net>,
    pub redis: Vec<(Ipv4Addr, String)>,
}

/// What a host is to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// One of Redis's private addresses: the cluster's.
    Redis(String),
    /// Anything else, and why it is not Redis's private endpoint.
    Elsewhere(String),
}

impl Network {
    pub(crate) fn of(end: &[EndResource<'_, '_>]) -> Self {
        let subnets = end
            .iter()
            .filter(|resource| resource.kind() == PRIVATE_NETWORK)
            .filter_map(|resource| resource.value_at(&["ipv4_subnet", "0", "subnet"]).as_str()?.parse().ok())
            .collect();
        let mut redis = Vec::new();
        for cluster in end.iter().filter(|resource| resource.kind() == REDIS) {
            let networks = cluster.value_at(&["private_network"]).as_array().cloned().unwrap_or_default();
            let service_ips =
                networks.iter().flat_map(|network| network["service_ips"].as_array().cloned().unwrap_or_default());
            let private_ips = cluster.value_at(&["private_ip"]).as_array().cloned().unwrap_or_default();
            let addresses = service_ips
                .filter_map(|ip| ip.as_str().and_then(|ip| ip.parse::<Ipv4Net>().ok()).map(|net| net.addr()))
                .chain(private_ips.iter().filter_map(|ip| ip["address"].as_str()?.parse::<Ipv4Addr>().ok()));
            for address in addresses {
                if !redis.iter().any(|(known, _)| *known == address) {
                    redis.push((address, cluster.address().to_owned()));
                }
            }
        }
        Self { subnets, redis }
    }

    /// What `host` (an address or a name) is to Redis.
    pub(crate) fn host(&self, host: &str) -> Host {
        let host = host.trim_matches(['[', ']']);
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) => {
                if let Some((_, cluster)) = self.redis.iter().find(|(known, _)| *known == address) {
                    return Host::Redis(cluster.clone());
                }
                Host::Elsewhere(if !is_rfc1918(address) {
                    format!("{address} is a public address")
                } else if !self.subnets.is_empty() && !self.subnets.iter().any(|subnet| subnet.contains(&address)) {
                    format!("{address} is outside the private network {:?}", self.subnets)
                } else if self.redis.is_empty() {
                    // Redis's addresses are known only after apply: a private address in the
                    // subnet is all that can be said.
                    return Host::Redis("(Redis, whose addresses are known only after apply)".to_owned());
                } else {
                    let known: Vec<String> = self.redis.iter().map(|(address, _)| address.to_string()).collect();
                    format!("{address} is not Redis's private endpoint [{}]", known.join(", "))
                })
            }
            Ok(IpAddr::V6(address)) => Host::Elsewhere(format!("{address} is not on the IPv4 private network")),
            Err(_) => Host::Elsewhere(format!("{host:?} is a name, not Redis's private endpoint address")),
        }
    }

    /// Redis's addresses that `text` holds, as whole addresses (`172.16.0.10`, not
    /// `172.16.0.100`).
    pub(crate) fn redis_in<'n>(&'n self, text: &str) -> Vec<&'n (Ipv4Addr, String)> {
        self.redis.iter().filter(|(address, _)| holds(text, &address.to_string())).collect()
    }
}

/// Whether `text` holds `address` as a whole.
fn holds(text: &str, address: &str) -> bool {
    let digit = |c: char| c.is_ascii_digit();
    text.match_indices(address).any(|(at, _)| {
        let (before, after) = (&text[..at], &text[at + address.len()..]);
        let extends_before =
            before.ends_with(digit) || (before.ends_with('.') && before[..before.len() - 1].ends_with(digit));
        let extends_after = after.starts_with(digit) || (after.starts_with('.') && after[1..].starts_with(digit));
        !extends_before && !extends_after
    })
}

/// The hosts a known piece of text names: IPv4 addresses, and names with a dot. User names,
/// ports, schemes and flags name no host.
pub(crate) fn hosts_in(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    let text = text.rsplit_once('@').map_or(text, |(_, host)| host);
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))) {
        let token = token.trim_matches(['.', ':']);
        let host = token
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(token, |(host, _)| host);
        if host.parse::<Ipv4Addr>().is_ok()
            || (host.contains('.') && host.chars().any(|c| c.is_ascii_alphabetic()) && !host.contains('_'))
        {
            hosts.push(host.to_owned());
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_found_whole() {
        assert!(holds("TCP:172.16.0.10:6379", "172.16.0.10"));
        assert!(holds("\"172.16.0.10\"", "172.16.0.10"));
        assert!(!holds("172.16.0.100", "172.16.0.10"));
        assert!(!holds("10.172.16.0.10", "172.16.0.10"));
    }

    #[test]
    fn known_pieces_name_hosts_only_where_they_do() {
        assert_eq!(hosts_in("redis://gift_genie@51.159.10.20:6379/0"), ["51.159.10.20"]);
        assert_eq!(hosts_in("gift_genie"), Vec::<String>::new());
        assert_eq!(hosts_in("6379"), Vec::<String>::new());
        assert_eq!(hosts_in("redis.example.com"), ["redis.example.com"]);
        assert_eq!(hosts_in("false"), Vec::<String>::new());
    }
}
