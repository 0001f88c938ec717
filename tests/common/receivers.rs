//! Local stand-ins for notification providers: one HTTP server on loopback that records every request and
//! answers in the shape of the provider its path belongs to (Discord and Slack webhooks, ntfy publish, Gotify
//! message, Telegram sendMessage, Pushover messages, Matrix send, Apprise notify, a plain webhook), which a
//! test can make refuse or hang; and an SMTP server that speaks real SMTP and keeps each message.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use poem::{
    Body, EndpointExt, IntoResponse, Request, Response, Route, handler,
    http::StatusCode,
    listener::{Acceptor, Listener},
    web::Data,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub raw: Vec<u8>,
    pub body: Value,
    /// Whether the receiver accepted it (answered 2xx).
    pub accepted: bool,
    pub at: Instant,
    pub wall: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

const ACCEPT: u8 = 0;
const REFUSE: u8 = 1;
const HANG: u8 = 2;

#[derive(Clone, Default)]
struct State {
    log: Arc<Mutex<Vec<Received>>>,
    mode: Arc<AtomicU8>,
}

/// An HTTP server on loopback that speaks each provider's API shape.
pub struct Receiver {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    state: State,
}

/// The provider's usual success reply for a path.
fn reply_for(path: &str) -> Response {
    let json = |value: Value| {
        Response::builder()
            .content_type("application/json")
            .body(value.to_string())
    };
    if path.contains("/sendMessage") {
        json(json!({ "ok": true, "result": { "message_id": 1 } }))
    } else if path.contains("/_matrix/") {
        json(json!({ "event_id": "$homewatch-test" }))
    } else if path.contains("/1/messages.json") {
        json(json!({ "status": 1, "request": "test" }))
    } else if path.ends_with("/message") {
        json(json!({ "id": 1, "appid": 1 }))
    } else if path.contains("/api/webhooks/") {
        StatusCode::NO_CONTENT.into_response() // Discord
    } else if path.contains("/services/") {
        Response::builder().body("ok") // Slack
    } else if path.starts_with("/notify") {
        Response::builder().body("") // Apprise
    } else {
        json(json!({ "id": "accepted" }))
    }
}

#[handler]
async fn record(request: &Request, body: Body, Data(state): Data<&State>) -> Response {
    let raw = body.into_vec().await.unwrap_or_default();
    let mode = state.mode.load(Ordering::SeqCst);
    if mode == HANG {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let accepted = mode == ACCEPT;
    state.log.lock().unwrap().push(Received {
        method: request.method().to_string(),
        path: path.clone(),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
        accepted,
        at: Instant::now(),
        wall: chrono::Utc::now(),
    });
    if accepted {
        reply_for(&path)
    } else {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body("down for maintenance")
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let state = State::default();
        let app = Route::new()
            .at("/", record)
            .at("/*path", record)
            .data(state.clone());
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    /// Answer 503 to everything from now on (or accept again).
    pub fn refuse(&self, refuse: bool) {
        self.state
            .mode
            .store(if refuse { REFUSE } else { ACCEPT }, Ordering::SeqCst);
    }

    /// Never answer from now on (until `refuse(false)`).
    pub fn hang(&self) {
        self.state.mode.store(HANG, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests accepted so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// Waits until `done` holds for what was accepted, or fails the test after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if done(&accepted) {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver never got {what} within {within:?}; it got: {:#?}",
                self.received()
                    .iter()
                    .map(|r| format!("{} {} {} accepted={}", r.method, r.path, r.body, r.accepted))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A message an SMTP client sent.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section as sent (headers and MIME body).
    pub data: String,
}

/// A real SMTP server on loopback (plain SMTP, no TLS) that accepts every message.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = serve_smtp(socket, kept).await;
                });
            }
        });
        Self { port, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP server got {} of {count} mails",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve_smtp(socket: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            write.write_all(b"250 2.1.0 Ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            write.write_all(b"250 2.1.5 Ok\r\n").await?;
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mails.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 2.0.0 Ok: queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 2.0.0 Ok\r\n").await?;
        } else {
            write.write_all(b"502 5.5.2 Command not recognized\r\n").await?;
        }
    }
}
