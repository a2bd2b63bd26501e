//! The agent a follower passes membership requests on with follows no redirect: a 307 from the
//! address the admin registered is answered as it is, and the address it names is never dialled
//! (it would otherwise receive the caller's admin token).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::leader_agent;

/// Answers the first request on `listener` with a 307 to `location`, then returns.
fn redirect_once(listener: TcpListener, location: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut s, _) = listener
            .accept()
            .expect("the agent connects to the registered address");
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let answer = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = s.write_all(answer.as_bytes());
    })
}

#[test]
fn a_redirect_is_answered_as_it_is_and_its_target_never_dialled() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let target = format!(
        "http://{}/v1/cluster/members",
        elsewhere.local_addr().unwrap()
    );
    let registered = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/cluster/members",
        registered.local_addr().unwrap()
    );
    let server = redirect_once(registered, target);

    let answer = leader_agent(None)
        .request("POST", &url)
        .set("authorization", "Bearer secret-of-the-caller")
        .send_string("{}");
    let status = match answer {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("the registered address answered, yet: {e}"),
    };
    server.join().unwrap();
    assert_eq!(status, 307, "the redirect is passed back, not followed");

    // Nothing connects to the redirect's target, not even a little later.
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        match elsewhere.accept() {
            Ok((_, from)) => panic!("the agent followed the redirect (a connection from {from})"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
