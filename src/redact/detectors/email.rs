//! E-mail addresses, found from each `@` (memchr) and grown outwards over the address
//! characters. Internationalised addresses too (RFC 6531: a local part in any script;
//! RFC 5890: domain labels and top-level domains in any script, `иван@пример.рф`,
//! `josé@example.com`): letters, digits and marks of any script belong to an address, so
//! a letter outside ASCII cannot cut one short or hide it.

use super::{Hit, EMAIL};

fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// A character outside ASCII that an internationalised address may hold: a letter, a
/// digit or a combining mark of any script, and the joiners and in-name punctuation
/// names are written with (Persian and Sinhala need ZWNJ/ZWJ; `maria·jose`, `ジョン・スミス`,
/// `o’brien`, Hebrew geresh, Unicode hyphens).
fn international(c: char) -> bool {
    !c.is_ascii()
        && (c.is_alphanumeric()
            || unicode_normalization::char::is_combining_mark(c)
            || matches!(
                c,
                '\u{200C}'
                    | '\u{200D}'
                    | '\u{00AD}'
                    | '\u{00B7}'
                    | '\u{30FB}'
                    | '\u{2019}'
                    | '\u{05F3}'
                    | '\u{2010}'
                    | '\u{2011}'
            ))
}

/// File extensions that no registry delegates as a top-level domain (those that are one,
/// `.py`, `.rs`, `.pt`, `.md`, `.zip`, `.mov`, stay addresses): `hero@large.png`,
/// `logo@dark.svg`, `model@best.ckpt` name files. Private names (`.local`, `.internal`,
/// `.lan`) are not on the list: `jane.doe@corp.local` is a person's directory address.
const FILE_EXTENSIONS: &[&str] = &[
    "png",
    "svg",
    "svgz",
    "json",
    "jpg",
    "jpeg",
    "gif",
    "ico",
    "txt",
    "webp",
    "bmp",
    "tif",
    "tiff",
    "heic",
    "avif",
    "psd",
    "pdf",
    "csv",
    "tsv",
    "yaml",
    "yml",
    "toml",
    "xml",
    "html",
    "htm",
    "css",
    "scss",
    "js",
    "mjs",
    "cjs",
    "jsx",
    "tsx",
    "exe",
    "dll",
    "bin",
    "dat",
    "log",
    "tmp",
    "bak",
    "old",
    "cfg",
    "conf",
    "ini",
    "env",
    "lock",
    "wasm",
    "ckpt",
    "pth",
    "onnx",
    "pkl",
    "npy",
    "npz",
    "safetensors",
    "tar",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "rar",
    "iso",
    "dmg",
    "apk",
    "ipa",
    "deb",
    "rpm",
    "msi",
    "jar",
    "war",
    "class",
    "mp3",
    "mp4",
    "wav",
    "ogg",
    "flac",
    "avi",
    "mkv",
    "webm",
    "woff",
    "ttf",
    "otf",
    "eot",
];

/// Top-level domains outside ASCII (IANA's root zone: the internationalised country codes
/// and the common generic ones). Only these end an address whose last label is not ASCII:
/// in text written without spaces, `谢谢@张三.明天见` ("thanks @Zhang San. See you
/// tomorrow") has the shape of an address too.
const IDN_TLDS: &[&str] = &[
    "рф",
    "срб",
    "бг",
    "бел",
    "укр",
    "қаз",
    "мкд",
    "мон",
    "ею",
    "рус",
    "москва",
    "онлайн",
    "сайт",
    "орг",
    "ком",
    "дети",
    "католик",
    "ελ",
    "ευ",
    "中国",
    "中國",
    "香港",
    "澳門",
    "澳门",
    "台湾",
    "台灣",
    "新加坡",
    "公司",
    "网络",
    "网址",
    "在线",
    "中文网",
    "商城",
    "游戏",
    "移动",
    "企业",
    "世界",
    "手机",
    "集团",
    "信息",
    "政务",
    "公益",
    "健康",
    "时尚",
    "微博",
    "한국",
    "닷컴",
    "닷넷",
    "みんな",
    "コム",
    "ストア",
    "クラウド",
    "ไทย",
    "ລາວ",
    "भारत",
    "भारतम्",
    "भारोत",
    "नेट",
    "कॉम",
    "संगठन",
    "ভারত",
    "ভাৰত",
    "বাংলা",
    "ਭਾਰਤ",
    "ભારત",
    "ଭାରତ",
    "இந்தியா",
    "இலங்கை",
    "சிங்கப்பூர்",
    "భారత్",
    "ಭಾರತ",
    "ഭാരതം",
    "ලංකා",
    "مصر",
    "السعودية",
    "امارات",
    "الاردن",
    "الجزائر",
    "المغرب",
    "عمان",
    "فلسطين",
    "قطر",
    "تونس",
    "سورية",
    "سودان",
    "عراق",
    "ایران",
    "پاکستان",
    "بھارت",
    "مليسيا",
    "موريتانيا",
    "البحرين",
    "كوم",
    "موقع",
    "شبكة",
    "عرب",
    "קום",
    "გე",
    "հայ",
];

