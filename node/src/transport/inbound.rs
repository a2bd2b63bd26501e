//! The accept loop: read frames from each connection and hand the messages to the node. A
//! protocol error (oversized frame, bad version, undecodable bytes) drops that connection only.

use std::sync::Arc;

use raftorch_core::raft::NodeId;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::frame::{self, FrameError};
use super::Wire;
use crate::metrics::Metrics;

/// Accepts peer connections on `listener` forever, forwarding messages addressed to `me`.
pub async fn serve(
    listener: TcpListener,
    me: NodeId,
    inbox: mpsc::Sender<Wire>,
    metrics: Arc<Metrics>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let inbox = inbox.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = read_connection(stream, me, &inbox, &metrics).await {
                        if !matches!(e, FrameError::Io(_)) {
                            Metrics::inc(&metrics.bad_frames);
                        }
                        tracing::warn!(%remote, error = %e, "dropping peer connection");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_connection(
    stream: TcpStream,
    me: NodeId,
    inbox: &mpsc::Sender<Wire>,
    metrics: &Metrics,
) -> Result<(), FrameError> {
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    while let Some(message) = frame::read(&mut reader).await? {
        if message.to != me {
            tracing::warn!(to = message.to, me, "message for another node; dropped");
            continue;
        }
        Metrics::inc(&metrics.messages_received);
        if inbox.send(message).await.is_err() {
            return Ok(()); // the node is shutting down
        }
    }
    Ok(())
}
