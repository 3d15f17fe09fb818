//! The one way Veil fetches remote content (the `urls` parameter, remote
//! images and PDFs): http and https only; every address a host resolves to
//! is checked before connecting, and loopback, private, link-local, CGNAT,
//! multicast, reserved and cloud-metadata addresses are refused (IPv4 and
//! IPv6, mapped and NAT64 forms included) unless the operator allowlists
//! them; the connection is pinned to the checked address (no second DNS
//! answer can swap it); redirects are followed by hand, at most
//! `max_redirects`, each checked again; the body and the time are capped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;

/// Limits of one fetch.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Networks that may be fetched although they are refused by default.
    pub allow: Vec<Network>,
    pub max_bytes: usize,
    /// For the whole fetch, redirects included.
    pub timeout: Duration,
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            max_bytes: 10 << 20,
            timeout: Duration::from_secs(10),
            max_redirects: 3,
        }
    }
}

/// An address block, `10.1.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an address block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix in `{s}`"))?
        };
        Ok(Self { addr, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// Why a fetch was refused or failed; the text is safe to show a client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("only http and https URLs can be fetched")]
    Scheme,
    #[error("the URL is not valid")]
    BadUrl,
    #[error("the host could not be resolved")]
    Resolve,
    #[error("the host resolves to a non-public address ({0}), which is not fetched")]
    Blocked(IpAddr),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("the content is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the fetch took longer than {0:?}")]
    Timeout(Duration),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the fetch failed: {0}")]
    Failed(String),
}

/// What a fetch returned.
#[derive(Debug)]
pub struct Fetched {
    /// After redirects.
    pub url: Url,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Whether `ip` is refused unless allowlisted: anything but a public
/// unicast address.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4 carried in IPv6: mapped (::ffff:a.b.c.d), compatible
            // (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) are judged as IPv4.
            let o = v6.octets();
            let embedded = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
            if v6.to_ipv4_mapped().is_some()
                || (o[..12].iter().all(|b| *b == 0) && !v6.is_unspecified() && !v6.is_loopback())
                || o[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]
            {
                return refused_v4(embedded);
            }
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local (incl. fd00:ec2::254)
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0100 && v6.segments()[1..4] == [0, 0, 0]) // discard
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || ip.is_multicast()
        || a >= 240 // reserved and broadcast
}

/// Fetches `url` under `policy`.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    tokio::time::timeout(policy.timeout, fetch_inner(url, policy))
        .await
        .unwrap_or(Err(FetchError::Timeout(policy.timeout)))
}

async fn fetch_inner(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let mut url = Url::parse(url).map_err(|_| FetchError::BadUrl)?;
    for _ in 0..=policy.max_redirects {
        let addr = checked_address(&url, policy).await?;
        let host = url.host_str().ok_or(FetchError::BadUrl)?.to_owned();
        // Pinned: the client connects to the address just checked.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, addr)
            .no_proxy()
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let response =
            client.get(url.clone()).send().await.map_err(|e| FetchError::Failed(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            url = url.join(location).map_err(|_| FetchError::BadUrl)?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response.content_length().is_some_and(|n| n > policy.max_bytes as u64) {
            return Err(FetchError::TooLarge(policy.max_bytes));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Failed(e.to_string()))?;
            if body.len() + chunk.len() > policy.max_bytes {
                return Err(FetchError::TooLarge(policy.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Fetched { url, content_type, body });
    }
    Err(FetchError::TooManyRedirects(policy.max_redirects))
}

/// The address to connect to for `url`: every address the host resolves
/// to must pass (a host with one private answer is refused outright).
async fn checked_address(url: &Url, policy: &FetchPolicy) -> Result<SocketAddr, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Scheme);
    }
    let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
    let addrs: Vec<SocketAddr> = match url.host().ok_or(FetchError::BadUrl)? {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => {
            tokio::net::lookup_host((name, port)).await.map_err(|_| FetchError::Resolve)?.collect()
        }
    };
    let allowed = |ip: IpAddr| policy.allow.iter().any(|n| n.contains(ip));
    for addr in &addrs {
        if is_refused(addr.ip()) && !allowed(addr.ip()) {
            return Err(FetchError::Blocked(addr.ip()));
        }
    }
    addrs.first().copied().ok_or(FetchError::Resolve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        is_refused(s.parse().unwrap())
    }

    #[test]
    fn every_non_public_class_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in
            ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
        {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Network = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("nope".parse::<Network>().is_err());
    }
}
