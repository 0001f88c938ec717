//! How a tile is watched: the check it carries (http, keyword, tcp, dns), its validation and defaults,
//! and the read-only status the engine reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::FieldError;

pub const MIN_INTERVAL_S: u32 = 5;
pub const MAX_INTERVAL_S: u32 = 86_400;
pub const DEFAULT_INTERVAL_S: u32 = 60;
pub const MAX_TIMEOUT_S: u32 = 120;
pub const DEFAULT_TIMEOUT_S: u32 = 10;
pub const MAX_RETRIES: u32 = 10;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_EXPECTED_STATUS: &str = "200-299";
const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RECORD_TYPES: [&str; 7] = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV"];

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
}

/// The check a tile carries. Absent fields take their defaults; responses show the effective values.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub kind: CheckKind,
    /// What to probe: a URL for http/keyword, `host:port` for tcp, a name for dns. Null follows the tile's
    /// url (its host and port for tcp, its host for dns), also after the url changes.
    #[serde(default)]
    pub target: Option<String>,
    /// Seconds between checks, 5 to 86400 (default 60).
    #[serde(default)]
    pub interval_s: Option<u32>,
    /// Seconds a probe may take, 1 to 120 and at most the interval (default 10).
    #[serde(default)]
    pub timeout_s: Option<u32>,
    /// Failures in a row tolerated (state `pending`) before the tile is `down`, 0 to 10 (default 2).
    #[serde(default)]
    pub retries: Option<u32>,
    /// http/keyword: request method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// http/keyword: accepted status codes and ranges, such as `200-299,301` (default 200-299).
    #[serde(default)]
    pub expected_status: Option<String>,
    /// http/keyword: follow redirects (default true).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// http/keyword: reject invalid or self-signed certificates (default true).
    #[serde(default)]
    pub verify_tls: Option<bool>,
    /// http/keyword: request headers to send.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// keyword: the text that must appear in the body (or must not, with `keyword_absent`).
    #[serde(default)]
    pub keyword: Option<String>,
    /// keyword: the check passes when the text is absent (default false).
    #[serde(default)]
    pub keyword_absent: Option<bool>,
    /// dns: record type to ask for: A, AAAA, CNAME, MX, TXT, NS or SRV (default: any address).
    #[serde(default)]
    pub record_type: Option<String>,
    /// dns: a value one of the answers must equal (e.g. an IP address).
    #[serde(default)]
    pub expected: Option<String>,
}

/// Accepted HTTP status codes, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(Vec<(u16, u16)>);

