//! How a tile is watched: the check it carries (http, keyword, tcp, dns), its validation and defaults,
//! and the read-only status the engine reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{FieldError, patterns};

pub const MIN_INTERVAL_S: u32 = 5;
pub const MAX_INTERVAL_S: u32 = 86_400;
pub const DEFAULT_INTERVAL_S: u32 = 60;
pub const MAX_TIMEOUT_S: u32 = 120;
pub const DEFAULT_TIMEOUT_S: u32 = 10;
pub const MAX_RETRIES: u32 = 10;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_EXPECTED_STATUS: &str = "200-299";
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_VALUE_CHARS: usize = 4096;
pub const MAX_KEYWORD_CHARS: usize = 1024;
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
pub const RECORD_TYPES: [&str; 7] = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV"];
pub const MAX_DEGRADED_ABOVE_MS: u32 = 120_000;
pub const DEFAULT_CERT_WARN_DAYS: u32 = 14;
pub const MAX_CERT_WARN_DAYS: u32 = 365;
pub const MAX_JSON_CONDITIONS: usize = 16;
pub const MAX_JSON_PATH_CHARS: usize = 200;
pub const DEFAULT_PACKETS: u32 = 3;
pub const MAX_PACKETS: u32 = 20;
pub const DEFAULT_LOSS_DOWN_PCT: u32 = 100;
pub const DEFAULT_GRACE_S: u32 = 300;
pub const MAX_GRACE_S: u32 = 7 * 86_400;
pub const MAX_SCHEDULE_CHARS: usize = 100;

/// What kind of probe a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// An HTTP(S) request whose status must be in `expected_status`.
    Http,
    /// An HTTP(S) request whose body must contain `keyword` (or must not, with `keyword_absent`).
    Keyword,
    /// A TCP connection to `host:port`.
    Tcp,
    /// A DNS lookup of a name, optionally of one record type and expecting one value.
    Dns,
    /// A TLS handshake with `host:port`: the certificate's validity and days left.
    Tls,
    /// ICMP echo requests to a host: latency and packet loss.
    Ping,
    /// Nothing is probed: a job calls the tile's push URL; no call in time turns it down.
    Push,
}

/// The fields every kind of check has, besides `kind`.
const COMMON_FIELDS: [&str; 5] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
];
const HTTP_FIELDS: [&str; 12] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
    "method",
    "expected_status",
    "follow_redirects",
    "verify_tls",
    "headers",
    "cert_warn_days",
    "json",
];
const KEYWORD_FIELDS: [&str; 13] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
    "method",
    "expected_status",
    "follow_redirects",
    "verify_tls",
    "headers",
    "cert_warn_days",
    "keyword",
    "keyword_absent",
];
const DNS_FIELDS: [&str; 7] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
    "record_type",
    "expected",
];
const TLS_FIELDS: [&str; 7] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
    "verify_tls",
    "cert_warn_days",
];
const PUSH_FIELDS: [&str; 7] = [
    "interval_s",
    "retries",
    "degraded_above_ms",
    "token",
    "schedule",
    "timezone",
    "grace_s",
];
const PING_FIELDS: [&str; 7] = [
    "target",
    "interval_s",
    "timeout_s",
    "retries",
    "degraded_above_ms",
    "packets",
    "loss_down_pct",
];

impl CheckKind {
    pub const ALL: [CheckKind; 7] = [
        Self::Http,
        Self::Keyword,
        Self::Tcp,
        Self::Dns,
        Self::Tls,
        Self::Ping,
        Self::Push,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Keyword => "keyword",
            Self::Tcp => "tcp",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Ping => "ping",
            Self::Push => "push",
        }
    }

    /// The name of this kind's schema in the spec (`HttpCheck`, ...).
    pub fn title(self) -> &'static str {
        match self {
            Self::Http => "Http",
            Self::Keyword => "Keyword",
            Self::Tcp => "Tcp",
            Self::Dns => "Dns",
            Self::Tls => "Tls",
            Self::Ping => "Ping",
            Self::Push => "Push",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Http => "An HTTP(S) request whose status must be in `expected_status`.",
            Self::Keyword => {
                "An HTTP(S) request whose body must contain `keyword` (or must not, with `keyword_absent`)."
            }
            Self::Tcp => "A TCP connection to `host:port`.",
            Self::Dns => "A DNS lookup of a name, optionally of one record type and expecting one value.",
            Self::Tls => {
                "A TLS handshake with `host:port`: the certificate must be valid (unless `verify_tls` is false); \
                 fewer than `cert_warn_days` days left makes the tile `degraded`."
            }
            Self::Ping => {
                "ICMP echo requests to a host: `packets` are sent; the tile is down when `loss_down_pct` percent or \
                 more are lost."
            }
            Self::Push => {
                "Nothing is probed: a job calls `/api/v1/push/{token}` (GET or POST) every `interval_s`, or on the \
                 cron `schedule` in `timezone`; no call within `grace_s` after it was due turns the tile down."
            }
        }
    }

    /// The fields a check of this kind may carry besides `kind`; the server refuses the others, and the spec
    /// lists only these in the kind's schema.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Http => &HTTP_FIELDS,
            Self::Keyword => &KEYWORD_FIELDS,
            Self::Tcp => &COMMON_FIELDS,
            Self::Dns => &DNS_FIELDS,
            Self::Tls => &TLS_FIELDS,
            Self::Ping => &PING_FIELDS,
            Self::Push => &PUSH_FIELDS,
        }
    }

    /// The fields a check of this kind must carry besides `kind`.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::Keyword => &["keyword"],
            _ => &[],
        }
    }

    /// The shape its `target` must have, when given.
    pub fn target_pattern(self) -> (&'static str, usize) {
        match self {
            Self::Http | Self::Keyword => (patterns::HTTP_URL, super::URL_MAX_CHARS),
            Self::Tcp | Self::Tls => (patterns::HOST_PORT, 261),
            Self::Dns | Self::Ping | Self::Push => (patterns::DNS_NAME, 254),
        }
    }
}

