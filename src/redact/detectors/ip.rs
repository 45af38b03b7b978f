//! IP addresses. IPv4 dotted quads come from the digit scan (see `numbers`), which already
//! knows whether the quad is part of a longer dotted number; this module adds the context
//! rules that keep version strings out, and finds IPv6 from each `:`.

use std::net::Ipv6Addr;

use super::{text, Hit, IP_ADDRESS};

/// Words after which a dotted quad is a version, not an address.
const VERSION_WORDS: text::Words = text::Words::new(&[
    "version",
    "ver",
    "v",
    "release",
    "build",
    "firmware",
    "rev",
    "revision",
    "kernel",
    "update",
    "patch",
    "sdk",
    "api level",
    "os build",
    // ASN.1 object identifiers (`OID 2.5.4.3`) are dotted numbers too.
    "oid",
]);

/// Whether the dotted quad at `start..end` is an address: octets in range without leading
/// zeros, and not a version (`v1.2.3.4`, `version 10.0.19041.1`, `pkg==1.2.3.4`,
/// `@1.2.3.4`, `1.2.3.4-beta`).
pub(crate) fn ipv4(text: &str, start: usize, end: usize) -> bool {
    let Some(value) = text.get(start..end) else {
        return false;
    };
    let octets_ok = value
        .split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255) && !(o.len() > 1 && o.starts_with('0')));
    if !octets_ok {
        return false;
    }
    let b = text.as_bytes();
    let prev = text::before(text, start);
    // `pkg==1.2.3.4`, `~=`, `>=`, `^1.2.3.4`, `@1.2.3.4` pin versions; `ip=1.2.3.4` is fine.
    let pinned = prev == Some(b'=')
        && matches!(
            text::before(text, start - 1),
            Some(b'=' | b'~' | b'>' | b'<' | b'!')
        );
    if pinned
        || matches!(prev, Some(b'v' | b'V' | b'@' | b'~' | b'^' | b'>' | b'<'))
        || prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.')
    {
        return false;
    }
    // `1.2.3.4-beta`, `1.2.3.4.5`, `1.2.3.4a`.
    match (b.get(end), b.get(end + 1)) {
        (Some(b'-' | b'+' | b'_'), Some(c)) if c.is_ascii_alphanumeric() => return false,
        (Some(b'.'), Some(c)) if c.is_ascii_alphanumeric() => return false,
        (Some(c), _) if c.is_ascii_alphanumeric() => return false,
        _ => {}
    }
    !text::context_before(text, start, 24, &VERSION_WORDS)
}

fn v6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// IPv6 addresses: runs of hex digits and colons around each `:` that parse as IPv6 and
/// stand alone (`std::vec` and `12:30:45` do not).
pub(crate) fn find_v6(text: &str, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut next = 0;
    for c in memchr::memchr_iter(b':', b) {
        if c < next {
            continue;
        }
        let mut s = c;
        while s > 0 && b.get(s - 1).is_some_and(|x| v6_byte(*x)) {
            s -= 1;
        }
        let mut e = c;
        while b.get(e).is_some_and(|x| v6_byte(*x)) {
            e += 1;
        }
        next = e;
        while e > c && b.get(e - 1) == Some(&b'.') {
            e -= 1;
        }
        if !text::word_start(text, s) || !text::word_end(text, e) {
            continue;
        }
        let Some(v) = text.get(s..e) else { continue };
        let groups = v.split(':').filter(|g| !g.is_empty()).count();
        let long_group = v.split(':').any(|g| g.len() >= 3);
        if v.matches(':').count() >= 2
            && groups >= 2
            && (groups >= 3 || long_group)
            && v.parse::<Ipv6Addr>().is_ok()
        {
            out.push(Hit::new(s, e, IP_ADDRESS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad(t: &str) -> bool {
        let s = t.find(|c: char| c.is_ascii_digit()).unwrap();
        let e = s + t[s..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len() - s);
        ipv4(t, s, e)
    }

    #[test]
    fn quads_and_versions() {
        assert!(quad("host 192.168.1.20 is up"));
        assert!(quad("10.0.0.1"));
        assert!(quad("ip=10.0.0.1 status=200"));
        for t in [
            "upgrade to version 10.2.3.4",
            "v1.2.3.4",
            "pkg==1.2.3.4",
            "lib@1.2.3.4",
            "1.2.3.4-beta",
            "256.1.1.1",
            "Windows version 10.0.19041.1",
            "build 10.0.1.1 ok",
        ] {
            assert!(!quad(t), "{t}");
        }
    }

    #[test]
    fn v6() {
        let run = |t: &str| {
            let mut out = Vec::new();
            find_v6(t, &mut out);
            out.iter()
                .map(|h| t[h.start..h.end].to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run("addr 2001:db8:85a3::8a2e:370:7334."),
            vec!["2001:db8:85a3::8a2e:370:7334"]
        );
        assert_eq!(
            run("fe80::1ff:fe23:4567:890a%eth0"),
            vec!["fe80::1ff:fe23:4567:890a"]
        );
        for t in [
            "std::vec::Vec",
            "at 12:30:45",
            "a::b",
            "00:1A:2B:3C:4D:5E",
            "Foo::Bar",
        ] {
            assert!(run(t).is_empty(), "{t}");
        }
    }
}
