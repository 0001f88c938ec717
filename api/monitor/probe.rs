//! The probes: one HTTP client set, one DNS resolver, one TLS trust store and one ICMP socket per address
//! family shared by every check, and one function that runs a check once and says what it found, in words a
//! person can act on.

use std::{
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use hickory_resolver::{TokioResolver, proto::rr::RecordType};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::sync::OnceCell;

use crate::model::{
    Certificate, Check, CheckKind,
    check::{StatusRanges, split_host_port},
};

/// Longest body read for a keyword check; the keyword must appear within it.
pub const KEYWORD_BODY_LIMIT: usize = 1024 * 1024;
const ERROR_MAX_CHARS: usize = 300;

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency_ms: u32,
    /// The HTTP status, for http and keyword checks that got a response.
    pub status_code: Option<u16>,
    /// Why the check failed, or why a passing one is degraded; None when it passed well.
    pub error: Option<String>,
    /// Passed, but not well (the reason is in `error`).
    pub degraded: bool,
    /// ping: the share of packets lost, in percent.
    pub packet_loss_pct: Option<u8>,
    /// The TLS certificate the server showed (https and tls checks).
    pub certificate: Option<Certificate>,
}

/// What a probe found besides passing or failing.
#[derive(Debug, Default)]
struct Found {
    status_code: Option<u16>,
    certificate: Option<Certificate>,
    packet_loss_pct: Option<u8>,
    /// Replaces the time the probe took as its latency (ping: the average round trip).
    latency_ms: Option<u32>,
    /// Why a passing check is degraded.
    warning: Option<String>,
}

impl Found {
    fn status(status_code: Option<u16>) -> Self {
        Self {
            status_code,
            ..Self::default()
        }
    }
}

/// Why a probe failed, and what it found on the way.
#[derive(Debug)]
struct Miss {
    found: Found,
    error: String,
}

impl From<(Option<u16>, String)> for Miss {
    fn from((status_code, error): (Option<u16>, String)) -> Self {
        Self {
            found: Found::status(status_code),
            error,
        }
    }
}

/// Shared clients: building one per check would cost a TLS context and a connection pool each time.
pub struct Prober {
    /// Indexed by verify_tls. They never follow redirects themselves: `http` does, so that a check's own
    /// headers (often credentials) go only to the origin they were meant for.
    http: [reqwest::Client; 2],
    resolver: TokioResolver,
    /// The certificate verifier of tls checks: the same roots as the HTTP clients.
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    /// ICMP sockets, IPv4 and IPv6, opened at the first ping check; the error says what to allow.
    icmp: [OnceCell<Result<surge_ping::Client, String>>; 2],
    /// Echo sequence numbers, unique across checks (unprivileged sockets ignore the identifier).
    sequence: AtomicU16,
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

impl Prober {
    /// Probes that trust the public web's certificate authorities (Mozilla's list).
    pub fn new() -> Result<Self, String> {
        Self::trusting(None)
    }