/// The check a tile carries. Absent fields take their defaults; responses show the effective values and
/// leave out what does not apply to the kind. Fields of another kind are refused (null counts as absent).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub kind: CheckKind,
    /// What to probe: a URL for http/keyword, `host:port` for tcp, a name for dns. Absent or null follows the
    /// tile's url (its host and port for tcp, its host for dns), also after the url changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<String>,
    /// Seconds between checks, 5 to 86400 (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub interval_s: Option<u32>,
    /// Seconds a probe may take, 1 to 120 (default 10, or the interval when shorter). A check still running
    /// when its next one is due makes that one wait for the following turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub timeout_s: Option<u32>,
    /// Failures in a row tolerated (state `pending`) before the tile is `down`, 0 to 10 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub retries: Option<u32>,
    /// http/keyword: request method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub method: Option<String>,
    /// http/keyword: accepted status codes and ranges, such as `200-299,301` (default 200-299).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub expected_status: Option<String>,
    /// http/keyword: follow redirects (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub follow_redirects: Option<bool>,
    /// http/keyword: reject invalid or self-signed certificates (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub verify_tls: Option<bool>,
    /// http/keyword: request headers to send, at most 32 (names are HTTP tokens; values visible ASCII, at
    /// most 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub headers: Option<BTreeMap<String, String>>,
    /// keyword: the text that must appear in the body (or must not, with `keyword_absent`), 1 to 1024
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub keyword: Option<String>,
    /// keyword: the check passes when the text is absent (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub keyword_absent: Option<bool>,
    /// dns: record type to ask for: A, AAAA, CNAME, MX, TXT, NS or SRV (default: any address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub record_type: Option<String>,
    /// dns: a value one of the answers must equal (e.g. an IP address), at most 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub expected: Option<String>,
    /// A passing check slower than this many milliseconds makes the tile `degraded` (up, but not well),
    /// 1 to 120000; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub degraded_above_ms: Option<u32>,
    /// http/keyword (https) and tls: a certificate with fewer days left than this makes the tile `degraded`
    /// and tells the tile's channels once per threshold crossed (this, 7, 3 and 1 days), 0 to 365 (default
    /// 14; 0 never warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub cert_warn_days: Option<u32>,
    /// http: conditions the JSON body must meet, at most 16; each failing one is named in the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub json: Option<Vec<JsonCondition>>,
    /// ping: echo requests sent per check, 1 to 20 (default 3), a second apart at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub packets: Option<u32>,
    /// ping: the tile is down when this percentage of packets or more is lost, 1 to 100 (default 100: only
    /// when none comes back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub loss_down_pct: Option<u32>,
    /// push: the secret of the tile's push URL, `/api/v1/push/{token}` (16 to 64 of A-Z a-z 0-9 _ -).
    /// Generated when a push check is made without one, kept when an edit leaves it out, and shown only to
    /// those who may change the tile; `POST /services/{id}/push-token` makes a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub token: Option<String>,
    /// push: a cron schedule (5 fields, or 6 with seconds first), such as `30 3 * * *`, when the job is
    /// expected; without one, a call is expected every `interval_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub schedule: Option<String>,
    /// push: the IANA time zone of `schedule` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub timezone: Option<String>,
    /// push: seconds a call may be late before the tile is down, 0 to 604800 (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub grace_s: Option<u32>,
}