/// Where the local part ending at `at` starts: back over address characters, at most 64
/// of them (RFC 5321's limit).
///
/// A letter of a script other than Latin right before ASCII (`请发邮件到jane@…`, `ב-jane@…`)
/// is the sentence the address is glued to, not its start: scripts written without spaces
/// (and Hebrew's prefixed prepositions) glue words to it.
fn local_start(text: &str, at: usize) -> usize {
    let mut s = at;
    let mut after: Option<char> = None;
    for (n, c) in text.get(..at).unwrap_or_default().chars().rev().enumerate() {
        let ok = if c.is_ascii() {
            local_byte(c as u8)
        } else {
            international(c) && !(other_script(c) && after.is_some_and(|a| a.is_ascii()))
        };
        if !ok || n >= 64 {
            break;
        }
        s -= c.len_utf8();
        after = Some(c);
    }
    s
}

/// Where the domain starting after `at` ends: over domain characters, at most 255 bytes. A
/// letter of a script other than Latin right after an ASCII letter or digit
/// (`jane@example.comです`) is the sentence going on.
fn domain_end(text: &str, at: usize) -> usize {
    let mut e = at + 1;
    let mut before: Option<char> = None;
    for c in text.get(at + 1..).unwrap_or_default().chars() {
        let ok = if c.is_ascii() {
            domain_byte(c as u8)
        } else {
            international(c)
                && !(other_script(c) && before.is_some_and(|b| b.is_ascii_alphanumeric()))
        };
        if !ok || e - at >= 256 {
            break;
        }
        e += c.len_utf8();
        before = Some(c);
    }
    e
}