    /// Probes that also trust the certificates of `extra_pem` (PEM; a private CA of a home network).
    pub fn trusting(extra_pem: Option<&[u8]>) -> Result<Self, String> {
        let extra: Vec<CertificateDer<'static>> = match extra_pem {
            Some(pem) => CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|err| format!("cannot read the certificates: {err}"))?,
            None => Vec::new(),
        };
        if extra_pem.is_some() && extra.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &extra {
            roots
                .add(cert.clone())
                .map_err(|err| format!("a certificate cannot be trusted: {err}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|err| format!("cannot build the certificate verifier: {err}"))?;
        let client = |verify: bool| {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("Homewatch/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(!verify)
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(90))
                .tls_info(true);
            for cert in &extra {
                let cert = reqwest::Certificate::from_der(cert)
                    .map_err(|err| format!("a certificate cannot be trusted: {err}"))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build()
                .map_err(|err| format!("cannot build the HTTP client: {err}"))
        };
        let http = [client(false)?, client(true)?];
        let resolver = TokioResolver::builder_tokio()
            .map_err(|err| format!("cannot read the system's DNS configuration: {err}"))?
            .build()
            .map_err(|err| format!("cannot build the DNS resolver: {err}"))?;
        Ok(Self {
            http,
            resolver,
            verifier,
            provider,
            icmp: [OnceCell::new(), OnceCell::new()],
            sequence: AtomicU16::new(0),
        })
    }

    /// Runs `check` once against the tile at `service_url`; never takes longer than the check's timeout.
    pub async fn run(&self, check: &Check, service_url: &str) -> ProbeOutcome {
        let timeout = Duration::from_secs(u64::from(check.timeout_s.unwrap_or(10)));
        let started = Instant::now();
        let Some(target) = check.effective_target(service_url) else {
            return failed(0, Found::default(), "the check has no usable target".into());
        };
        let result = tokio::time::timeout(timeout, async {
            match check.kind {
                CheckKind::Http | CheckKind::Keyword => self.http(check, &target, timeout).await,
                CheckKind::Tcp => tcp(&target).await.map(Found::status).map_err(Miss::from),
                CheckKind::Dns => self
                    .dns(check, &target)
                    .await
                    .map(Found::status)
                    .map_err(Miss::from),
                CheckKind::Tls => self.tls(check, &target).await,
                CheckKind::Ping => self.ping(check, &target, timeout).await,
                // The engine never probes a push check: its results come from the calls it gets.
                CheckKind::Push => Err(Miss::from((None, "a push check is not probed".to_owned()))),
            }
        })
        .await;
        let elapsed = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        match result {
            Ok(Ok(found)) => {
                let latency_ms = found.latency_ms.unwrap_or(elapsed);
                let mut reasons: Vec<String> = found.warning.into_iter().collect();
                if let Some(cert) = &found.certificate
                    && let Some(days) = check.cert_warn_days.filter(|days| *days > 0)
                    && cert.days_left < i64::from(days)
                {
                    reasons.push(certificate_words(cert));
                }
                if let Some(limit) = check.degraded_above_ms
                    && latency_ms > limit
                {
                    reasons.push(format!("{latency_ms} ms is slower than {limit} ms"));
                }
                ProbeOutcome {
                    ok: true,
                    latency_ms,
                    status_code: found.status_code,
                    degraded: !reasons.is_empty(),
                    error: (!reasons.is_empty()).then(|| shorten(reasons.join("; "))),
                    packet_loss_pct: found.packet_loss_pct,
                    certificate: found.certificate,
                }
            }
            Ok(Err(miss)) => {
                let latency_ms = miss.found.latency_ms.unwrap_or(elapsed);
                failed(latency_ms, miss.found, miss.error)
            }
            Err(_) => failed(
                elapsed,
                Found::default(),
                format!("no answer within {} s", timeout.as_secs()),
            ),
        }
    }

    async fn http(&self, check: &Check, target: &str, timeout: Duration) -> Result<Found, Miss> {
        let client = &self.http[usize::from(check.verify_tls.unwrap_or(true))];
        let mut method = reqwest::Method::from_bytes(check.method.as_deref().unwrap_or("GET").as_bytes())
            .map_err(|_| Miss::from((None, "invalid method".to_owned())))?;
        let mut url = url::Url::parse(target)
            .map_err(|err| Miss::from((None, format!("the target is not a URL: {err}"))))?;
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
                .map_err(|err| Miss::from((None, plain_tls_words(describe_http_error(&err)))))?;
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| url.join(location).ok());
            match location {
                Some(next) if follow && response.status().is_redirection() => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(Miss::from((
                            Some(response.status().as_u16()),
                            "too many redirects".to_owned(),
                        )));
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
        let certificate = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(read_certificate)
            .map(|(cert, _)| cert);
        let miss = |error: String| Miss {
            found: Found {
                status_code: Some(status),
                certificate: certificate.clone(),
                ..Found::default()
            },
            error,
        };
        let accepted = check
            .expected_status
            .as_deref()
            .unwrap_or(crate::model::check::DEFAULT_EXPECTED_STATUS);
        let ranges = StatusRanges::parse(accepted).map_err(miss)?;
        if !ranges.contains(status) {
            return Err(miss(format!("status {status} is not in {accepted}")));
        }
        let conditions = check.json.as_deref().unwrap_or_default();
        if check.kind == CheckKind::Keyword || !conditions.is_empty() {
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| miss(describe_http_error(&err)))?
            {
                body.extend_from_slice(&chunk);
                if body.len() >= KEYWORD_BODY_LIMIT {
                    body.truncate(KEYWORD_BODY_LIMIT);
                    break;
                }
            }
            if check.kind == CheckKind::Keyword {
                let keyword = check.keyword.as_deref().unwrap_or_default();
                let found = String::from_utf8_lossy(&body).contains(keyword);
                match (found, check.keyword_absent.unwrap_or(false)) {
                    (true, true) => return Err(miss(format!("the body contains `{keyword}`"))),
                    (false, false) => return Err(miss(format!("`{keyword}` is not in the body"))),
                    _ => {}
                }
            }
            if !conditions.is_empty() {
                let json: serde_json::Value = serde_json::from_slice(&body).map_err(|err| {
                    let size = if body.len() >= KEYWORD_BODY_LIMIT {
                        " (only the first MiB is read)"
                    } else {
                        ""
                    };
                    miss(format!("the body is not JSON{size}: {err}"))
                })?;
                let failures: Vec<String> = conditions
                    .iter()
                    .filter_map(|condition| condition.check(&json).err())
                    .collect();
                if !failures.is_empty() {
                    return Err(miss(failures.join("; ")));
                }
            }
        }
        Ok(Found {
            status_code: Some(status),
            certificate,
            ..Found::default()
        })
    }

    /// A TLS handshake with `host:port`; the chain is checked apart from the handshake, so that a refused
    /// certificate is still read (its expiry, whom it is for) and its fault said in plain words.
    async fn tls(&self, check: &Check, target: &str) -> Result<Found, Miss> {
        let (host, port) = split_host_port(target)
            .ok_or_else(|| Miss::from((None, format!("`{target}` is not host:port"))))?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| Miss::from((None, format!("`{host}` is not a host name or address"))))?;
        let recorder = Arc::new(Recorder {
            inner: self.verifier.clone(),
            seen: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| Miss::from((None, format!("TLS is not available: {err}"))))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|err| Miss::from((None, format!("{target}: {}", plain_io_error(&err)))))?;
        let handshake = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, stream)
            .await;
        let seen = recorder
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some((leaf, verdict)) = seen else {
            let reason = handshake
                .err()
                .map_or_else(|| "no certificate".to_owned(), |err| err.to_string());
            return Err(Miss::from((
                None,
                format!("{target}: the TLS handshake failed: {reason}"),
            )));
        };
        let (certificate, names) = read_certificate(&leaf).unzip();
        if let Err(err) = handshake {
            return Err(Miss {
                found: Found {
                    certificate,
                    ..Found::default()
                },
                error: format!("{target}: the TLS handshake failed: {err}"),
            });
        }
        if check.verify_tls.unwrap_or(true)
            && let Err(err) = verdict
        {
            let error =
                refused_certificate_words(&err, certificate.as_ref(), &names.unwrap_or_default(), &host);
            return Err(Miss {
                found: Found {
                    certificate,
                    ..Found::default()
                },
                error: format!("{target}: {error}"),
            });
        }
        Ok(Found {
            certificate,
            ..Found::default()
        })
    }

