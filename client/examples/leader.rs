//! A leader-elected worker: campaigns with a session, writes fenced with its term while it
//! leads, and campaigns again when it loses leadership.
//!
//! ```text
//! raftorch dev &     # prints the endpoints
//! RAFTORCH_ENDPOINTS=http://127.0.0.1:PORT1,http://127.0.0.1:PORT2 \
//!     cargo run -p raftorch-client --example leader -- worker-1
//! ```

use core::time::Duration;

use raftorch_client::{Client, Config, Election, PutOptions, Session, SessionOptions};

#[tokio::main]
async fn main() -> raftorch_client::Result<()> {
    let me = std::env::args().nth(1).unwrap_or_else(|| "worker-1".into());
    let client = Client::new(Config::from_env()?)?;
    let election = Election::new(&client, "example.leader");
    loop {
        let session = Session::grant(&client, SessionOptions::new(Duration::from_secs(3))).await?;
        let leadership = match election.campaign_and_wait(&session, &me, Some(&me)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{me}: campaign ended: {e}");
                continue;
            }
        };
        println!("{me}: leading with term {}", leadership.term());
        let fenced = PutOptions {
            fence: Some(leadership.fence()),
            ..PutOptions::default()
        };
        let work = async {
            for n in 0u64.. {
                // The server refuses this write once the term is not current any more.
                if let Err(e) = client.put_json("example/progress", &n, &fenced).await {
                    eprintln!("{me}: write refused: {e}");
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::select! {
            lost = leadership.lost() => println!("{me}: lost leadership: {lost:?}"),
            _ = work => {}
        }
        let _ = session.revoke().await;
    }
}
