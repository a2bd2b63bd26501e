//! Peer names to socket addresses, looked up again on every connection attempt: a peer given
//! by a DNS name (a StatefulSet pod's, say) that moves to another address is found there on
//! the next reconnect, and nothing is cached here.

use std::io;
use std::net::SocketAddr;

/// The addresses `addr` (`HOST:PORT`) resolves to now, in the resolver's order.
pub(super) async fn lookup(addr: &str) -> io::Result<Vec<SocketAddr>> {
    #[cfg(test)]
    if let Some(found) = fake::answer(addr) {
        return Ok(found);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        ));
    }
    Ok(found)
}

/// A name table tests can change while connections run (a real resolver's answers cannot be
/// changed without root and the hosts file): names that end in `.fake.test` only.
#[cfg(test)]
pub(super) mod fake {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    static TABLE: Mutex<Option<HashMap<String, SocketAddr>>> = Mutex::new(None);

    /// Makes `name` (`HOST:PORT`, the host ending in `.fake.test`) resolve to `to` from now on.
    pub(in crate::transport) fn point(name: &str, to: SocketAddr) {
        assert!(name.contains(".fake.test:"), "not a fake name: {name}");
        if let Ok(mut t) = TABLE.lock() {
            t.get_or_insert_with(HashMap::new)
                .insert(name.to_owned(), to);
        }
    }

    pub(super) fn answer(name: &str) -> Option<Vec<SocketAddr>> {
        let t = TABLE.lock().ok()?;
        t.as_ref()?.get(name).map(|a| vec![*a])
    }
}