    /// Sends `packets` echo requests one after another; the latency is the average round trip.
    async fn ping(&self, check: &Check, target: &str, timeout: Duration) -> Result<Found, Miss> {
        let ip: IpAddr = match target.parse() {
            Ok(ip) => ip,
            Err(_) => self
                .resolver
                .lookup_ip(target)
                .await
                .map_err(|err| Miss::from((None, format!("{target}: {err}"))))?
                .iter()
                .next()
                .ok_or_else(|| Miss::from((None, format!("{target} has no address"))))?,
        };
        let family = usize::from(ip.is_ipv6());
        let client = self.icmp[family]
            .get_or_init(|| async move {
                let kind = if family == 0 {
                    surge_ping::ICMP::V4
                } else {
                    surge_ping::ICMP::V6
                };
                let config = surge_ping::Config::builder().kind(kind).build();
                surge_ping::Client::new(&config).map_err(|err| icmp_socket_words(&err))
            })
            .await
            .as_ref()
            .map_err(|err| Miss::from((None, err.clone())))?;
        let packets = check.packets.unwrap_or(3).max(1);
        // Each echo may wait its share of the timeout, at most 2 s; the gaps between them are 200 ms.
        let share = timeout / (packets + 1);
        let wait = share.min(Duration::from_secs(2)).max(Duration::from_millis(100));
        let identifier = surge_ping::PingIdentifier(self.sequence.fetch_add(1, Ordering::Relaxed));
        let mut pinger = client.pinger(ip, identifier).await;
        pinger.timeout(wait);
        let payload = [0u8; 56];
        let mut round_trips = Vec::new();
        for index in 0..packets {
            if index > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let sequence = surge_ping::PingSequence(self.sequence.fetch_add(1, Ordering::Relaxed));
            match pinger.ping(sequence, &payload).await {
                Ok((_, round_trip)) => round_trips.push(round_trip),
                Err(surge_ping::SurgeError::Timeout { .. }) => {}
                Err(surge_ping::SurgeError::IOError(err)) => {
                    return Err(Miss::from((None, format!("{target}: {}", plain_io_error(&err)))));
                }
                Err(err) => return Err(Miss::from((None, format!("{target}: {err}")))),
            }
        }
        let lost = packets - round_trips.len() as u32;
        let loss_pct = u8::try_from(lost * 100 / packets).unwrap_or(100);
        let average_ms = (!round_trips.is_empty()).then(|| {
            let total: Duration = round_trips.iter().sum();
            u32::try_from((total / round_trips.len() as u32).as_millis()).unwrap_or(u32::MAX)
        });
        let found = Found {
            packet_loss_pct: Some(loss_pct),
            latency_ms: average_ms,
            warning: (lost > 0).then(|| format!("{lost} of {packets} packets lost")),
            ..Found::default()
        };
        if u32::from(loss_pct) >= check.loss_down_pct.unwrap_or(100) {
            let error = format!("{ip}: {lost} of {packets} packets lost");
            return Err(Miss { found, error });
        }
        Ok(found)
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

fn shorten(text: String) -> String {
    if text.chars().count() <= ERROR_MAX_CHARS {
        text
    } else {
        text.chars().take(ERROR_MAX_CHARS).collect()
    }
}

fn failed(latency_ms: u32, found: Found, error: String) -> ProbeOutcome {
    ProbeOutcome {
        ok: false,
        latency_ms,
        status_code: found.status_code,
        error: Some(shorten(error)),
        degraded: false,
        packet_loss_pct: found.packet_loss_pct,
        certificate: found.certificate,
    }
}

/// Lets every handshake finish, and keeps what the real verifier said of the chain, with the leaf.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<(CertificateDer<'static>, Result<(), rustls::Error>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        *self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((end_entity.clone().into_owned(), verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate's expiry, issuer and subject, and the names it is for (its SANs, else its CN).
fn read_certificate(der: &[u8]) -> Option<(Certificate, Vec<String>)> {
    use x509_parser::{extensions::GeneralName, prelude::FromDer};
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let common_name = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| name.to_string())
    };
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes)
                        .ok()
                        .map(|ip| IpAddr::from(ip).to_string()),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .ok()
                        .map(|ip| IpAddr::from(ip).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let subject = common_name(cert.subject());
    if names.is_empty() {
        names.push(subject.clone());
    }
    let expires_at = DateTime::<Utc>::from_timestamp(cert.validity().not_after.timestamp(), 0)?;
    let now = Utc::now();
    Some((
        Certificate {
            expires_at,
            days_left: Certificate::days_left_at(expires_at, now),
            issuer: common_name(cert.issuer()),
            subject: if subject.is_empty() {
                names[0].clone()
            } else {
                subject
            },
        },
        names,
    ))
}

