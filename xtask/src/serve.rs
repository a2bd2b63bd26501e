//! `cargo xtask demo`: builds the browser visualizer and serves `dist/` on 127.0.0.1. A tiny
//! static server, not `trunk serve`: no file watching, no reload socket, nothing to fetch.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use crate::web;

/// Builds the app and serves it until interrupted. Options: `--port N` (default 8080).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut port: u16 = 8080;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--port" => {
                port = iter
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--port needs a number")?;
            }
            other => return Err(format!("unknown option {other} (did you mean --terminal?)")),
        }
    }
    web::ensure_tools(false)?;
    let dist = web::build()?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    println!("raftorch visualizer: open http://127.0.0.1:{port}/  (Ctrl-C to stop)");
    println!("  a scenario:        http://127.0.0.1:{port}/?scenario=leader-crash");
    for stream in listener.incoming().flatten() {
        if let Err(e) = respond(&dist, stream) {
            eprintln!("xtask: serving a request failed: {e}");
        }
    }
    Ok(())
}

fn respond(dist: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = dist.join(path);
    let body = if path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}