/// How a JSON condition compares the value at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
pub enum JsonOp {
    #[oai(rename = "==")]
    #[serde(rename = "==")]
    Eq,
    #[oai(rename = "!=")]
    #[serde(rename = "!=")]
    Ne,
    #[oai(rename = "<")]
    #[serde(rename = "<")]
    Lt,
    #[oai(rename = "<=")]
    #[serde(rename = "<=")]
    Le,
    #[oai(rename = ">")]
    #[serde(rename = ">")]
    Gt,
    #[oai(rename = ">=")]
    #[serde(rename = ">=")]
    Ge,
    /// A string holds `value` as a substring, or an array holds an element equal to it.
    #[oai(rename = "contains")]
    #[serde(rename = "contains")]
    Contains,
    /// The path is present (any value, null included); `value` is not used.
    #[oai(rename = "exists")]
    #[serde(rename = "exists")]
    Exists,
}

impl JsonOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "contains",
            Self::Exists => "exists",
        }
    }
}

/// One condition on a JSON body: the value at `path` compared with `value` by `op`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCondition {
    /// A JSON Pointer (`/status`, `/checks/0/ok`) or the JSONPath subset `$.status`, `$.checks[0].ok`,
    /// `$['key with.dots']`; at most 200 characters.
    pub path: String,
    pub op: JsonOp,
    /// What to compare with (any JSON value); required except for `exists`. `<`, `<=`, `>`, `>=` compare
    /// numbers with numbers and strings with strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub value: Option<serde_json::Value>,
}

impl JsonCondition {
    /// The path as a JSON Pointer, or why it is neither a pointer nor the supported JSONPath subset.
    pub fn pointer(&self) -> Result<String, String> {
        json_pointer(&self.path)
    }

    /// Checks `body` against this condition; the error says which path held what.
    pub fn check(&self, body: &serde_json::Value) -> Result<(), String> {
        use serde_json::Value;
        let pointer = self.pointer()?;
        let found = body.pointer(&pointer);
        let path = &self.path;
        let Some(found) = found else {
            return Err(format!("{path} is missing"));
        };
        let shown = |value: &Value| {
            let text = value.to_string();
            if text.chars().count() > 80 {
                format!("{}...", text.chars().take(80).collect::<String>())
            } else {
                text
            }
        };
        let expected = self.value.clone().unwrap_or(Value::Null);
        let holds = match self.op {
            JsonOp::Exists => true,
            JsonOp::Eq => json_equal(found, &expected),
            JsonOp::Ne => !json_equal(found, &expected),
            JsonOp::Contains => match (found, &expected) {
                (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
                (Value::Array(items), wanted) => items.iter().any(|item| json_equal(item, wanted)),
                _ => false,
            },
            JsonOp::Lt | JsonOp::Le | JsonOp::Gt | JsonOp::Ge => {
                let order = match (found, &expected) {
                    (Value::Number(a), Value::Number(b)) => {
                        a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
                    }
                    (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                    _ => None,
                };
                let Some(order) = order else {
                    return Err(format!(
                        "{path} is {}, which cannot be compared with {}",
                        shown(found),
                        shown(&expected)
                    ));
                };
                match self.op {
                    JsonOp::Lt => order.is_lt(),
                    JsonOp::Le => order.is_le(),
                    JsonOp::Gt => order.is_gt(),
                    _ => order.is_ge(),
                }
            }
        };
        if holds {
            Ok(())
        } else {
            Err(format!(
                "{path} is {}, expected {} {}",
                shown(found),
                self.op.as_str(),
                shown(&expected)
            ))
        }
    }
}

/// Numbers compare by value (1 equals 1.0); everything else as JSON.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if a.is_finite() => a == b,
        _ => a == b,
    }
}

/// `/a/0` stays; `$`, `$.a.b[0]`, `$['a.b']["c"]` become pointers.
fn json_pointer(path: &str) -> Result<String, String> {
    let wrong = || {
        format!(
            "`{path}` is neither a JSON Pointer (/status) nor the JSONPath subset ($.status, $.items[0].ok, \
             $['a.b'])"
        )
    };
    if path.is_empty() || path.starts_with('/') {
        return Ok(path.to_owned());
    }
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err(wrong());
    };
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    let mut pointer = String::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(wrong());
            }
            pointer.push('/');
            pointer.push_str(&escape(key));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(wrong)?;
            let inner = &after[..end];
            let key = if let Some(quoted) = inner
                .strip_prefix('\'')
                .and_then(|q| q.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|q| q.strip_suffix('"')))
            {
                quoted
            } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                inner
            } else {
                return Err(wrong());
            };
            pointer.push('/');
            pointer.push_str(&escape(key));
            rest = &after[end + 1..];
        } else {
            return Err(wrong());
        }
    }
    Ok(pointer)
}

/// Accepted HTTP status codes, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<(u16, u16)>);

