//! The listener and connection types the server runs on. A connection can be cut from a
//! request handler (the `drop` fault): the handler sets its kill switch, and the next
//! read or write fails, so hyper closes the socket without sending any response.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct SimListener(pub TcpListener);

impl Listener for SimListener {
    type Io = SimConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimConn, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    // Small SSE frames must leave at once: Nagle would hold them back
                    // behind the client's delayed ACKs and distort measured gaps.
                    let _ = stream.set_nodelay(true);
                    return (SimConn { stream, killed: Arc::default() }, addr);
                }
                Err(e) if is_per_connection(&e) => {}
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

pub(crate) struct SimConn {
    stream: TcpStream,
    killed: Arc<AtomicBool>,
}

impl SimConn {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::Relaxed) {
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped on purpose"))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for SimConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A handle on the connection a request arrived on, given to handlers as `ConnectInfo`.
#[derive(Clone, Debug)]
pub(crate) struct ConnControl(Arc<AtomicBool>);

impl ConnControl {
    /// Makes the connection fail on its next read or write.
    pub fn kill(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnControl {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        ConnControl(stream.io().killed.clone())
    }
}
