//! E-mail addresses, found from each `@` (memchr) and grown outwards over the address
//! characters. Byte classes, not `\b`: a Unicode letter next to an address does not hide it.

use super::{Hit, EMAIL};

fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Every address in `text`.
/// Whether the `@` at `at` ends the userinfo of a URL (`scheme://user:password@host`, RFC
/// 3986 §3.2.1): the bytes before it are all userinfo bytes (unreserved, `%`, sub-delims,
/// `:`) back to the `//` that opens the authority. The password there may hold any of
/// `~!*$&…`, which an address's local part stops at, so the check reads the whole userinfo
/// rather than the part that looks like a local part.
fn url_userinfo(b: &[u8], at: usize) -> bool {
    let userinfo_byte = |c: u8| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
            )
    };
    let mut s = at;
    while s > 0 && at - s < 256 && b.get(s - 1).is_some_and(|c| userinfo_byte(*c)) {
        s -= 1;
    }
    s >= 2 && b.get(s - 2..s) == Some(b"//".as_slice())
}

pub(crate) fn find(text: &str, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < last_end {
            continue;
        }
        let mut s = at;
        while s > 0 && at - s < 64 && b.get(s - 1).is_some_and(|c| local_byte(*c)) {
            s -= 1;
        }
        while matches!(b.get(s), Some(b'.' | b'\'' | b'-')) {
            s += 1;
        }
        if s == at {
            continue;
        }
        // `scheme://user:pass@host`: userinfo, not an address (the secret detector owns it).
        // `scheme://user@host`: a login name in a URL, not a mailbox.
        let userinfo = s > 0
            && b.get(s - 1) == Some(&b':')
            && !text.get(..s).is_some_and(|p| p.ends_with("mailto:"));
        if userinfo || text.get(..s).is_some_and(|p| p.ends_with("//")) || url_userinfo(b, at) {
            continue;
        }
        let mut e = at + 1;
        while b.get(e).is_some_and(|c| domain_byte(*c)) && e - at < 256 {
            e += 1;
        }
        while e > at + 1 && matches!(b.get(e - 1), Some(b'.' | b'-')) {
            e -= 1;
        }
        // `a@b.com.Thanks`: a capitalised word glued after the address is not its TLD.
        while let Some(dot) = text.get(at + 1..e).and_then(|d| d.rfind('.')) {
            let label = text.get(at + 1 + dot + 1..e).unwrap_or_default();
            let mixed = label.bytes().any(|c| c.is_ascii_uppercase())
                && label.bytes().any(|c| c.is_ascii_lowercase());
            let has_more = text
                .get(at + 1..at + 1 + dot)
                .is_some_and(|d| d.contains('.'));
            if mixed && has_more {
                e = at + 1 + dot;
            } else {
                break;
            }
        }
        let Some(domain) = text.get(at + 1..e) else {
            continue;
        };
        let Some((_, tld)) = domain.rsplit_once('.') else {
            continue;
        };
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-'));
        // `icon@2x.png`: the `@2x`/`@3x` scale suffix of image asset names (Apple's and the
        // web's high-density convention), not a host.
        let asset_scale = domain.split('.').count() == 2
            && matches!(domain.as_bytes(), [b'1'..=b'4', b'x', b'.', ..]);
        // `git@github.com:org/repo.git`: a git remote in scp-like syntax (the shared `git`
        // account of a code host, then `:` and a path), not a mailbox. Only the `git`
        // account: any other local part before `host:path` stays an address.
        let git_remote = text.get(s..at) == Some("git")
            && b.get(e) == Some(&b':')
            && b.get(e + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'~' | b'/' | b'_'));
        if labels_ok
            && !asset_scale
            && !git_remote
            && (2..=24).contains(&tld.len())
            && tld.bytes().all(|c| c.is_ascii_alphabetic())
        {
            out.push(Hit::new(s, e, EMAIL));
            last_end = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(t, &mut out);
        out.iter().map(|h| &t[h.start..h.end]).collect()
    }

    #[test]
    fn addresses() {
        assert_eq!(
            run("mail jane.doe+x@mail-corp.co.uk."),
            vec!["jane.doe+x@mail-corp.co.uk"]
        );
        assert_eq!(run("écrivez àjean@exemple.fr"), vec!["jean@exemple.fr"]);
        assert_eq!(
            run("mailto:ops@corp.example.com"),
            vec!["ops@corp.example.com"]
        );
        assert_eq!(run("li@example.com.Thanks"), vec!["li@example.com"]);
        assert!(run("postgres://app:pw@db.internal.net/x").is_empty());
        assert!(run("mysql://app:.Y!-WTK~q2@db.example.net:3306/x").is_empty());
        assert!(run("redis://:p*w~1@cache.example.net:6379/0").is_empty());
        assert!(run("@handle and foo@bar and pkg@1.2.3").is_empty());
        assert!(run("see logo@2x.png and icon@3x.webp").is_empty());
        // A git remote is not a mailbox; any other account before `host:path` still is.
        assert!(run("git clone git@github.com:org/repo.git").is_empty());
        assert_eq!(
            run("jane@example.com:notes and git@example.com: hi"),
            vec!["jane@example.com", "git@example.com"]
        );
    }
}