impl StatusRanges {
    /// Reads `200-299,301` (spaces allowed around `-` and `,`; a range written high-low is read low-high).
    pub fn parse(text: &str) -> Result<Self, String> {
        if !patterns::is_status_ranges(text) {
            return Err(format!(
                "`{text}` is not a list of status codes (100 to 599) and ranges, such as 200-299,301"
            ));
        }
        let ranges = text
            .split(',')
            .map(|part| {
                let (low, high) = part.split_once('-').unwrap_or((part, part));
                let code = |code: &str| code.trim().parse::<u16>().unwrap_or_default();
                let (low, high) = (code(low), code(high));
                (low.min(high), low.max(high))
            })
            .collect();
        Ok(Self(ranges))
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(low, high)| (*low..=*high).contains(&status))
    }
}

/// Splits `host:port` (IPv6 as `[::1]:22`); the port is required.
pub fn split_host_port(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| (host.to_owned(), port))
}

impl Check {
    /// What a check of `kind` probes: `target` when given, else what the tile's url implies.
    pub fn resolve_target(kind: CheckKind, target: Option<&str>, service_url: &str) -> Option<String> {
        let url = url::Url::parse(service_url).ok();
        match kind {
            CheckKind::Http | CheckKind::Keyword => Some(target.unwrap_or(service_url).to_owned()),
            CheckKind::Tcp | CheckKind::Tls => {
                let default = || {
                    Some(format!(
                        "{}:{}",
                        url.as_ref()?.host_str()?,
                        url.as_ref()?.port_or_known_default()?
                    ))
                };
                target
                    .map(str::to_owned)
                    .or_else(default)
                    .filter(|t| split_host_port(t).is_some())
            }
            // Nothing is probed: the tile's own URL is where people look.
            CheckKind::Push => Some(service_url.to_owned()),
            CheckKind::Dns | CheckKind::Ping => {
                let default = || url.as_ref()?.host_str().map(str::to_owned);
                target
                    .map(str::to_owned)
                    .or_else(default)
                    .filter(|name| !name.is_empty() && !name.contains(['/', ':', ' ']) && name.len() <= 253)
            }
        }
    }

    /// A check of this kind with nothing else given (every default applies).
    pub fn bare(kind: CheckKind) -> Check {
        Check {
            kind,
            target: None,
            interval_s: None,
            timeout_s: None,
            retries: None,
            method: None,
            expected_status: None,
            follow_redirects: None,
            verify_tls: None,
            headers: None,
            keyword: None,
            keyword_absent: None,
            record_type: None,
            expected: None,
            degraded_above_ms: None,
            cert_warn_days: None,
            json: None,
            packets: None,
            loss_down_pct: None,
            token: None,
            schedule: None,
            timezone: None,
            grace_s: None,
        }
    }

    /// This check's target for a tile at `service_url`.
    pub fn effective_target(&self, service_url: &str) -> Option<String> {
        Self::resolve_target(self.kind, self.target.as_deref(), service_url)
    }

    /// A check from its JSON form (as the API and config files write it), validated and with its defaults,
    /// for a tile at `service_url`.
    pub fn from_json(spec: serde_json::Value, service_url: Option<&str>) -> Result<Check, Vec<FieldError>> {
        let check: Check =
            serde_json::from_value(spec).map_err(|err| vec![FieldError::new("check", err.to_string())])?;
        let mut errors = Vec::new();
        let check = check.normalised(service_url, &mut errors);
        if errors.is_empty() { Ok(check) } else { Err(errors) }
    }

