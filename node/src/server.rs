//! Running one node: bind the sockets, start the owner task, the peer transport and the API,
//! and stop cleanly on SIGTERM or Ctrl-C (a leader hands leadership over first, see
//! [`crate::handover`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::advertise;
use crate::api::{self, ApiState};
use crate::auth::{self, Guard};
use crate::cluster_id::ClusterIdentity;
use crate::config::{NodeConfig, PeerSpec};
use crate::data_lock::DataDirLock;
use crate::handover::{self, Outcome};
use crate::http_server::{self, Limits};
use crate::metrics::Metrics;
use crate::runtime;
use crate::telemetry::{self, Telemetry};
use crate::tls::NodeTls;
use crate::transport::{self, Inbound, PeerTls, Peers, Sender};

/// How long in-flight HTTP requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(2);

/// Runs the node until a shutdown signal (Ok) or a fatal error (Err, e.g. a disk failure).
pub async fn run(config: NodeConfig) -> Result<(), String> {
    config.validate()?;
    if let Some(version) = config.debug.announce_version {
        transport::handshake::announce(version);
        tracing::warn!(%version, "testing: announcing another protocol version in handshakes");
    }
    // Before anything touches the data directory; held until this function returns.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    // A bad auth file stops the start here, before any port is open.
    let guard = config
        .auth_file
        .as_deref()
        .map(|path| Guard::load(path, config.token_rate))
        .transpose()?;
    // So do unreadable or mismatched certificates.
    let tls = config
        .tls
        .as_ref()
        .map(|files| NodeTls::load(files, config.id))
        .transpose()?;
    let identity = Arc::new(ClusterIdentity::resolve(
        &config.data_dir,
        config.cluster_token.as_deref(),
        &config.voters(),
    )?);
    let metrics = Arc::new(Metrics::default());
    let telemetry = match &config.otlp_endpoint {
        Some(endpoint) => Telemetry::start(endpoint, config.id)?,
        None => Telemetry::off(),
    };
    let peer_listener = TcpListener::bind(config.peer_listen)
        .await
        .map_err(|e| format!("cannot listen for peers on {}: {e}", config.peer_listen))?;
    let api_listener = TcpListener::bind(config.api_listen)
        .await
        .map_err(|e| format!("cannot listen for the API on {}: {e}", config.api_listen))?;
    let api_local = api_listener
        .local_addr()
        .map_err(|e| format!("API listener: {e}"))?;
    let peer_local = peer_listener
        .local_addr()
        .map_err(|e| format!("peer listener: {e}"))?;
    // This node where others reach it (advertised, else bound); the owner keeps the peer table
    // from here on.
    let me = PeerSpec {
        id: config.id,
        peer_addr: advertise::published(peer_local, config.advertise_peer.as_deref()),
        api_addr: advertise::published(api_local, config.advertise_api.as_deref()),
    };
    let peer_tls = tls.as_ref().map(|t| PeerTls::new(t, metrics.clone()));
    let sender = Sender {
        me: config.id,
        identity: identity.clone(),
        tls: peer_tls.clone(),
    };
    let (me_peer, me_api) = (me.peer_addr.clone(), me.api_addr.clone());
    let peers = Peers::new(sender, metrics.clone());
    let started = runtime::start(&config, me, peers, metrics.clone(), &telemetry)
        .map_err(|e| format!("cannot open {}: {e}", config.data_dir.display()))?;
    let inbound = Inbound::new(
        config.id,
        identity.clone(),
        started.messages.clone(),
        metrics.clone(),
    )
    .with_tls(peer_tls);
    tokio::spawn(transport::serve(peer_listener, inbound));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut owner = tokio::spawn(started.owner.run(started.inputs, stop_rx));

    if let Some(guard) = &guard {
        auth::reload_on_sighup(guard.clone())?;
    }
    let auth_note = guard.as_ref().map_or_else(
        || "off".to_owned(),
        |g| format!("{} tokens from {}", g.table().len(), g.path().display()),
    );
    let node = started.handle.clone();
    let app = auth::protect(
        api::router(
            ApiState::new(started.handle, config.id)
                .with_max_value_bytes(config.max_value_bytes)
                .with_max_watchers(config.max_watchers)
                .with_cluster_identity(identity.clone())
                .with_tls(tls.as_ref().map(|t| t.client.clone())),
        ),
        guard,
        metrics.clone(),
    );
    let app = match telemetry.tracer() {
        Some(tracer) => telemetry::http_layer::wrap(app, tracer.clone()),
        None => app,
    };
    tracing::info!(
        id = config.id,
        api = %api_local,
        peers = %config.peer_listen,
        advertise_api = %me_api,
        advertise_peer = %me_peer,
        data = %config.data_dir.display(),
        join = config.join,
        auth = %auth_note,
        tls = if tls.is_some() { "on (peer mTLS, HTTPS API)" } else { "off" },
        cluster = %crate::cluster_id::show(identity.get().unwrap_or(0)),
        "raftorch node started"
    );
    let limits = Limits {
        max_connections: config.max_connections,
        header_timeout: Duration::from_millis(config.api_header_timeout_ms),
    };

    let (drain_tx, drain_rx) = watch::channel(false);
    let mut server = tokio::spawn(http_server::serve(
        api_listener,
        app,
        limits,
        tls.as_ref().map(|t| t.api_acceptor.clone()),
        metrics.clone(),
        drain_rx,
    ));

    let (mut owner_done, mut server_done) = (false, false);
    let result = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutdown signal received");
            let wait = Duration::from_millis(config.shutdown_transfer_ms);
            match handover::hand_over(&node, wait).await {
                Outcome::TimedOut => tracing::warn!(
                    ?wait,
                    "no other node took leadership in time; stopping anyway (the others elect \
                     one after an election timeout)"
                ),
                Outcome::Alone => tracing::info!("the only voter: no one to hand leadership to"),
                Outcome::NotLeader | Outcome::HandedTo(_) => {}
            }
            Ok(())
        }
        r = &mut owner => {
            owner_done = true;
            match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("fatal storage error, stopping: {e}")),
                Err(e) => Err(format!("node task failed: {e}")),
            }
        }
        r = &mut server => {
            server_done = true;
            match r {
                Ok(()) => Ok(()),
                Err(e) => Err(format!("API server task failed: {e}")),
            }
        }
    };
    let _ = drain_tx.send(true);
    if !server_done {
        let _ = tokio::time::timeout(DRAIN, &mut server).await;
    }
    let _ = stop_tx.send(true);
    if !owner_done {
        let _ = tokio::time::timeout(DRAIN, &mut owner).await;
    }
    // The batch exporter's last spans (blocking: it posts them before the process exits).
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
