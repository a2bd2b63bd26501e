//! End to end in real browsers: the built page is served from `RAFTORCH_E2E_DIST` on
//! 127.0.0.1, and Chromium (through chromedriver) and Firefox (through geckodriver) are driven
//! through a WebDriver each test starts. A person's click kills the leader and another node takes
//! over; seven nodes with messages in flight keep a usable frame rate. Each test body runs once
//! per browser. `cargo xtask test` builds `dist/` and sets the variable; a plain `cargo test`
//! skips these tests and says so.
#![cfg(not(target_family = "wasm"))]
#![allow(clippy::std_instead_of_core)] // a std test

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Chromium flags that keep it quiet on a closed network (shared/TOOLCHAIN.md).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1100",
];

/// Serves `dist` on 127.0.0.1 at a free port, one request per connection, until the process ends.
fn serve(dist: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = respond(&dist, stream);
        }
    });
    port
}

fn respond(dist: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    let mut request_line = String::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = dist.join(path);
    let (status, body) = match (!path.contains("..")).then(|| std::fs::read(&file)) {
        Some(Ok(body)) => ("200 OK", body),
        _ => ("404 Not Found", b"not found".to_vec()),
    };
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)
}

/// Firefox flags: headless, and the same window size as Chromium's.
const FIREFOX_FLAGS: &[&str] = &["-headless", "-width", "1600", "-height", "1100"];

/// The browsers the page must work in, each driven through its own WebDriver.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Browser {
    /// Debian's Chromium through chromedriver.
    Chromium,
    /// Debian's Firefox ESR through geckodriver.
    Firefox,
}