    /// Checks the fields for this kind and fills in every default but `target`.
    /// `service_url` is the tile's url when known (a patch may leave it out); every http(s) url implies a
    /// target, so only an explicit target can fail then.
    /// The fields given a value, by name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("target", self.target.is_some()),
            ("interval_s", self.interval_s.is_some()),
            ("timeout_s", self.timeout_s.is_some()),
            ("retries", self.retries.is_some()),
            ("method", self.method.is_some()),
            ("expected_status", self.expected_status.is_some()),
            ("follow_redirects", self.follow_redirects.is_some()),
            ("verify_tls", self.verify_tls.is_some()),
            ("headers", self.headers.is_some()),
            ("keyword", self.keyword.is_some()),
            ("keyword_absent", self.keyword_absent.is_some()),
            ("record_type", self.record_type.is_some()),
            ("expected", self.expected.is_some()),
            ("degraded_above_ms", self.degraded_above_ms.is_some()),
            ("cert_warn_days", self.cert_warn_days.is_some()),
            ("json", self.json.is_some()),
            ("packets", self.packets.is_some()),
            ("loss_down_pct", self.loss_down_pct.is_some()),
            ("token", self.token.is_some()),
            ("schedule", self.schedule.is_some()),
            ("timezone", self.timezone.is_some()),
            ("grace_s", self.grace_s.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// Checks the fields for this kind and fills in every default but `target`. The rules are those the spec
    /// publishes for the kind's schema. `service_url` is the tile's url when known (a patch may leave it
    /// out); every http(s) url implies a target, so only an explicit target can fail then.
    pub fn normalised(self, service_url: Option<&str>, errors: &mut Vec<FieldError>) -> Check {
        let field = |name: &str| format!("check.{name}");
        for name in self.given() {
            if !self.kind.fields().contains(&name) {
                let kinds: Vec<&str> = CheckKind::ALL
                    .iter()
                    .filter(|kind| kind.fields().contains(&name))
                    .map(|kind| kind.as_str())
                    .collect();
                errors.push(FieldError::new(
                    field(name),
                    format!("only applies to {} checks", kinds.join(" and ")),
                ));
            }
        }
        let interval_s = self.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
        if !(MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&interval_s) {
            errors.push(FieldError::new(
                field("interval_s"),
                format!("must be {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds"),
            ));
        }
        let timeout_s = self.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S.min(interval_s));
        if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
            errors.push(FieldError::new(
                field("timeout_s"),
                format!("must be 1 to {MAX_TIMEOUT_S} seconds"),
            ));
        }
        // A push check that missed its time is down at once unless retries are asked for.
        let default_retries = if self.kind == CheckKind::Push {
            0
        } else {
            DEFAULT_RETRIES
        };
        let retries = self.retries.unwrap_or(default_retries);
        if retries > MAX_RETRIES {
            errors.push(FieldError::new(
                field("retries"),
                format!("must be 0 to {MAX_RETRIES}"),
            ));
        }
        let applies = |name: &str| self.kind.fields().contains(&name);

        // A target left out follows the tile's url, even after the url changes; one given must have the
        // kind's shape.
        if let Some(target) = &self.target {
            let (pattern, max_chars) = self.kind.target_pattern();
            let shaped = target.chars().count() <= max_chars
                && match self.kind {
                    CheckKind::Http | CheckKind::Keyword => {
                        patterns::is_http_url(target) && url::Url::parse(target).is_ok()
                    }
                    CheckKind::Tcp | CheckKind::Tls => patterns::is_host_port(target),
                    CheckKind::Dns | CheckKind::Ping => patterns::is_dns_name(target),
                    CheckKind::Push => false,
                };
            if !shaped {
                let example = match self.kind {
                    CheckKind::Http | CheckKind::Keyword => {
                        "an absolute http(s) URL, such as https://nas.lan:5001"
                    }
                    CheckKind::Tcp => "host:port, such as nas.lan:22",
                    CheckKind::Tls => "host:port, such as nas.lan:443",
                    CheckKind::Dns => "a host name, such as nas.home.lan",
                    CheckKind::Ping => "a host name or IPv4 address, such as router.lan",
                    CheckKind::Push => "left out: nothing is probed",
                };
                errors.push(FieldError::new(
                    field("target"),
                    format!("must be {example}, at most {max_chars} characters (pattern {pattern})"),
                ));
            }
        } else if let Some(url) = service_url
            && Check::resolve_target(self.kind, None, url).is_none()
        {
            errors.push(FieldError::new(
                field("target"),
                "cannot be derived from the tile's url: give one",
            ));
        }

        let http = applies("method");
        let method = http.then(|| self.method.unwrap_or_else(|| "GET".into()));
        if let Some(method) = method.as_deref().filter(|m| !HTTP_METHODS.contains(m)) {
            errors.push(FieldError::new(
                field("method"),
                format!("`{method}` is not one of {}", HTTP_METHODS.join(", ")),
            ));
        }
        let expected_status = http.then(|| {
            self.expected_status
                .unwrap_or_else(|| DEFAULT_EXPECTED_STATUS.into())
        });
        if let Some(text) = expected_status.as_deref() {
            if text.chars().count() > 200 {
                errors.push(FieldError::new(
                    field("expected_status"),
                    "must be at most 200 characters",
                ));
            } else if let Err(message) = StatusRanges::parse(text) {
                errors.push(FieldError::new(field("expected_status"), message));
            }
        }
        if let Some(headers) = &self.headers {
            if headers.len() > MAX_HEADERS {
                errors.push(FieldError::new(
                    field("headers"),
                    format!("at most {MAX_HEADERS} headers (got {})", headers.len()),
                ));
            }
            for (name, value) in headers {
                let valid = patterns::is_header_name(name)
                    && patterns::is_header_value(value)
                    && value.len() <= MAX_HEADER_VALUE_CHARS;
                if !valid {
                    errors.push(FieldError::new(
                        field(&format!("headers.{name}")),
                        format!(
                            "is not a valid HTTP header: a name of letters, digits and !#$%&'*+.^_`|~- and a value \
                             of visible ASCII, spaces and tabs, at most {MAX_HEADER_VALUE_CHARS} characters"
                        ),
                    ));
                }
            }
        }
        if let Some(keyword) = &self.keyword {
            let chars = keyword.chars().count();
            if !(1..=MAX_KEYWORD_CHARS).contains(&chars) {
                errors.push(FieldError::new(
                    field("keyword"),
                    format!("must be 1 to {MAX_KEYWORD_CHARS} characters (got {chars})"),
                ));
            }
        } else if self.kind == CheckKind::Keyword {
            errors.push(FieldError::new(
                field("keyword"),
                "is required for a keyword check",
            ));
        }
        if let Some(record) = self.record_type.as_deref().filter(|r| !RECORD_TYPES.contains(r)) {
            errors.push(FieldError::new(
                field("record_type"),
                format!("`{record}` is not one of {}", RECORD_TYPES.join(", ")),
            ));
        }
        if self.expected.as_ref().is_some_and(|e| e.chars().count() > 255) {
            errors.push(FieldError::new(
                field("expected"),
                "must be at most 255 characters",
            ));
        }