/// "the certificate expires in 3 days (on 2026-11-30)", or that it has expired.
fn certificate_words(cert: &Certificate) -> String {
    let date = cert.expires_at.format("%Y-%m-%d");
    match cert.days_left {
        days if days < 0 => format!("the certificate expired on {date}"),
        0 => format!("the certificate expires within a day (on {date})"),
        1 => format!("the certificate expires in 1 day (on {date})"),
        days => format!("the certificate expires in {days} days (on {date})"),
    }
}

/// Why a verifier refused a certificate, in words a person can act on.
fn refused_certificate_words(
    err: &rustls::Error,
    cert: Option<&Certificate>,
    names: &[String],
    host: &str,
) -> String {
    let rustls::Error::InvalidCertificate(fault) = err else {
        return format!("the certificate was refused: {err}");
    };
    match fault {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => match cert {
            Some(cert) => certificate_words(cert),
            None => "the certificate has expired".into(),
        },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the certificate is not valid yet (is this machine's clock right?)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the certificate is for {}, not {host}", names.join(", "))
        }
        CertificateError::UnknownIssuer => {
            "the certificate is not signed by a trusted authority (self-signed, or a \
             private CA: trust it with HOMEWATCH_CA_FILE, or set verify_tls to false)"
                .into()
        }
        CertificateError::Revoked => "the certificate has been revoked".into(),
        other if format!("{other:?}").contains("CaUsedAsEndEntity") => SELF_SIGNED.into(),
        other => format!("the certificate was refused: {other:?}"),
    }
}

