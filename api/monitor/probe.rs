//! The probes: one HTTP client set and one DNS resolver shared by every check, and one function that runs
//! a check once and says what it found, in words a person can act on.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use hickory_resolver::{TokioResolver, proto::rr::RecordType};

use crate::model::{Check, CheckKind, check::StatusRanges, check::split_host_port};

/// Longest body read for a keyword check; the keyword must appear within it.
pub const KEYWORD_BODY_LIMIT: usize = 1024 * 1024;
const ERROR_MAX_CHARS: usize = 300;

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency_ms: u32,
    /// The HTTP status, for http and keyword checks that got a response.
    pub status_code: Option<u16>,
    /// Why the check failed; None when it passed.
    pub error: Option<String>,
}

/// Shared clients: building one per check would cost a TLS context and a connection pool each time.
pub struct Prober {
    /// Indexed by verify_tls. They never follow redirects themselves: `http` does, so that a check's own
    /// headers (often credentials) go only to the origin they were meant for.
    http: [reqwest::Client; 2],
    resolver: TokioResolver,
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

impl Prober {
    pub fn new() -> Result<Self, String> {
        let client = |verify: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("Homewatch/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(!verify)
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .map_err(|err| format!("cannot build the HTTP client: {err}"))
        };
        let http = [client(false)?, client(true)?];
        let resolver = TokioResolver::builder_tokio()
            .map_err(|err| format!("cannot read the system's DNS configuration: {err}"))?
            .build()
            .map_err(|err| format!("cannot build the DNS resolver: {err}"))?;
        Ok(Self { http, resolver })
    }

    /// Runs `check` once against the tile at `service_url`; never takes longer than the check's timeout.
    pub async fn run(&self, check: &Check, service_url: &str) -> ProbeOutcome {
        let timeout = Duration::from_secs(u64::from(check.timeout_s.unwrap_or(10)));
        let started = Instant::now();
        let Some(target) = check.effective_target(service_url) else {
            return failed(0, None, "the check has no usable target".into());
        };
        let result = tokio::time::timeout(timeout, async {
            match check.kind {
                CheckKind::Http | CheckKind::Keyword => self.http(check, &target, timeout).await,
                CheckKind::Tcp => tcp(&target).await,
                CheckKind::Dns => self.dns(check, &target).await,
            }
        })
        .await;
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        match result {
            Ok(Ok(status_code)) => ProbeOutcome {
                ok: true,
                latency_ms,
                status_code,
                error: None,
            },
            Ok(Err((status_code, error))) => failed(latency_ms, status_code, error),
            Err(_) => failed(
                latency_ms,
                None,
                format!("no answer within {} s", timeout.as_secs()),
            ),
        }
    }