        if let Some(ms) = self.degraded_above_ms
            && !(1..=MAX_DEGRADED_ABOVE_MS).contains(&ms)
        {
            errors.push(FieldError::new(
                field("degraded_above_ms"),
                format!("must be 1 to {MAX_DEGRADED_ABOVE_MS} milliseconds"),
            ));
        }
        if let Some(days) = self.cert_warn_days
            && days > MAX_CERT_WARN_DAYS
        {
            errors.push(FieldError::new(
                field("cert_warn_days"),
                format!("must be 0 to {MAX_CERT_WARN_DAYS} days"),
            ));
        }
        if let Some(conditions) = &self.json {
            if conditions.len() > MAX_JSON_CONDITIONS {
                errors.push(FieldError::new(
                    field("json"),
                    format!(
                        "at most {MAX_JSON_CONDITIONS} conditions (got {})",
                        conditions.len()
                    ),
                ));
            }
            for (index, condition) in conditions.iter().enumerate() {
                if condition.path.chars().count() > MAX_JSON_PATH_CHARS {
                    errors.push(FieldError::new(
                        field(&format!("json.{index}.path")),
                        format!("must be at most {MAX_JSON_PATH_CHARS} characters"),
                    ));
                } else if let Err(message) = condition.pointer() {
                    errors.push(FieldError::new(field(&format!("json.{index}.path")), message));
                }
                if condition.op != JsonOp::Exists && condition.value.is_none() {
                    errors.push(FieldError::new(
                        field(&format!("json.{index}.value")),
                        format!("is required for `{}`", condition.op.as_str()),
                    ));
                }
                if condition
                    .value
                    .as_ref()
                    .is_some_and(|value| value.to_string().len() > 1024)
                {
                    errors.push(FieldError::new(
                        field(&format!("json.{index}.value")),
                        "must be at most 1024 characters as JSON",
                    ));
                }
            }
        }
        if let Some(packets) = self.packets
            && !(1..=MAX_PACKETS).contains(&packets)
        {
            errors.push(FieldError::new(
                field("packets"),
                format!("must be 1 to {MAX_PACKETS}"),
            ));
        }
        if let Some(pct) = self.loss_down_pct
            && !(1..=100).contains(&pct)
        {
            errors.push(FieldError::new(field("loss_down_pct"), "must be 1 to 100"));
        }

