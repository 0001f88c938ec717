//! The shapes of the text people type into the API, each written once as a regular expression that the
//! server checks and the spec publishes (`pattern`), so the two cannot disagree. The expressions stay within
//! what JSON Schema (ECMA-262), Python's `re` (which schema-based test generators use) and Rust's `regex`
//! all read the same way: classes, `\x`/`\u` escapes, groups, alternation and counted repeats.

use std::sync::LazyLock;

use regex::Regex;

/// Characters no name may hold: the C0 and C1 controls and DEL (Unicode category Cc).
macro_rules! controls {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// White space that is not a control (the rest of Unicode's White_Space), which names may not be made of.
macro_rules! spaces {
    () => {
        r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// A display name (groups, tiles, tokens): no control characters, and not only white space. Its length
/// (at most 100 characters) is a separate rule; leading and trailing white space is trimmed when stored.
pub const NAME: &str = concat!(
    "^[^",
    controls!(),
    "]*[^",
    controls!(),
    spaces!(),
    "][^",
    controls!(),
    "]*$"
);

/// A tag: like a name, without commas.
pub const TAG: &str = concat!(
    "^[^,",
    controls!(),
    "]*[^,",
    controls!(),
    spaces!(),
    "][^,",
    controls!(),
    "]*$"
);

/// A username: ASCII letters, digits and `. _ - @`, so both stores agree on "the same name, ignoring case".
pub const USERNAME: &str = "^[A-Za-z0-9._@-]{1,64}$";

/// A port, 1 to 65535.
macro_rules! port {
    () => {
        "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    };
}

/// A host: a DNS name whose labels never hold `--` (so none is read as punycode, `xn--`) and whose last label
/// starts with a letter (so it is never read as an IPv4 number), an IPv4 address, or an IPv6 address in
/// brackets (full, or with `::` standing for the zero groups at one end or between two runs of groups).
macro_rules! host {
    () => {
        concat!(
            "(([A-Za-z0-9_]+(-[A-Za-z0-9_]+)*\\.)*[A-Za-z][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*\\.?",
            "|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
            "|\\[(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:|:(:[0-9A-Fa-f]{1,4}){1,7}",
            "|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|::)\\])"
        )
    };
}

/// One character of a URL's path, query or fragment as RFC 3986 writes it: unreserved, a sub-delimiter, `:`,
/// `@`, or a percent-encoded byte.
macro_rules! url_char {
    () => {
        "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
    };
}

/// An absolute http or https URL as RFC 3986 writes it: scheme, optional user and password, host, optional
/// port, path, query, fragment
/// (other characters, such as spaces or letters beyond ASCII, are written percent-encoded).
pub const HTTP_URL: &str = concat!(
    "^[Hh][Tt][Tt][Pp][Ss]?://",
    "(([A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?",
    host!(),
    "(:",
    port!(),
    ")?(/(",
    url_char!(),
    "|/)*)?(\\?(",
    url_char!(),
    "|[/?])*)?(#(",
    url_char!(),
    "|[/?])*)?$"
);

/// `host:port` for a tcp check.
pub const HOST_PORT: &str = concat!("^", host!(), ":", port!(), "$");

/// A name to resolve for a dns check.
/// A push check's token: URL-safe, 16 to 64 characters.
pub const PUSH_TOKEN: &str = "^[A-Za-z0-9_-]{16,64}$";

/// A status page's slug: lower-case letters, digits and inner dashes, 1 to 64 characters.
pub const SLUG: &str = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";

/// A host name a status page answers for (its custom domain): lower-case labels, dots between them.
pub const DOMAIN: &str = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

pub const DNS_NAME: &str = "^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.?$";

/// An icon that is a name (such as `jellyfin`) or an emoji: no white space, no controls, at most 64 characters.
pub const ICON_NAME: &str = concat!("^[^\\s", controls!(), spaces!(), "]{1,64}$");

/// Accepted HTTP statuses: codes and ranges, comma-separated, such as `200-299,301`.
pub const STATUS_RANGES: &str =
    "^ *[1-5][0-9]{2}( *- *[1-5][0-9]{2})?( *, *[1-5][0-9]{2}( *- *[1-5][0-9]{2})?)* *$";

/// An HTTP header name (an RFC 9110 token).
pub const HEADER_NAME: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/// An HTTP header value: visible ASCII, spaces and tabs.
pub const HEADER_VALUE: &str = "^[\\t\\x20-\\x7e]*$";

fn compile(pattern: &str) -> Regex {
    // Every pattern is a constant of this module, and a unit test compiles each one.
    Regex::new(pattern).unwrap_or_else(|err| panic!("pattern {pattern} does not compile: {err}"))
}

macro_rules! matcher {
    ($($name:ident = $pattern:ident),* $(,)?) => {
        $(
            pub fn $name(text: &str) -> bool {
                static COMPILED: LazyLock<Regex> = LazyLock::new(|| compile($pattern));
                COMPILED.is_match(text)
            }
        )*
    };
}

matcher!(
    is_name = NAME,
    is_tag = TAG,
    is_username = USERNAME,
    is_http_url = HTTP_URL,
    is_host_port = HOST_PORT,
    is_dns_name = DNS_NAME,
    is_icon_name = ICON_NAME,
    is_status_ranges = STATUS_RANGES,
    is_header_name = HEADER_NAME,
    is_header_value = HEADER_VALUE,
    is_push_token = PUSH_TOKEN,
    is_slug = SLUG,
    is_domain = DOMAIN,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_a_visible_character_and_no_controls() {
        for good in ["Jellyfin", " Media ", "🎬", "a b", "\u{feff}"] {
            assert!(is_name(good), "{good:?}");
        }
        for bad in ["", "   ", "\u{3000}", "a\tb", "line\nbreak", "\u{85}x"] {
            assert!(!is_name(bad), "{bad:?}");
        }
        assert!(is_tag("media") && !is_tag("a,b") && !is_tag(" "));
    }

    #[test]
    fn urls_hosts_and_ports() {
        for good in [
            "https://jellyfin.home.lan:8096/web",
            "http://192.168.1.1",
            "HTTP://nas.lan/?a=b#c",
            "http://[fd00::1]:8080/",
            "http://[::1]/",
            "https://localhost.",
            "https://admin:pw@nas.lan:5001/",
        ] {
            assert!(is_http_url(good), "{good}");
            assert!(url::Url::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x.lan",
            "http://",
            "http://a b",
            "http://x.lan:0",
            "http://x.lan:65536",
            "http://123",
            "nas.lan",
            "http://x.lan/é",
            "http://x.lan/a%zz",
            "http://x.lan/#a#b",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert!(is_host_port("nas.lan:22") && is_host_port("[::1]:5432") && !is_host_port("nas.lan"));
        assert!(is_dns_name("nas.home.lan.") && is_dns_name("_sip._tcp.example.com") && !is_dns_name("a b"));
        assert!(is_status_ranges("200-299, 301") && !is_status_ranges("200,,301") && !is_status_ranges("99"));
        assert!(is_header_name("X-Api-Key") && !is_header_name("bad name"));
        assert!(is_header_value("Bearer abc") && !is_header_value("line\nbreak"));
        assert!(is_icon_name("jellyfin") && is_icon_name("🎬") && !is_icon_name("two words"));
        assert!(is_username("ada.l@home") && !is_username("Ada Lovelace"));
        assert!(is_slug("home") && is_slug("my-lab-2") && !is_slug("-x") && !is_slug("A") && !is_slug(""));
        assert!(
            is_domain("status.example.com") && !is_domain("status.example.com:8080") && !is_domain("a b")
        );
    }
}
