//! How many connections the server holds: at most so many in all and so many from one
//! source address, counted from the TCP accept to the close, so that idle or
//! half-sent connections from one client cannot use up the process's file descriptors
//! and shut everyone else out. A connection over a limit is closed at once, before the
//! TLS handshake costs anything. And how long a connection may wait before its first
//! request begins ([`FirstRequestDeadline`]): after that, the HTTP server's own
//! header deadline takes over.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The limits, and who holds how many now.
#[derive(Clone)]
pub struct ConnectionLimits {
    inner: Arc<Counts>,
}

struct Counts {
    total_limit: usize,
    per_source_limit: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    pub fn new(total_limit: usize, per_source_limit: usize) -> Self {
        ConnectionLimits {
            inner: Arc::new(Counts {
                total_limit,
                per_source_limit,
                held: Mutex::new(Held::default()),
            }),
        }
    }

    /// A place for one more connection from `source`, or why there is none.
    fn admit(&self, source: IpAddr) -> Result<Admitted, &'static str> {
        let mut held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.total >= self.inner.total_limit {
            return Err("the server holds as many connections as it may");
        }
        let from_source = held.by_source.entry(source).or_insert(0);
        if *from_source >= self.inner.per_source_limit {
            return Err("this address holds as many connections as one address may");
        }
        *from_source += 1;
        held.total += 1;
        Ok(Admitted {
            limits: self.clone(),
            source,
        })
    }

    /// Connections held now: in all, and from `source`.
    pub fn held(&self, source: IpAddr) -> (usize, usize) {
        let held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        (
            held.total,
            held.by_source.get(&source).copied().unwrap_or(0),
        )
    }
}

/// One admitted connection's place, given back when the connection is dropped.
struct Admitted {
    limits: ConnectionLimits,
    source: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut held = self
            .limits
            .inner
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        held.total -= 1;
        if let Some(n) = held.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                held.by_source.remove(&self.source);
            }
        }
    }
}

/// Writes go straight to the wrapped `stream`: the wrappers here only watch reads
/// or hold a place.
macro_rules! delegate_writes {
    ($wrapper:ty $(, $inner:ident)?) => {
        impl$(<$inner: AsyncWrite + Unpin>)? AsyncWrite for $wrapper {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.stream).poll_write(cx, buf)
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.stream).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                Pin::new(&mut self.stream).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.stream.is_write_vectored()
            }
        }
    };
}

/// A TCP connection that holds its place until it is dropped.
pub struct LimitedStream {
    stream: TcpStream,
    _place: Admitted,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

delegate_writes!(LimitedStream);

/// The acceptor under TLS: admits a connection within the limits, with
/// `TCP_NODELAY` (offers and chat messages are small frames that must not wait for
/// Nagle's algorithm), or closes it.
impl<S> Accept<TcpStream, S> for ConnectionLimits {
    type Stream = LimitedStream;
    type Service = S;
    type Future = std::future::Ready<io::Result<(LimitedStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .and_then(|peer| {
                self.admit(peer.ip()).map_err(|why| {
                    tracing::warn!(source = %peer.ip(), "connection refused: {why}");
                    io::Error::other(why)
                })
            })
            .and_then(|place| {
                stream.set_nodelay(true)?;
                Ok(LimitedStream {
                    stream,
                    _place: place,
                })
            });
        std::future::ready(admitted.map(|stream| (stream, service)))
    }
}

/// The acceptor over TLS: a connection must send the first bytes of a request within
/// `limit` of its handshake. (The HTTP server reads a connection's first bytes to tell
/// HTTP/1 from HTTP/2 before its header deadline starts, and that read has none.)
#[derive(Clone)]
pub(crate) struct FirstRequestDeadline<A> {
    pub(crate) inner: A,
    pub(crate) limit: std::time::Duration,
}

type Accepted<T, S> = io::Result<(T, S)>;

impl<A, I, S> Accept<I, S> for FirstRequestDeadline<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = FirstBytesBy<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Accepted<Self::Stream, Self::Service>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepting = self.inner.accept(stream, service);
        let limit = self.limit;
        Box::pin(async move {
            let (stream, service) = accepting.await?;
            Ok((
                FirstBytesBy {
                    stream,
                    deadline: Some(Box::pin(tokio::time::sleep(limit))),
                },
                service,
            ))
        })
    }
}

/// A stream whose first read must bring bytes before its deadline; later reads have
/// none (a server-sent-event subscriber sends nothing after its request).
pub(crate) struct FirstBytesBy<T> {
    stream: T,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstBytesBy<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        match (&read, self.deadline.as_mut()) {
            (_, None) => {}
            (Poll::Ready(_), Some(_)) => {
                if buf.filled().len() > before {
                    self.deadline = None;
                }
            }
            (Poll::Pending, Some(deadline)) => {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request began before the deadline",
                    )));
                }
            }
        }
        read
    }
}

delegate_writes!(FirstBytesBy<T>, T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_source_and_in_all_and_given_back() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert!(limits.admit(a).is_err(), "two per source");
        let _third = limits.admit(b).unwrap();
        assert!(limits.admit(b).is_err(), "three in all");
        drop(first);
        assert_eq!(limits.held(a), (2, 1));
        assert!(limits.admit(b).is_ok(), "a place given back is free again");
    }
}