/// A letter, digit or mark of a script that does not mix with ASCII letters inside a word:
/// not Latin (`é`, `ü`, `ø` spell Latin words with ASCII letters), and not the scripts
/// whose letters are drawn like Latin ones (Cyrillic, Greek, Armenian, Cherokee, Coptic,
/// Lisu), whose words the fold writes half in ASCII when it reads their look-alikes
/// (`aндрeй@…`). The joiners and in-name punctuation of [`international`] are not either.
fn other_script(c: char) -> bool {
    let u = u32::from(c);
    let mixes = matches!(
        u,
        0x00C0..=0x058F
            | 0x1C80..=0x1C8F
            | 0x13A0..=0x13FF
            | 0x1E00..=0x1FFF
            | 0x2C60..=0x2C7F
            | 0x2C80..=0x2CFF
            | 0x2DE0..=0x2DFF
            | 0xA640..=0xA69F
            | 0xA4D0..=0xA4FF
            | 0xA720..=0xA7FF
            | 0xAB70..=0xABBF
    );
    !mixes && (c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c))
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
        let mut s = local_start(text, at);
        while matches!(b.get(s), Some(b'.' | b'\'' | b'-')) {
            s += 1;
        }
        if s == at {
            continue;
        }
        // `scheme://user:pass@host`: userinfo, not an address (the secret detector owns it).
        // `scheme://user@host`: a login name in a URL, not a mailbox.
        // `scheme://user:pass@host`: userinfo, not an address (the secret detector owns
        // it); `scheme://user@host`: a login name in a URL, not a mailbox. A colon alone
        // before the local part is a label (`To:jane@…`, `sip:`, `mailto:`).
        if text.get(..s).is_some_and(|p| p.ends_with("//")) || url_userinfo(b, at) {
            continue;
        }
        let mut e = domain_end(text, at);
        while e > at + 1 && matches!(b.get(e - 1), Some(b'.' | b'-')) {
            e -= 1;
        }
        // `a@b.com.Thanks`: a capitalised word glued after the address is not its TLD.
        while let Some(dot) = text.get(at + 1..e).and_then(|d| d.rfind('.')) {
            let label = text.get(at + 1 + dot + 1..e).unwrap_or_default();
            let mixed =
                label.chars().any(char::is_uppercase) && label.chars().any(char::is_lowercase);
            let has_more = text
                .get(at + 1..at + 1 + dot)
                .is_some_and(|d| d.contains('.'));
            if mixed && has_more {
                e = at + 1 + dot;
            } else {
                break;
            }
        }
        // `jane@example.comспасибо`, `…mail.ruв`, `…com2`: a word or a number glued after
        // the address is not part of its top-level domain.
        if let Some(dot) = text.get(at + 1..e).and_then(|d| d.rfind('.')) {
            let label_start = at + 1 + dot + 1;
            let label = text.get(label_start..e).unwrap_or_default();
            let letters = label.bytes().take_while(u8::is_ascii_alphabetic).count();
            if letters >= 2 && letters < label.len() {
                e = label_start + letters;
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
            .all(|l| !l.is_empty() && l.chars().count() <= 63 && !l.starts_with('-'));
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
            && ((2..=24).contains(&tld.len())
                && tld.bytes().all(|c| c.is_ascii_alphabetic())
                && !FILE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(tld))
                || IDN_TLDS.contains(&tld))
            // `q@k.transpose(…)`: a method called on a matrix product, not a domain.
            && b.get(e) != Some(&b'(')
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
        assert_eq!(run("écrivez àjean@exemple.fr"), vec!["àjean@exemple.fr"]);
        // Internationalised addresses, whole.
        assert_eq!(run("пишите иван@пример.рф"), vec!["иван@пример.рф"]);
        assert_eq!(run("mail josé@example.com."), vec!["josé@example.com"]);
        assert_eq!(run("(müller@beispiel.de)"), vec!["müller@beispiel.de"]);
        assert_eq!(run("ιωάννης@παράδειγμα.ελ"), vec!["ιωάννης@παράδειγμα.ελ"]);
        assert_eq!(run("联系 张伟@例子.中国 谢谢"), vec!["张伟@例子.中国"]);
        // A handle is not an address: no dot, or no letters after the last one.
        assert!(run("关注 @微博用户 和 张三@新浪").is_empty());
        assert!(run("версия пакет@1.2.3").is_empty());
        // Text without spaces has an address's shape without its top-level domain.
        assert!(run("感谢@张三.明天见").is_empty());
        assert!(run("Спасибо@всем.Пока").is_empty());
        assert!(run("りんご@120円.みかん@80円").is_empty());
        // Names with joiners and in-name punctuation, whole.
        assert_eq!(run("maria·jose@example.es"), vec!["maria·jose@example.es"]);
        assert_eq!(
            run("ジョン・スミス@example.jp"),
            vec!["ジョン・スミス@example.jp"]
        );
        assert_eq!(run("o’brien@example.ie"), vec!["o’brien@example.ie"]);
        assert_eq!(
            run("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}@example.com"),
            vec!["\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}@example.com"]
        );
        // A label glued with a colon, and addresses glued to the sentence around them.
        assert_eq!(
            run("To:jane.doe@gmail.com, Cc:bob@corp.example"),
            vec!["jane.doe@gmail.com", "bob@corp.example"]
        );
        assert_eq!(run("sip:alice@example.com"), vec!["alice@example.com"]);
        assert_eq!(run("jane@example.comです"), vec!["jane@example.com"]);
        assert_eq!(
            run("请发邮件到jane@example.com谢谢"),
            vec!["jane@example.com"]
        );
        assert_eq!(run("כתבו ב-jane@example.com"), vec!["jane@example.com"]);
        assert_eq!(
            run("jane@example.com으로 보내주세요"),
            vec!["jane@example.com"]
        );
        assert_eq!(run("راسلنيjane@example.comشكرا"), vec!["jane@example.com"]);
        assert_eq!(
            run("\u{2764}\u{FE0F}jane@example.com"),
            vec!["jane@example.com"]
        );
        // Words and numbers glued after the top-level domain.
        assert_eq!(run("jane@example.comспасибо"), vec!["jane@example.com"]);
        assert_eq!(
            run("пишите ivan@mail.ruв любое время"),
            vec!["ivan@mail.ru"]
        );
        assert_eq!(run("an jane@firma.deübrigens"), vec!["jane@firma.de"]);
        assert_eq!(
            run("jane@example.com.Über das Thema"),
            vec!["jane@example.com"]
        );
        assert_eq!(run("jane@example.comλαθ"), vec!["jane@example.com"]);
        assert_eq!(run("jane@example.com2"), vec!["jane@example.com"]);
        // File names and logins on a local host.
        assert!(run("Use hero@large.png, logo@dark.svg and data@v2.json").is_empty());
        assert_eq!(
            run("jane.doe@corp.local, ops@bastion.internal"),
            vec!["jane.doe@corp.local", "ops@bastion.internal"]
        );
        assert_eq!(run("ana@exemplo.pt"), vec!["ana@exemplo.pt"]);
        // A matrix product and a method call.
        assert!(run("attn = (q@k.transpose(-2, -1))").is_empty());
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
