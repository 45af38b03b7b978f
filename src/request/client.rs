//! Who sent the request, as far as the network tells: the address every audit record
//! carries (`client`, and `peer` when the two differ).
//!
//! The socket's peer is a fact; `X-Forwarded-For` is text anyone can send. It is believed
//! only as far as the operator says proxies of theirs append to it
//! (`server.trusted_proxy_hops`): with N such proxies, the N-th entry from the right is the
//! address the outermost of them saw, and anything to its left was written by the client
//! (nginx's `real_ip_recursive`, Envoy's `xff_num_trusted_hops`). What is recorded is always
//! a parsed IP address, never the header's text, so the header cannot smuggle anything into
//! the audit trail.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The client's address, resolved once per request by the request-context layer.
#[derive(Debug, Clone, Default)]
pub struct ClientAddr {
    /// The address the audit names as the client: the peer, or the trusted
    /// `X-Forwarded-For` entry. `None` when neither is known (an in-process call).
    pub client: Option<IpAddr>,
    /// The socket's peer, recorded beside `client` when the client came from the header.
    pub peer: Option<IpAddr>,
}

impl ClientAddr {
    /// Resolves the client from the socket peer and, with `hops` trusted proxies, from the
    /// `X-Forwarded-For` entry they appended. A header with fewer entries than `hops`, or an
    /// entry that is not an address, did not come through every trusted proxy: the peer is
    /// the only fact left.
    pub fn resolve(peer: Option<SocketAddr>, headers: &HeaderMap, hops: usize) -> Self {
        let peer = peer.map(|p| p.ip().to_canonical());
        let forwarded = (hops > 0).then(|| forwarded_for(headers, hops)).flatten();
        match forwarded {
            Some(ip) => Self {
                client: Some(ip),
                peer,
            },
            None => Self { client: peer, peer },
        }
    }

    /// The recorded `client` value.
    pub fn client(&self) -> Option<String> {
        self.client.map(|ip| ip.to_string())
    }

    /// The recorded `peer` value: only when it is not the client itself.
    pub fn peer_if_proxied(&self) -> Option<String> {
        match (self.client, self.peer) {
            (Some(c), Some(p)) if c != p => Some(p.to_string()),
            (None, Some(p)) => Some(p.to_string()),
            _ => None,
        }
    }
}

/// The `hops`-th entry from the right over every `X-Forwarded-For` line (repeated header
/// lines are one list, in order, as RFC 9110 §5.3 combines them).
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        entries.extend(text.split(',').map(str::trim));
    }
    let index = entries.len().checked_sub(hops)?;
    parse_entry(entries.get(index)?)
}

/// An address as proxies write it: bare (`203.0.113.7`, `2001:db8::1`), with a port
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`) or bracketed.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn peer() -> Option<SocketAddr> {
        Some("10.0.0.9:50000".parse().unwrap())
    }

    #[test]
    fn without_trusted_hops_the_header_is_ignored() {
        let c = ClientAddr::resolve(peer(), &headers(&["198.51.100.1"]), 0);
        assert_eq!(c.client(), Some("10.0.0.9".to_owned()));
        assert_eq!(c.peer_if_proxied(), None);
    }

    #[test]
    fn one_hop_takes_the_rightmost_entry_not_what_the_client_wrote() {
        let h = headers(&["6.6.6.6, 198.51.100.1"]);
        let c = ClientAddr::resolve(peer(), &h, 1);
        assert_eq!(c.client(), Some("198.51.100.1".to_owned()));
        assert_eq!(c.peer_if_proxied(), Some("10.0.0.9".to_owned()));
    }

    #[test]
    fn repeated_lines_are_one_list_and_hops_count_from_the_right() {
        let h = headers(&["6.6.6.6", "198.51.100.1, 10.0.0.5"]);
        let c = ClientAddr::resolve(peer(), &h, 2);
        assert_eq!(c.client(), Some("198.51.100.1".to_owned()));
    }

    #[test]
    fn too_few_entries_or_garbage_fall_back_to_the_peer() {
        for h in [headers(&["198.51.100.1"]), headers(&["alice@example.com"])] {
            let c = ClientAddr::resolve(peer(), &h, 2);
            assert_eq!(c.client(), Some("10.0.0.9".to_owned()));
        }
        let c = ClientAddr::resolve(peer(), &headers(&["not-an-ip"]), 1);
        assert_eq!(c.client(), Some("10.0.0.9".to_owned()));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_normalised() {
        for (entry, want) in [
            ("198.51.100.1:4711", "198.51.100.1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:198.51.100.1", "198.51.100.1"),
        ] {
            let c = ClientAddr::resolve(peer(), &headers(&[entry]), 1);
            assert_eq!(c.client().as_deref(), Some(want), "{entry}");
        }
    }
}
