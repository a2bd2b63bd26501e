//! The visualizer's entry point (built by trunk for the browser).

fn main() {
    #[cfg(target_family = "wasm")]
    raftorch_web::start();
    #[cfg(not(target_family = "wasm"))]
    eprintln!("raftorch-web runs in the browser: `cargo xtask demo` builds and serves it");
}