    async fn http(
        &self,
        check: &Check,
        target: &str,
        timeout: Duration,
    ) -> Result<Option<u16>, (Option<u16>, String)> {
        let client = &self.http[usize::from(check.verify_tls.unwrap_or(true))];
        let mut method = reqwest::Method::from_bytes(check.method.as_deref().unwrap_or("GET").as_bytes())
            .map_err(|_| (None, "invalid method".to_owned()))?;
        let mut url =
            url::Url::parse(target).map_err(|err| (None, format!("the target is not a URL: {err}")))?;
        let origin = url.origin();
        let follow = check.follow_redirects.unwrap_or(true);
        let mut redirects = 0;
        let mut response = loop {
            let mut request = client.request(method.clone(), url.clone()).timeout(timeout);
            // The check's headers go to the origin it names, never to another host a redirect points at.
            if url.origin() == origin {
                for (name, value) in check.headers.iter().flatten() {
                    request = request.header(name, value);
                }
            }
            let response = request
                .send()
                .await
                .map_err(|err| (None, describe_http_error(&err)))?;
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| url.join(location).ok());
            match location {
                Some(next) if follow && response.status().is_redirection() => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err((Some(response.status().as_u16()), "too many redirects".into()));
                    }
                    // As browsers do: 303, and 301/302 after a POST, continue with GET.
                    let status = response.status().as_u16();
                    if status == 303 || (matches!(status, 301 | 302) && method == reqwest::Method::POST) {
                        method = reqwest::Method::GET;
                    }
                    url = next;
                }
                _ => break response,
            }
        };
        let status = response.status().as_u16();
        let accepted = check
            .expected_status
            .as_deref()
            .unwrap_or(crate::model::check::DEFAULT_EXPECTED_STATUS);
        let ranges = StatusRanges::parse(accepted).map_err(|err| (Some(status), err))?;
        if !ranges.contains(status) {
            return Err((Some(status), format!("status {status} is not in {accepted}")));
        }
        if check.kind == CheckKind::Keyword {
            let keyword = check.keyword.as_deref().unwrap_or_default();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| (Some(status), describe_http_error(&err)))?
            {
                body.extend_from_slice(&chunk);
                if body.len() >= KEYWORD_BODY_LIMIT {
                    body.truncate(KEYWORD_BODY_LIMIT);
                    break;
                }
            }
            let found = String::from_utf8_lossy(&body).contains(keyword);
            match (found, check.keyword_absent.unwrap_or(false)) {
                (true, true) => return Err((Some(status), format!("the body contains `{keyword}`"))),
                (false, false) => return Err((Some(status), format!("`{keyword}` is not in the body"))),
                _ => {}
            }
        }
        Ok(Some(status))
    }

    async fn dns(&self, check: &Check, name: &str) -> Result<Option<u16>, (Option<u16>, String)> {
        let answers: Vec<String> = match check.record_type.as_deref() {
            None => {
                let lookup = self
                    .resolver
                    .lookup_ip(name)
                    .await
                    .map_err(|err| (None, format!("{name}: {err}")))?;
                lookup.iter().map(|ip: IpAddr| ip.to_string()).collect()
            }
            Some(record) => {
                let record_type: RecordType = record
                    .parse()
                    .map_err(|_| (None, format!("unknown record type {record}")))?;
                let lookup = self
                    .resolver
                    .lookup(name, record_type)
                    .await
                    .map_err(|err| (None, format!("{name}: {err}")))?;
                let answers = lookup
                    .answers()
                    .iter()
                    .filter(|answer| answer.record_type() == record_type);
                answers
                    .map(|answer| answer.data.to_string().trim_end_matches('.').to_owned())
                    .collect()
            }
        };
        if answers.is_empty() {
            return Err((
                None,
                format!(
                    "{name} has no {} records",
                    check.record_type.as_deref().unwrap_or("address")
                ),
            ));
        }
        if let Some(expected) = check.expected.as_deref() {
            let expected = expected.trim_end_matches('.');
            if !answers.iter().any(|answer| answer.eq_ignore_ascii_case(expected)) {
                return Err((
                    None,
                    format!("{name} resolves to {}, not {expected}", answers.join(", ")),
                ));
            }
        }
        Ok(None)
    }
}

async fn tcp(target: &str) -> Result<Option<u16>, (Option<u16>, String)> {
    let (host, port) =
        split_host_port(target).ok_or_else(|| (None, format!("`{target}` is not host:port")))?;
    tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map(|_| None)
        .map_err(|err| (None, format!("{target}: {}", plain_io_error(&err))))
}

fn plain_io_error(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "connection timed out".into(),
        _ => err.to_string(),
    }
}

/// reqwest's Display stops at "error sending request"; the cause chain says what really happened. The URL
/// is left out: it may carry credentials.
fn describe_http_error(err: &reqwest::Error) -> String {
    let mut message = if err.is_timeout() {
        "timed out"
    } else if err.is_redirect() {
        "too many redirects"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "could not read the response"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

fn failed(latency_ms: u32, status_code: Option<u16>, error: String) -> ProbeOutcome {
    let error: String = error.chars().take(ERROR_MAX_CHARS).collect();
    ProbeOutcome {
        ok: false,
        latency_ms,
        status_code,
        error: Some(error),
    }
}
