//! Whether a request that failed went out on a connection made for it, or on a kept-alive one
//! from the pool.
//!
//! The connector notes the local address of every connection it makes while a request is being
//! sent, and how long opening it took (TCP and TLS: the request's `connect` metric), in a
//! task-local list that the request's own task reads afterwards. The client's pool
//! polls the connect future inside the request's task; a connect it gives up on (an idle
//! connection came back first) is finished in another task, where there is no list, so it is
//! never mistaken for this request's. A failed request's error carries the local address of the
//! connection it used: it was a reused one when that address is not in the list.

use hyper_util::client::legacy::connect::{Connected, Connection, HttpInfo};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

tokio::task_local! {
    static MADE: RefCell<Vec<Made>>;
}

/// A connection opened for a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Made {
    pub local: SocketAddr,
    /// From asking for it to holding it ready: resolving, TCP and TLS handshakes.
    pub took: Duration,
}

/// Runs `send` and returns its output with the connections made for it.
pub async fn noting_connections<T>(send: impl Future<Output = T>) -> (T, Vec<Made>) {
    MADE.scope(RefCell::new(Vec::new()), async {
        let out = send.await;
        let made = MADE.try_with(|m| m.take()).unwrap_or_default();
        (out, made)
    })
    .await
}

/// The local address of the connection a failed request was sent on, when the error says.
pub fn connection_of(error: &(dyn std::error::Error + 'static)) -> Option<SocketAddr> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(client_error) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            return client_error.connect_info().and_then(local_addr);
        }
        source = e.source();
    }
    None
}

fn local_addr(connected: &Connected) -> Option<SocketAddr> {
    let mut extensions = http::Extensions::new();
    connected.get_extras(&mut extensions);
    extensions.get::<HttpInfo>().map(HttpInfo::local_addr)
}

/// The connector layer that notes new connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoteConnections;

impl<S> tower_layer::Layer<S> for NoteConnections {
    type Service = Noting<S>;

    fn layer(&self, inner: S) -> Noting<S> {
        Noting(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Noting<S>(S);

impl<S, R> tower_service::Service<R> for Noting<S>
where
    S: tower_service::Service<R>,
    S::Response: Connection,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let asked = Instant::now();
        let connecting = self.0.call(request);
        Box::pin(async move {
            let connection = connecting.await?;
            if let Some(local) = local_addr(&connection.connected()) {
                // Outside a request's scope (a connect finished in the background) there is
                // nothing to note.
                let _ = MADE.try_with(|m| m.borrow_mut().push(Made { local, took: asked.elapsed() }));
            }
            Ok(connection)
        })
    }
}