impl StatusRanges {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let parse = |code: &str| -> Result<u16, String> {
                code.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|code| (100..=599).contains(code))
                    .ok_or_else(|| format!("`{part}` is not a status code or range such as 200-299"))
            };
            let (low, high) = (parse(low)?, parse(high)?);
            if low > high {
                return Err(format!("`{part}` runs backwards; write it low-high"));
            }
            ranges.push((low, high));
        }
        if ranges.is_empty() {
            return Err("give at least one status code or range, such as 200-299".into());
        }
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
            CheckKind::Tcp => {
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
            CheckKind::Dns => {
                let default = || url.as_ref()?.host_str().map(str::to_owned);
                target
                    .map(str::to_owned)
                    .or_else(default)
                    .filter(|name| !name.is_empty() && !name.contains(['/', ':', ' ']) && name.len() <= 253)
            }
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
    pub fn normalised(self, service_url: Option<&str>, errors: &mut Vec<FieldError>) -> Check {
        let field = |name: &str| format!("check.{name}");
        let interval_s = self.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
        if !(MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&interval_s) {
            errors.push(FieldError::new(
                field("interval_s"),
                format!("must be {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds"),
            ));
        }
        let timeout_s = self.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S.min(interval_s));
        if timeout_s == 0 || timeout_s > MAX_TIMEOUT_S || timeout_s > interval_s {
            errors.push(FieldError::new(
                field("timeout_s"),
                format!("must be 1 to {MAX_TIMEOUT_S} seconds and at most interval_s ({interval_s})"),
            ));
        }
        let retries = self.retries.unwrap_or(DEFAULT_RETRIES);
        if retries > MAX_RETRIES {
            errors.push(FieldError::new(
                field("retries"),
                format!("must be 0 to {MAX_RETRIES}"),
            ));
        }
        let is_http = matches!(self.kind, CheckKind::Http | CheckKind::Keyword);
        let mut only_for = |name: &str, present: bool, kinds: &str| {
            if present {
                errors.push(FieldError::new(
                    field(name),
                    format!("only applies to {kinds} checks"),
                ));
            }
        };
        if !is_http {
            only_for("method", self.method.is_some(), "http and keyword");
            only_for(
                "expected_status",
                self.expected_status.is_some(),
                "http and keyword",
            );
            only_for(
                "follow_redirects",
                self.follow_redirects.is_some(),
                "http and keyword",
            );
            only_for("verify_tls", self.verify_tls.is_some(), "http and keyword");
            only_for("headers", self.headers.is_some(), "http and keyword");
        }
        if self.kind != CheckKind::Keyword {
            only_for("keyword", self.keyword.is_some(), "keyword");
            only_for("keyword_absent", self.keyword_absent.is_some(), "keyword");
        }
        if self.kind != CheckKind::Dns {
            only_for("record_type", self.record_type.is_some(), "dns");
            only_for("expected", self.expected.is_some(), "dns");
        }

        // A target left out follows the tile's url, even after the url changes; it is still checked now.
        let target = self.target.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let resolved = match (service_url, &target) {
            (None, None) => None,
            _ => Some(Check::resolve_target(
                self.kind,
                target.as_deref(),
                service_url.unwrap_or_default(),
            )),
        };
        let target = match (self.kind, resolved) {
            (_, None) => target,
            (kind, Some(resolved)) => match (kind, resolved) {
                (CheckKind::Http | CheckKind::Keyword, Some(resolved)) => {
                    let checked = super::check_url(&field("target"), resolved, errors);
                    target.map(|_| checked)
                }
                (_, Some(_)) => target,
                (CheckKind::Tcp, None) => {
                    errors.push(FieldError::new(
                        field("target"),
                        "must be host:port, such as nas.lan:22",
                    ));
                    target
                }
                (_, None) => {
                    errors.push(FieldError::new(
                        field("target"),
                        "must be a host name, such as nas.home.lan",
                    ));
                    target
                }
            },
        };

        let method = is_http.then(|| self.method.unwrap_or_else(|| "GET".into()).trim().to_uppercase());
        if let Some(method) = method.as_deref().filter(|m| !HTTP_METHODS.contains(m)) {
            errors.push(FieldError::new(
                field("method"),
                format!("`{method}` is not one of {}", HTTP_METHODS.join(", ")),
            ));
        }
        let expected_status = is_http.then(|| {
            self.expected_status
                .unwrap_or_else(|| DEFAULT_EXPECTED_STATUS.into())
                .trim()
                .to_owned()
        });
        if let Some(Err(message)) = expected_status.as_deref().map(StatusRanges::parse) {
            errors.push(FieldError::new(field("expected_status"), message));
        }
        if let Some(headers) = &self.headers {
            for (name, value) in headers {
                let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && http::HeaderValue::from_str(value).is_ok();
                if !valid {
                    errors.push(FieldError::new(
                        field(&format!("headers.{name}")),
                        "is not a valid HTTP header",
                    ));
                }
            }
        }
        let keyword = self.keyword.filter(|k| !k.is_empty());
        if self.kind == CheckKind::Keyword && keyword.is_none() {
            errors.push(FieldError::new(
                field("keyword"),
                "is required for a keyword check",
            ));
        }
        let record_type = self.record_type.map(|r| r.trim().to_uppercase());
        if let Some(record) = record_type.as_deref().filter(|r| !RECORD_TYPES.contains(r)) {
            errors.push(FieldError::new(
                field("record_type"),
                format!("`{record}` is not one of {}", RECORD_TYPES.join(", ")),
            ));
        }

        Check {
            kind: self.kind,
            target,
            interval_s: Some(interval_s),
            timeout_s: Some(timeout_s),
            retries: Some(retries),
            method,
            expected_status,
            follow_redirects: is_http.then(|| self.follow_redirects.unwrap_or(true)),
            verify_tls: is_http.then(|| self.verify_tls.unwrap_or(true)),
            headers: is_http.then(|| self.headers.unwrap_or_default()),
            keyword_absent: (self.kind == CheckKind::Keyword).then(|| self.keyword_absent.unwrap_or(false)),
            keyword,
            record_type,
            expected: self
                .expected
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty()),
        }
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
    /// In a maintenance window (reserved).
    Maintenance,
}

/// What the engine last saw of a tile; read-only.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// When the tile entered this state.
    pub since: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<u32>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
}

/// What the engine needs of a tile it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedTile {
    pub id: i64,
    pub url: String,
    pub check: Check,
    pub state: ServiceState,
    /// When the tile entered `state`, if it ever was checked.
    pub since: Option<DateTime<Utc>>,
}

impl WatchedTile {
    /// The tile as the engine checks it, or None when it has no check or is paused.
    pub fn of(service: &super::Service) -> Option<Self> {
        if service.status.state == ServiceState::Paused {
            return None;
        }
        Some(Self {
            id: service.id,
            url: service.url.clone(),
            check: service.check.clone()?,
            state: service.status.state,
            since: service.status.since,
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
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind) -> Check {
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
        }
    }

    #[test]
    fn status_ranges_parse_and_match() {
        let ranges = StatusRanges::parse("200-299, 301").unwrap();
        assert!(
            ranges.contains(204) && ranges.contains(301) && !ranges.contains(302) && !ranges.contains(500)
        );
        assert!(StatusRanges::parse("299-200").unwrap_err().contains("backwards"));
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
                "check.interval_s",
                "check.timeout_s",
                "check.retries",
                "check.record_type",
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
