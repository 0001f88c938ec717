//! Connections as the server accepts them. poem builds hyper's HTTP/1 server without a timer, so hyper's own
//! header-read timeout never applies and idle connections are never closed; this layer does both at the byte
//! level, and caps how many connections are open:
//! - a request's headers must arrive within `header_timeout` of their first byte (a client that trickles a
//!   byte every few seconds is cut off);
//! - a connection with no traffic either way for `idle_timeout` is closed (an event stream writes a
//!   keep-alive every 15 s, so it is never idle);
//! - at most `max` connections are open, and at most `max_per_address` from one client address (IPv6 by
//!   /64), except from trusted proxies; beyond that a new connection is closed at once.

use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::{Acceptor, TcpAcceptor},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::{Instant, Sleep},
};

use crate::auth::proxies::TrustedProxies;

/// How many connections may be open, and how long they may stall.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max: usize,
    pub max_per_address: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Connections from these addresses are not counted per address (they carry many clients).
    pub trusted_proxies: TrustedProxies,
}

impl ConnectionLimits {
    pub const DEFAULT: Self = Self {
        max: 4096,
        max_per_address: 256,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(75),
        trusted_proxies: TrustedProxies::NONE,
    };
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The address a connection is counted under: an IPv4 address, or an IPv6 address's /64.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
        v4 => v4,
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// The open connections, counted; a `Slot` gives its place back when the connection closes.
#[derive(Clone, Default)]
struct Counts(Arc<Mutex<Open>>);

struct Slot {
    counts: Counts,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(address) = self.address
            && let Some(count) = open.per_address.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&address);
            }
        }
    }
}

impl Counts {
    fn admit(&self, peer: Option<IpAddr>, limits: &ConnectionLimits) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= limits.max {
            return None;
        }
        let address = peer
            .filter(|ip| !limits.trusted_proxies.contains(*ip))
            .map(counted_as);
        if let Some(address) = address {
            let count = open.per_address.entry(address).or_default();
            if *count >= limits.max_per_address {
                return None;
            }
            *count += 1;
        }
        open.total += 1;
        Some(Slot {
            counts: self.clone(),
            address,
        })
    }
}

/// A TCP acceptor that caps connections and hands out streams with deadlines.
pub struct GuardedAcceptor {
    inner: TcpAcceptor,
    limits: ConnectionLimits,
    counts: Counts,
    refused: u64,
}

impl GuardedAcceptor {
    pub fn new(inner: TcpAcceptor, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            limits,
            counts: Counts::default(),
            refused: 0,
        }
    }
}

impl Acceptor for GuardedAcceptor {
    type Io = GuardedStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            // Responses go out as soon as they are written: with Nagle's algorithm a large body's last
            // segment waited for the client's delayed ACK, 40 ms on Linux (seen in benches/dashboard.rs).
            if let Err(err) = io.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
            let peer = remote.as_socket_addr().map(|addr| addr.ip());
            match self.counts.admit(peer, &self.limits) {
                Some(slot) => return Ok((GuardedStream::new(io, slot, &self.limits), local, remote, scheme)),
                None => {
                    self.refused += 1;
                    // One line per thousand refusals: a flood must not flood the log too.
                    if self.refused % 1000 == 1 {
                        tracing::warn!(
                            peer = ?peer,
                            refused = self.refused,
                            max = self.limits.max,
                            max_per_address = self.limits.max_per_address,
                            "too many connections: closing new ones"
                        );
                    }
                    drop(io);
                }
            }
        }
    }
}

/// Where a connection is in its request/response cycle, as far as bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next request (the header deadline starts at its first byte).
    BetweenRequests,
    /// Reading a request's headers; `after` counts the line end seen last (`\n`, or `\n\r`).
    Headers { after: u8 },
    /// The headers are in: the body and the answer follow, under the request timeout.
    InRequest,
}

/// A connection with a header deadline and an idle timeout.
pub struct GuardedStream {
    io: TcpStream,
    _slot: Slot,
    header_timeout: Duration,
    idle_timeout: Duration,
    phase: Phase,
    header_deadline: Option<Pin<Box<Sleep>>>,
    idle: Pin<Box<Sleep>>,
}

impl GuardedStream {
    fn new(io: TcpStream, slot: Slot, limits: &ConnectionLimits) -> Self {
        Self {
            io,
            _slot: slot,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            phase: Phase::BetweenRequests,
            header_deadline: None,
            idle: Box::pin(tokio::time::sleep(limits.idle_timeout)),
        }
    }

    fn touched(&mut self) {
        self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
    }

    /// Follows the bytes of a request's headers to the empty line that ends them.
    fn read_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let after = match self.phase {
                Phase::InRequest => return,
                Phase::BetweenRequests => {
                    self.header_deadline = Some(Box::pin(tokio::time::sleep(self.header_timeout)));
                    0
                }
                Phase::Headers { after } => after,
            };
            self.phase = match (after, byte) {
                (1 | 2, b'\n') => {
                    self.header_deadline = None;
                    Phase::InRequest
                }
                (_, b'\n') => Phase::Headers { after: 1 },
                (1, b'\r') => Phase::Headers { after: 2 },
                _ => Phase::Headers { after: 0 },
            };
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    this.touched();
                    this.read_bytes(new);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if let Some(deadline) = this.header_deadline.as_mut()
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(timed_out("the request's headers took too long")));
                }
                if this.idle.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out("the connection was idle too long")));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.io).poll_write(cx, data);
        if let Poll::Ready(Ok(count)) = &written
            && *count > 0
        {
            this.touched();
            // An answer is going out: the next bytes read begin the next request.
            this.phase = Phase::BetweenRequests;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(counted_as(a), counted_as(b));
        assert_ne!(counted_as(a), counted_as(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(counted_as(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let limits = ConnectionLimits {
            max: 3,
            max_per_address: 2,
            ..ConnectionLimits::DEFAULT
        };
        let counts = Counts::default();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counts.admit(Some(one), &limits).expect("first");
        let _second = counts.admit(Some(one), &limits).expect("second");
        assert!(
            counts.admit(Some(one), &limits).is_none(),
            "a third from one address"
        );
        let _third = counts.admit(Some(two), &limits).expect("another address");
        assert!(counts.admit(Some(two), &limits).is_none(), "four in all");
        drop(first);
        assert!(
            counts.admit(Some(one), &limits).is_some(),
            "a closed connection gives its place back"
        );
    }
}