        if let Some(token) = &self.token
            && !patterns::is_push_token(token)
        {
            errors.push(FieldError::new(
                field("token"),
                "must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -",
            ));
        }
        let push = self.kind == CheckKind::Push;
        let timezone = self
            .timezone
            .clone()
            .or_else(|| (push && self.schedule.is_some()).then(|| "UTC".to_owned()));
        if let Some(zone) = &timezone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            errors.push(FieldError::new(
                field("timezone"),
                format!("`{zone}` is not an IANA time zone, such as Europe/Berlin or UTC"),
            ));
        }
        if let Some(schedule) = &self.schedule {
            if schedule.chars().count() > MAX_SCHEDULE_CHARS {
                errors.push(FieldError::new(
                    field("schedule"),
                    format!("must be at most {MAX_SCHEDULE_CHARS} characters"),
                ));
            } else if let Err(message) = PushSchedule::parse_cron(schedule) {
                errors.push(FieldError::new(field("schedule"), message));
            }
        }
        if let Some(grace) = self.grace_s
            && grace > MAX_GRACE_S
        {
            errors.push(FieldError::new(
                field("grace_s"),
                format!("must be 0 to {MAX_GRACE_S} seconds"),
            ));
        }

        let keyword_kind = self.kind == CheckKind::Keyword;
        Check {
            kind: self.kind,
            target: self.target,
            interval_s: Some(interval_s),
            timeout_s: (!push).then_some(timeout_s),
            retries: Some(retries),
            method,
            expected_status,
            follow_redirects: http.then(|| self.follow_redirects.unwrap_or(true)),
            verify_tls: applies("verify_tls").then(|| self.verify_tls.unwrap_or(true)),
            headers: http.then(|| self.headers.unwrap_or_default()),
            keyword_absent: keyword_kind.then(|| self.keyword_absent.unwrap_or(false)),
            keyword: self.keyword.filter(|_| keyword_kind),
            record_type: self.record_type.filter(|_| applies("record_type")),
            expected: self
                .expected
                .filter(|_| applies("expected"))
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty()),
            degraded_above_ms: self.degraded_above_ms,
            cert_warn_days: applies("cert_warn_days")
                .then(|| self.cert_warn_days.unwrap_or(DEFAULT_CERT_WARN_DAYS)),
            json: self.json.filter(|c| applies("json") && !c.is_empty()),
            packets: applies("packets").then(|| self.packets.unwrap_or(DEFAULT_PACKETS)),
            loss_down_pct: applies("loss_down_pct")
                .then(|| self.loss_down_pct.unwrap_or(DEFAULT_LOSS_DOWN_PCT)),
            token: self.token.filter(|_| push),
            timezone: timezone.filter(|_| push && self.schedule.is_some()),
            schedule: self.schedule.filter(|_| push),
            grace_s: push.then(|| self.grace_s.unwrap_or(DEFAULT_GRACE_S)),
        }
    }
}

/// When a push check expects its next call.
pub struct PushSchedule {
    cron: Option<(croner::Cron, chrono_tz::Tz)>,
    interval: chrono::TimeDelta,
    grace: chrono::TimeDelta,
}

impl PushSchedule {
    /// A cron expression of 5 fields (or 6, seconds first), or why it is not one.
    pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(text)
            .map_err(|err| {
                format!("is not a cron schedule ({err}); for example `30 3 * * *` (03:30 every day)")
            })
    }

    /// The schedule of a push check; None for other kinds.
    pub fn of(check: &Check) -> Option<Self> {
        if check.kind != CheckKind::Push {
            return None;
        }
        let cron = check.schedule.as_deref().and_then(|text| {
            let zone = check
                .timezone
                .as_deref()
                .and_then(|zone| zone.parse::<chrono_tz::Tz>().ok())
                .unwrap_or(chrono_tz::UTC);
            Some((Self::parse_cron(text).ok()?, zone))
        });
        Some(Self {
            cron,
            interval: super::seconds(i64::from(check.interval_s.unwrap_or(DEFAULT_INTERVAL_S))),
            grace: super::seconds(i64::from(check.grace_s.unwrap_or(DEFAULT_GRACE_S))),
        })
    }

    /// When the next call is due after one at `last`: the next cron time, or `last` plus the interval.
    pub fn due_after(&self, last: DateTime<Utc>) -> DateTime<Utc> {
        match &self.cron {
            Some((cron, zone)) => cron
                .find_next_occurrence(&last.with_timezone(zone), false)
                .map(|at| at.with_timezone(&Utc))
                .unwrap_or_else(|_| self.after(last, self.interval)),
            None => self.after(last, self.interval),
        }
    }

    fn after(&self, at: DateTime<Utc>, span: chrono::TimeDelta) -> DateTime<Utc> {
        at.checked_add_signed(span).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The last moment a call due after `last` may come: the due time plus the grace.
    pub fn deadline_after(&self, last: DateTime<Utc>) -> DateTime<Utc> {
        self.after(self.due_after(last), self.grace)
    }
}

/// Where a tile stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Not checked yet, or no check configured.
    Unknown,
    /// The last check passed.
    Up,
    /// Failing, with retries not yet spent.
    Pending,
    /// Failed `retries + 1` times in a row.
    Down,
    /// Checks are paused.
    Paused,
    /// In a maintenance window: checks run, nothing is notified.
    Maintenance,
    /// Up, but not well: slower than `degraded_above_ms`, or a certificate near expiry (the reason is in
    /// `last_error`). Counts as up in uptime.
    Degraded,
}

/// What the engine last saw of a tile; read-only.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// When the tile entered this state.
    pub since: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<u32>,
    /// Why the last check failed, or why a passing one left the tile `degraded`.
    pub last_error: Option<String>,
    /// The TLS certificate the last https or tls check was shown.
    #[oai(skip_serializing_if_is_none)]
    pub certificate: Option<Certificate>,
}

/// A server's TLS certificate, as a check saw it.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct Certificate {
    /// The end of its validity (notAfter).
    pub expires_at: DateTime<Utc>,
    /// Whole days from the check to `expires_at`; negative once expired.
    pub days_left: i64,
    /// Who signed it (the issuer's common name, or its whole name).
    pub issuer: String,
    /// Whom it is for (the subject's common name, or its whole name).
    pub subject: String,
}

