//! When an allow-list is as public as `0.0.0.0/0`: the rule is on the union of its ranges, so that
//! the internet cut into pieces (`0.0.0.0/1` and `128.0.0.0/1`) counts as what it is.
//!
//! A set of ranges is public when, counting each address once, it holds at least a /8's worth of
//! public IPv4 addresses (16,777,216), leaving out space that is never routed on the internet
//! (private, shared, loopback, link-local, documentation, benchmarking, multicast, reserved), or
//! at least a /32's worth of global IPv6 unicast (`2000::/3`).

use std::net::IpAddr;

use ipnet::IpNet;

/// A /8's worth of IPv4 addresses.
pub(super) const PUBLIC_IPV4_LIMIT: u128 = 1 << 24;
/// A /32's worth of IPv6 addresses.
pub(super) const PUBLIC_IPV6_LIMIT: u128 = 1 << 96;

/// IPv4 space that the internet never routes (RFC 6890 and friends).
const NOT_PUBLIC_IPV4: [&str; 14] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// Public addresses covered by `ranges`, by family, each counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicReach {
    pub ipv4: u128,
    pub ipv6: u128,
}

impl PublicReach {
    pub fn of(ranges: &[IpNet]) -> Self {
        let family = |v4: bool| merge(ranges.iter().filter(|net| matches!(net, IpNet::V4(_)) == v4).map(bounds));
        let (v4, v6) = (family(true), family(false));
        let not_public = merge(NOT_PUBLIC_IPV4.iter().map(|net| bounds(&net.parse().expect("a valid CIDR"))));
        let global_unicast = bounds(&"2000::/3".parse().expect("a valid CIDR"));
        Self { ipv4: size(&v4) - size(&intersect(&v4, &not_public)), ipv6: size(&intersect(&v6, &[global_unicast])) }
    }

    pub fn is_public(self) -> bool {
        self.ipv4 >= PUBLIC_IPV4_LIMIT || self.ipv6 >= PUBLIC_IPV6_LIMIT
    }
}

/// First and last address of a range, as numbers.
fn bounds(net: &IpNet) -> (u128, u128) {
    let number = |address: IpAddr| match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    (number(net.network()), number(net.broadcast()))
}

/// Sorted, disjoint, inclusive intervals.
fn merge(intervals: impl Iterator<Item = (u128, u128)>) -> Vec<(u128, u128)> {
    let mut sorted: Vec<(u128, u128)> = intervals.collect();
    sorted.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn intersect(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut both = Vec::new();
    for &(a_start, a_end) in a {
        for &(b_start, b_end) in b {
            let (start, end) = (a_start.max(b_start), a_end.min(b_end));
            if start <= end {
                both.push((start, end));
            }
        }
    }
    merge(both.into_iter())
}

fn size(intervals: &[(u128, u128)]) -> u128 {
    intervals.iter().fold(0_u128, |total, (start, end)| total.saturating_add((end - start).saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn reach(ranges: &[&str]) -> PublicReach {
        PublicReach::of(&ranges.iter().map(|range| range.parse().unwrap()).collect::<Vec<_>>())
    }

    #[rstest]
    #[case::everything(&["0.0.0.0/0"])]
    #[case::two_halves(&["0.0.0.0/1", "128.0.0.0/1"])]
    #[case::a_public_slash_8(&["51.0.0.0/8"])]
    #[case::two_public_slash_9s(&["51.0.0.0/9", "51.128.0.0/9"])]
    #[case::sixteen_public_slash_12s_that_overlap_nothing_private(&["32.0.0.0/12", "32.16.0.0/12", "32.32.0.0/12", "32.48.0.0/12", "32.64.0.0/12", "32.80.0.0/12", "32.96.0.0/12", "32.112.0.0/12", "32.128.0.0/12", "32.144.0.0/12", "32.160.0.0/12", "32.176.0.0/12", "32.192.0.0/12", "32.208.0.0/12", "32.224.0.0/12", "32.240.0.0/12"])]
    #[case::all_of_ipv6(&["::/0"])]
    #[case::a_slash_32_of_global_ipv6(&["2a01:4f8::/32"])]
    fn ranges_that_together_reach_a_large_part_of_the_internet_are_public(#[case] ranges: &[&str]) {
        assert!(reach(ranges).is_public(), "{:?}", reach(ranges));
    }

    #[rstest]
    #[case::one_office(&["51.159.10.0/24"])]
    #[case::all_of_rfc1918(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])]
    #[case::a_slash_9_of_public_space(&["51.0.0.0/9"])]
    #[case::the_same_slash_9_twice(&["51.0.0.0/9", "51.0.0.0/9"])]
    #[case::multicast_and_reserved_space(&["224.0.0.0/3"])]
    #[case::a_slash_48_of_ipv6(&["2a01:4f8:1::/48"])]
    fn ranges_that_reach_less_are_not(#[case] ranges: &[&str]) {
        assert!(!reach(ranges).is_public(), "{:?}", reach(ranges));
    }

    #[test]
    fn each_address_counts_once_and_private_space_not_at_all() {
        assert_eq!(reach(&["0.0.0.0/1", "0.0.0.0/2"]).ipv4, reach(&["0.0.0.0/1"]).ipv4);
        assert_eq!(reach(&["10.0.0.0/8"]).ipv4, 0);
        assert_eq!(reach(&["51.159.10.0/24", "51.159.10.128/25"]).ipv4, 256);
    }
}
