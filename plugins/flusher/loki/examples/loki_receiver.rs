//! The test suite's Loki push receiver as a standalone process, for throughput runs:
//! `cargo run --release -p loong-flusher-loki --features testing --example loki_receiver -- PORT [--store]`.
//! Prints the entries accepted so far every second (lines are only counted unless `--store`).

use loong_flusher_loki::testing::LokiServer;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let store = args.any(|a| a == "--store");
    let server = LokiServer::start_on(port);
    if !store {
        server.count_only();
    }
    println!("listening on {}", server.push_url());
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let n = server.entry_count();
        if n != last {
            println!("entries: {n}");
            last = n;
        }
    }
}
