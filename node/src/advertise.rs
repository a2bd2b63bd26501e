//! Advertised addresses: where other nodes and clients reach this node, apart from where it
//! listens (as etcd's `--initial-advertise-peer-urls` and `--advertise-client-urls`).
//!
//! A node that binds `0.0.0.0:7000` (every interface, as in a container) cannot tell others to
//! dial `0.0.0.0`: it must be told its name (`--advertise-peer raftorch-0.raftorch:7000`), and
//! it refuses to start rather than publish an unspecified address. A name is resolved again on
//! every reconnect (see `transport::outbound`), so a peer whose name moves is found again.

use std::net::{IpAddr, SocketAddr};

/// Checks an advertised `HOST:PORT` given with `flag`: a host (a name, an IPv4 address or a
/// bracketed IPv6 one) that is not an unspecified address, and a non-zero port.
pub fn check(advertised: &str, flag: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{flag} {advertised:?}: {why}");
    let (host, port) = advertised
        .rsplit_once(':')
        .ok_or_else(|| bad("not HOST:PORT"))?;
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err(bad("the port must be 1-65535")),
        Ok(_) => {}
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() || bare.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("not HOST:PORT"));
    }
    if bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
        return Err(bad(
            "an unspecified address cannot be dialled; advertise this node's name or address",
        ));
    }
    if bare.contains(':') && host == bare {
        return Err(bad("an IPv6 address goes in brackets: [ADDR]:PORT"));
    }
    Ok(())
}

/// Checks a listen address against its advertised one before anything binds: listening on an
/// unspecified address (`0.0.0.0`, `::`) needs an advertised address given with `flag`.
pub fn check_listen(
    listen: SocketAddr,
    advertised: Option<&str>,
    flag: &str,
) -> Result<(), String> {
    match advertised {
        Some(a) => check(a, flag),
        None if listen.ip().is_unspecified() => Err(format!(
            "listening on {listen} without {flag}: other nodes cannot reach {}; pass {flag} \
             HOST:PORT (the name or address they reach this node at)",
            listen.ip()
        )),
        None => Ok(()),
    }
}

/// The address this node publishes: the advertised one, else the one it bound (its real port,
/// should it have asked for port 0).
pub fn published(bound: SocketAddr, advertised: Option<&str>) -> String {
    advertised.map_or_else(|| bound.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_advertised_unspecified_ones_are_not() {
        for ok in [
            "raftorch-0.raftorch.default.svc.cluster.local:7000",
            "10.0.0.4:7000",
            "[fd00::4]:7000",
            "localhost:1",
        ] {
            assert_eq!(check(ok, "--advertise-peer"), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("0.0.0.0:7000", "unspecified"),
            ("[::]:7000", "unspecified"),
            ("host", "HOST:PORT"),
            ("host:0", "port"),
            ("host:70000", "port"),
            (":7000", "HOST:PORT"),
            ("fd00::4:7000", "brackets"),
            ("a b:7000", "HOST:PORT"),
        ] {
            let err = check(bad, "--advertise-api").unwrap_err();
            assert!(
                err.starts_with("--advertise-api") && err.contains(why),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_unspecified_listen_address_needs_an_advertised_one() {
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let err = check_listen(any, None, "--advertise-peer").unwrap_err();
        assert_eq!(
            err,
            "listening on 0.0.0.0:7000 without --advertise-peer: other nodes cannot reach \
             0.0.0.0; pass --advertise-peer HOST:PORT (the name or address they reach this node \
             at)"
        );
        assert!(check_listen(any, Some("n1:7000"), "--advertise-peer").is_ok());
        let lo: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert!(check_listen(lo, None, "--advertise-peer").is_ok());
        assert_eq!(published(lo, None), "127.0.0.1:7000");
        assert_eq!(published(any, Some("n1:7000")), "n1:7000");
    }
}
