//! Which peers are reverse proxies, whose `X-Forwarded-For` says who the client really is. Given as addresses
//! and CIDR ranges (HOMEWATCH_TRUSTED_PROXIES); anything else that sends the header is not believed.

use std::{borrow::Cow, net::IpAddr, str::FromStr};

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            network: IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(first: u16, prefix: u8) -> Self {
        Self {
            network: IpAddr::V6(std::net::Ipv6Addr::new(first, 0, 0, 0, 0, 0, 0, 0)),
            prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or a range such as 10.0.0.0/8"))?;
        let most = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.trim() {
            "" => most,
            digits => digits
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {most}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The loopback and private ranges, where a reverse proxy beside Homewatch usually is (`private`).
const PRIVATE: [Cidr; 7] = [
    Cidr::v4(127, 0, 0, 0, 8),
    Cidr::v4(10, 0, 0, 0, 8),
    Cidr::v4(172, 16, 0, 0, 12),
    Cidr::v4(192, 168, 0, 0, 16),
    Cidr::v6(0, 127),
    Cidr::v6(0xfc00, 7),
    Cidr::v6(0xfe80, 10),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Cow<'static, [Cidr]>);

impl TrustedProxies {
    pub const NONE: Self = Self(Cow::Borrowed(&[]));
    pub const PRIVATE: Self = Self(Cow::Borrowed(&PRIVATE));

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
    /// `X-Forwarded-For` that is not one (each proxy appends the address it heard from).
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(chain) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.contains(address) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and ranges; `private` stands for the loopback and private ranges.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            if part.eq_ignore_ascii_case("private") {
                ranges.extend(PRIVATE);
            } else {
                ranges.push(part.parse()?);
            }
        }
        Ok(Self(Cow::Owned(ranges)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_hold_their_addresses() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.0.2.7, fd00::/8".parse().unwrap();
        assert!(proxies.contains(ip("10.1.2.3")) && proxies.contains(ip("192.0.2.7")));
        assert!(proxies.contains(ip("fd12::1")) && proxies.contains(ip("::ffff:10.0.0.1")));
        assert!(!proxies.contains(ip("192.0.2.8")) && !proxies.contains(ip("11.0.0.1")));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.lan".parse::<TrustedProxies>().is_err());
        assert!(
            TrustedProxies::PRIVATE.contains(ip("127.0.0.1"))
                && !TrustedProxies::PRIVATE.contains(ip("8.8.8.8"))
        );
    }

    #[test]
    fn the_client_is_the_last_address_no_trusted_proxy_added() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let chain = Some("203.0.113.9, 198.51.100.1, 10.0.0.5");
        assert_eq!(
            proxies.client(ip("10.0.0.1"), chain),
            ip("198.51.100.1"),
            "a forged first hop is ignored"
        );
        assert_eq!(
            proxies.client(ip("198.51.100.20"), chain),
            ip("198.51.100.20"),
            "an untrusted peer is the client"
        );
        assert_eq!(proxies.client(ip("10.0.0.1"), Some("nonsense")), ip("10.0.0.1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), None), ip("10.0.0.1"));
    }
}