impl Certificate {
    /// Whole days left at `at` (rounded down; -1 during the first day after expiry).
    pub fn days_left_at(expires_at: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
        (expires_at - at).num_seconds().div_euclid(86_400)
    }
}

/// What the engine needs of a tile it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedTile {
    pub id: i64,
    pub group_id: i64,
    pub url: String,
    pub check: Check,
    pub state: ServiceState,
    /// When the tile entered `state`, if it ever was checked.
    pub since: Option<DateTime<Utc>>,
    /// What people were last told about it.
    pub memory: super::AlertMemory,
}

impl WatchedTile {
    /// The tile as the engine checks it, or None when it has no check or is paused.
    pub fn of(service: &super::Service) -> Option<Self> {
        if service.status.state == ServiceState::Paused {
            return None;
        }
        Some(Self {
            id: service.id,
            group_id: service.group_id,
            url: service.url.clone(),
            check: service.check.clone()?,
            state: service.status.state,
            since: service.status.since,
            memory: super::AlertMemory::default(),
        })
    }
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Pending => "pending",
            Self::Down => "down",
            Self::Paused => "paused",
            Self::Maintenance => "maintenance",
            Self::Degraded => "degraded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Unknown,
            Self::Up,
            Self::Pending,
            Self::Down,
            Self::Paused,
            Self::Maintenance,
            Self::Degraded,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind) -> Check {
        Check::bare(kind)
    }

    #[test]
    fn status_ranges_parse_and_match() {
        let ranges = StatusRanges::parse("200-299, 301").unwrap();
        assert!(
            ranges.contains(204) && ranges.contains(301) && !ranges.contains(302) && !ranges.contains(500)
        );
        assert!(
            StatusRanges::parse("299-200").unwrap().contains(250),
            "read low-high"
        );
        assert!(StatusRanges::parse("200,,301").is_err());
        assert!(StatusRanges::parse("2xx").is_err());
        assert!(StatusRanges::parse("").is_err());
        assert!(StatusRanges::parse("700").is_err());
    }

    #[test]
    fn defaults_come_from_the_tile_url() {
        let mut errors = Vec::new();
        let http = check(CheckKind::Http).normalised(Some("https://jf.lan:8096/web"), &mut errors);
        assert_eq!(http.target, None, "a left-out target follows the url");
        assert_eq!(
            http.effective_target("https://jf.lan:8096/web").as_deref(),
            Some("https://jf.lan:8096/web")
        );
        assert_eq!(
            (http.interval_s, http.timeout_s, http.retries),
            (Some(60), Some(10), Some(2))
        );
        assert_eq!(http.expected_status.as_deref(), Some("200-299"));
        let tcp = check(CheckKind::Tcp).normalised(Some("https://nas.lan/"), &mut errors);
        assert_eq!(
            tcp.effective_target("https://nas.lan/").as_deref(),
            Some("nas.lan:443")
        );
        assert_eq!(
            tcp.effective_target("http://nas.lan:8080/").as_deref(),
            Some("nas.lan:8080"),
            "follows url changes"
        );
        assert_eq!(tcp.method, None, "http fields stay empty on a tcp check");
        let dns = check(CheckKind::Dns).normalised(Some("http://router.lan:8080"), &mut errors);
        assert_eq!(
            dns.effective_target("http://router.lan:8080").as_deref(),
            Some("router.lan")
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn bad_checks_name_their_fields() {
        let mut errors = Vec::new();
        Check {
            interval_s: Some(2),
            timeout_s: Some(0),
            retries: Some(11),
            method: Some("FETCH".into()),
            expected_status: Some("2xx".into()),
            record_type: Some("A".into()),
            ..check(CheckKind::Keyword)
        }
        .normalised(Some("https://x.lan"), &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "check.record_type",
                "check.interval_s",
                "check.timeout_s",
                "check.retries",
                "check.method",
                "check.expected_status",
                "check.keyword"
            ]
        );
        let mut errors = Vec::new();
        Check {
            target: Some("nas.lan".into()),
            ..check(CheckKind::Tcp)
        }
        .normalised(Some("https://x.lan"), &mut errors);
        assert_eq!(errors[0].field, "check.target");
    }

    #[test]
    fn host_port_splits_ipv6_too() {
        assert_eq!(split_host_port("nas.lan:22"), Some(("nas.lan".into(), 22)));
        assert_eq!(split_host_port("[::1]:8080"), Some(("::1".into(), 8080)));
        assert_eq!(split_host_port("nas.lan"), None);
        assert_eq!(split_host_port("nas.lan:0"), None);
    }
}
