//! Who a request comes from, for rate limits and logs.
//!
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the address it saw, so
//! the client is the entry `hops` from the end. Entries further left were written by the client
//! itself and prove nothing; a client that prepends a forged address gains nothing.

use std::net::IpAddr;

/// The client address in `x_forwarded_for` behind `hops` trusted proxies, or `None` when no
/// proxy is trusted or the header is shorter than the chain it should have crossed.
pub fn from_forwarded_for(x_forwarded_for: &str, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    x_forwarded_for
        .rsplit(',')
        .nth(hops - 1)
        .and_then(|entry| entry.trim().parse().ok())
}

/// The key of a client in rate-limit buckets: the address itself for IPv4, its /64 network for
/// IPv6, since one subscriber gets a whole /64 and could otherwise rotate through 2^64 buckets.
pub fn bucket(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1_u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_read_from_the_right_at_the_hop_count() {
        let header = "203.0.113.9, 198.51.100.7, 10.0.0.2";
        assert_eq!(from_forwarded_for(header, 0), None);
        assert_eq!(from_forwarded_for(header, 1), "10.0.0.2".parse().ok());
        assert_eq!(from_forwarded_for(header, 2), "198.51.100.7".parse().ok());
        assert_eq!(
            from_forwarded_for(header, 4),
            None,
            "shorter than the chain"
        );
        assert_eq!(from_forwarded_for("not-an-ip", 1), None);
    }

    #[test]
    fn ipv6_clients_share_their_64_and_ipv4_stays_whole() {
        let a = bucket("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = bucket("2001:db8:1:2:ffff:1:2:3".parse().expect("ip"));
        let other = bucket("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, other);
        assert_eq!(bucket("192.0.2.1".parse().expect("ip")), "192.0.2.1");
        assert_eq!(bucket("::ffff:192.0.2.1".parse().expect("ip")), "192.0.2.1");
    }
}