const SELF_SIGNED: &str = "the certificate is self-signed (a CA certificate serving as the server's own): \
     trust it with HOMEWATCH_CA_FILE, or set verify_tls to false";

/// reqwest reports rustls' refusals in rustls' words; these say what to do.
fn plain_tls_words(message: String) -> String {
    let Some(at) = message.find("invalid peer certificate: ") else {
        return message;
    };
    let fault = &message[at..];
    let instead = if fault.contains("certificate expired") || fault.contains("Expired") {
        "the certificate has expired".to_owned()
    } else if fault.contains("not valid for name") || fault.contains("NotValidForName") {
        "the certificate is not for this host name".to_owned()
    } else if fault.contains("UnknownIssuer") || fault.contains("unknown issuer") {
        "the certificate is not signed by a trusted authority (self-signed, or a private CA: trust it with \
         HOMEWATCH_CA_FILE, or set verify_tls to false)"
            .to_owned()
    } else if fault.contains("CaUsedAsEndEntity") {
        SELF_SIGNED.to_owned()
    } else if fault.contains("not valid yet") || fault.contains("NotValidYet") {
        "the certificate is not valid yet (is this machine's clock right?)".to_owned()
    } else {
        return message;
    };
    format!("could not connect: {instead}")
}

/// Why no ICMP socket could be opened, and what to allow.
pub fn icmp_socket_words(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => "ping is not allowed for this process: let its group send \
             unprivileged pings with `sysctl net.ipv4.ping_group_range=\"0 2147483647\"` (or the group's id \
             range), or run it with CAP_NET_RAW (Docker: --cap-add=NET_RAW)"
            .into(),
        _ => format!("cannot open an ICMP socket: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_icmp_socket_says_what_to_allow() {
        let words = icmp_socket_words(&std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(
            words.contains("net.ipv4.ping_group_range") && words.contains("CAP_NET_RAW"),
            "{words}"
        );
    }

    #[test]
    fn rustls_refusals_become_plain_words() {
        let expired = plain_tls_words(
            "could not connect: client error (Connect): invalid peer certificate: certificate expired: \
             verification time 1795787199 (UNIX)"
                .into(),
        );
        assert_eq!(expired, "could not connect: the certificate has expired");
        let own_ca = plain_tls_words(
            "could not connect: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))".into(),
        );
        assert!(own_ca.contains("self-signed"), "{own_ca}");
        let other = "could not connect: connection refused".to_owned();
        assert_eq!(plain_tls_words(other.clone()), other);
    }
}