impl Browser {
    /// How the test output names it.
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "Chromium",
            Browser::Firefox => "Firefox",
        }
    }

    /// The WebDriver program: `CHROMEDRIVER` / `GECKODRIVER`, else the name on `PATH`.
    fn driver(self) -> String {
        let (var, default) = match self {
            Browser::Chromium => ("CHROMEDRIVER", "chromedriver"),
            Browser::Firefox => ("GECKODRIVER", "geckodriver"),
        };
        std::env::var(var).unwrap_or_else(|_| default.into())
    }

    /// The driver's argument that makes it listen on `port`.
    fn port_arg(self, port: u16) -> Vec<String> {
        match self {
            Browser::Chromium => vec![format!("--port={port}")],
            // geckodriver picks a free Marionette port itself.
            Browser::Firefox => vec!["--port".into(), port.to_string()],
        }
    }

    /// The session's capabilities: which binary, headless, window size.
    fn capabilities(self) -> serde_json::Map<String, serde_json::Value> {
        let (key, var, default, flags) = match self {
            Browser::Chromium => (
                "goog:chromeOptions",
                "CHROMIUM",
                "/usr/bin/chromium",
                CHROMIUM_FLAGS,
            ),
            Browser::Firefox => (
                "moz:firefoxOptions",
                "FIREFOX",
                "/usr/bin/firefox-esr",
                FIREFOX_FLAGS,
            ),
        };
        let mut options = serde_json::Map::new();
        let binary = std::env::var(var).unwrap_or_else(|_| default.into());
        options.insert("binary".into(), binary.into());
        options.insert(
            "args".into(),
            flags.iter().map(|f| serde_json::Value::from(*f)).collect(),
        );
        let mut caps = serde_json::Map::new();
        caps.insert(key.into(), options.into());
        caps
    }

    /// Where the screenshot named `name` goes: Chromium's keep their old names.
    fn screenshot_name(self, name: &str) -> String {
        match self {
            Browser::Chromium => format!("{name}.png"),
            Browser::Firefox => format!("{name}-firefox.png"),
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("local address").port()
}

/// A WebDriver process that is killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(browser: Browser, port: u16) -> Driver {
    let program = browser.driver();
    let child = Command::new(&program)
        .args(browser.port_arg(port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver(child)
}

/// Every node's (id, data-role).
async fn roles(client: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for node in client
        .find_all(Locator::Css("g.node"))
        .await
        .expect("find nodes")
    {
        let id = node
            .attr("data-testid")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let role = node
            .attr("data-role")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        out.push((id, role));
    }
    out
}

/// Polls until `check` finds something, for at most `secs` seconds.
async fn wait_for<T>(
    client: &Client,
    secs: u64,
    what: &str,
    check: impl Fn(&[(String, String)]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = roles(client).await;
        if let Some(found) = check(&now) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; roles: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One browser at a time: the tests run in parallel threads, and two browsers on a small
/// machine would slow each other (the frame-rate figure most of all).
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serves the built page, starts the browser's WebDriver and the browser, runs `body` with the
/// client and the page's port, and closes the browser. Without `RAFTORCH_E2E_DIST`, says it
/// skipped and returns.
async fn with_browser<F>(browser: Browser, test: &str, body: F)
where
    F: AsyncFnOnce(Browser, &Client, u16) -> Result<(), fantoccini::error::CmdError>,
{
    let test = format!("{test} ({})", browser.name());
    let Some(dist) = std::env::var_os("RAFTORCH_E2E_DIST") else {
        // Written to stderr directly: the test harness captures `println!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED browser end-to-end test {test}: RAFTORCH_E2E_DIST is not set (`cargo xtask test` builds dist/ and sets it)"
        );
        return;
    };
    let _one_at_a_time = BROWSER.lock().await;
    let dist = PathBuf::from(dist);
    assert!(
        dist.join("index.html").exists(),
        "{} has no index.html: build it with trunk",
        dist.display()
    );
    let site = serve(dist);
    let driver_port = free_port();
    let _driver = start_driver(browser, driver_port);

    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(browser.capabilities())
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session");

    let result = body(browser, &client, site).await;
    let _ = client.close().await;
    result.unwrap_or_else(|e| panic!("{test}: {e}"));
}

/// Clicks node `testid` as a person would. geckodriver refuses to click the node's `<g>` itself
/// ("could not be scrolled into view": a group has no box of its own to scroll to), so Firefox
/// clicks the node's circle, which is where a person's pointer lands anyway. A message drawn
/// over the node can intercept a pointer click; then the click is dispatched instead.
async fn click_node(
    browser: Browser,
    client: &Client,
    testid: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let selector = match browser {
        Browser::Chromium => format!("[data-testid='{testid}']"),
        Browser::Firefox => format!("[data-testid='{testid}'] circle.body"),
    };
    let node = client.find(Locator::Css(&selector)).await?;
    if node.click().await.is_err() {
        let script = format!("document.querySelector(\"{selector}\").dispatchEvent(new MouseEvent('click', {{bubbles: true}}))");
        client.execute(&script, vec![]).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_the_leader_kills_it_and_another_node_leads() {
    with_browser(Browser::Chromium, "leader kill", kill_the_leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_clicking_the_leader_kills_it_and_another_node_leads() {
    with_browser(Browser::Firefox, "leader kill", kill_the_leader).await;
}

async fn kill_the_leader(
    browser: Browser,
    client: &Client,
    site: u16,
) -> Result<(), fantoccini::error::CmdError> {
    // Faster than the default slow motion so the test takes seconds.
    client
        .goto(&format!("http://127.0.0.1:{site}/?seed=3&nodes=5&speed=1"))
        .await?;
    let leader = wait_for(client, 30, "a leader", |roles| {
        roles
            .iter()
            .find(|(_, role)| role == "leader")
            .map(|(id, _)| id.clone())
    })
    .await;
    click_node(browser, client, &leader).await?;
    let killed = wait_for(client, 5, "the clicked node to go down", |roles| {
        roles
            .iter()
            .any(|(id, role)| *id == leader && role == "down")
            .then_some(())
    });
    killed.await;
    let new_leader = wait_for(client, 30, "another leader", |roles| {
        roles
            .iter()
            .find(|(id, role)| *id != leader && role == "leader")
            .map(|(id, _)| id.clone())
    })
    .await;
    let roles_now = roles(client).await;
    assert!(
        roles_now
            .iter()
            .any(|(id, role)| *id == leader && role == "down"),
        "{roles_now:?}"
    );
    let name = browser.name();
    println!("e2e ({name}): killed {leader}; {new_leader} leads now");

    let png = client.screenshot().await?;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&out).expect("create target/e2e");
    let file = browser.screenshot_name("leader-killed");
    std::fs::write(out.join(&file), png).expect("write the screenshot");
    println!("e2e ({name}): screenshot at target/e2e/{file}");
    Ok(())
}

/// Counts `requestAnimationFrame` callbacks for three seconds (what the browser managed to
/// draw), how often the app re-rendered (the simulated clock's text changing: one change per
/// render while each frame moves the clock by 10 ms or more), and the messages in flight on
/// average.
const FRAME_COUNTER: &str = r#"
const done = arguments[arguments.length - 1];
const clock = document.querySelector("[data-testid='sim-time']");
let frames = 0, renders = 0, packets = 0, samples = 0;
const observer = new MutationObserver(() => renders++);
observer.observe(clock, { characterData: true, childList: true, subtree: true });
const start = performance.now();
function frame(now) {
  frames++;
  if (frames % 5 === 0) { packets += document.querySelectorAll("g.packet").length; samples++; }
  if (now - start < 3000) { requestAnimationFrame(frame); return; }
  observer.disconnect();
  const seconds = (now - start) / 1000;
  done({ fps: frames / seconds, renders: renders / seconds, packets: packets / Math.max(samples, 1) });
}
requestAnimationFrame(frame);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_nodes_with_messages_in_flight_keep_a_usable_frame_rate() {
    with_browser(Browser::Chromium, "frame rate", frame_rate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_seven_nodes_with_messages_in_flight_keep_a_usable_frame_rate() {
    with_browser(Browser::Firefox, "frame rate", frame_rate).await;
}

async fn frame_rate(
    browser: Browser,
    client: &Client,
    site: u16,
) -> Result<(), fantoccini::error::CmdError> {
    client
        .goto(&format!("http://127.0.0.1:{site}/?seed=1&nodes=7&speed=1"))
        .await?;
    wait_for(client, 30, "a leader among 7 nodes", |roles| {
        (roles.len() == 7 && roles.iter().any(|(_, role)| role == "leader")).then_some(())
    })
    .await;
    let measured = client.execute_async(FRAME_COUNTER, vec![]).await?;
    let number = |key: &str| measured.get(key).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let (fps, renders, packets) = (number("fps"), number("renders"), number("packets"));
    let how = match browser {
        Browser::Chromium => "headless Chromium, --disable-gpu",
        Browser::Firefox => "headless Firefox",
    };
    println!(
        "e2e: 7 nodes at speed 1: {fps:.1} frames/s (requestAnimationFrame), the app re-rendered \
         {renders:.1} times/s, {packets:.1} messages in flight on average ({how})"
    );
    assert!(packets > 0.0, "messages were in flight: {measured}");
    // A headless browser on a shared 2-core machine is no real display: only a floor that a
    // render stuck doing too much per frame would break.
    assert!(fps >= 20.0, "{fps:.1} frames/s is below 20: {measured}");
    // The app advances and draws on the browser's animation frames, so it re-renders on nearly
    // every one (the clock shows 10 ms steps; at speed 1 a 60 Hz frame moves it 16.7 ms).
    assert!(
        renders >= 0.75 * fps,
        "{renders:.1} renders/s for {fps:.1} frames/s: the app does not draw every frame: {measured}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_width_nothing_is_clipped_and_on_a_laptop_the_cluster_is_above_the_fold() {
    with_browser(Browser::Chromium, "layout", layout).await;
}

/// The page's width overflow at a phone's width, and where the cluster and timeline end on a
/// 1366×768 laptop screen.
async fn layout(
    _browser: Browser,
    client: &Client,
    site: u16,
) -> Result<(), fantoccini::error::CmdError> {
    let measure = "const r = (s) => document.querySelector(s).getBoundingClientRect(); \
        return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, \
        innerHeight: window.innerHeight, cluster: r('svg.cluster').bottom, \
        timeline: r('.timeline').bottom };";
    let number =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|n| n.as_f64()).unwrap_or(f64::NAN);
    for (width, height) in [(390, 844), (1366, 768)] {
        client.set_window_size(width, height).await?;
        client
            .goto(&format!("http://127.0.0.1:{site}/?seed=3&nodes=7&speed=1"))
            .await?;
        wait_for(client, 30, "a leader among 7 nodes", |roles| {
            roles.iter().any(|(_, role)| role == "leader").then_some(())
        })
        .await;
        let m = client.execute(measure, vec![]).await?;
        println!("e2e layout at {width}×{height} (window): {m}");
        let inner = number(&m, "inner");
        assert!(
            inner <= f64::from(width),
            "the viewport is the window's width or less: {m}"
        );
        assert!(
            number(&m, "scroll") <= inner,
            "nothing is clipped or scrolls sideways at {width} px: {m}"
        );
        if width == 1366 {
            let fold = number(&m, "innerHeight");
            assert!(
                number(&m, "cluster") <= fold,
                "the whole cluster above the fold: {m}"
            );
            assert!(
                number(&m, "timeline") <= fold,
                "the timeline above the fold: {m}"
            );
        }
    }
    Ok(())
}
