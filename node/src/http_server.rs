//! Serving the HTTP API with limits a client cannot talk its way around: a cap on open
//! connections (one more is closed as soon as it is accepted) and a deadline for each request's
//! headers, counted from when the server is ready to read them — so a connection that sends half
//! a header, or sits idle between keep-alive requests, is closed when it runs out (hyper's
//! `header_read_timeout`, which needs the timer `axum::serve` does not give it). With TLS each
//! connection first completes a TLS handshake, within the same header deadline, so a client
//! that stalls the handshake is closed as one that stalls its headers.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// The limits of one API listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a request's headers may take (and a keep-alive connection may idle).
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` (HTTPS with `tls`) until `drain` turns true, then lets open
/// connections finish their requests (each closes after its current one) and returns once all
/// have.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    mut drain: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = drain.wait_for(|&d| d) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, usually: wait for some to be released.
                tracing::warn!(error = %e, "API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            Metrics::inc(&metrics.api_connections_refused);
            tracing::debug!(
                max = limits.max_connections,
                "API connection cap reached; closing a new connection"
            );
            continue; // dropping `stream` closes it
        };
        let (app, drain, tls) = (app.clone(), drain.clone(), tls.clone());
        tokio::spawn(async move {
            // Answers are small and latency-bound: send them without waiting for Nagle's timer.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an API connection");
            }
            match tls {
                None => connection(stream, app, limits, slot, drain).await,
                Some(tls) => {
                    let accepted = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
                    match accepted.await {
                        Ok(Ok(stream)) => connection(stream, app, limits, slot, drain).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "API TLS handshake failed"),
                        Err(_) => tracing::debug!("API TLS handshake timed out"),
                    }
                }
            }
        });
    }
    // Every slot back: every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

async fn connection<S>(
    stream: S,
    app: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
    mut drain: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let service = TowerToHyperService::new(app);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let drained = async move {
        let _ = drain.wait_for(|&d| d).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = drained => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "API connection ended");
    }
}
