//! The test suite's `_bulk` receiver as a standalone process, for throughput runs:
//! `cargo run --release -p loong-flusher-elasticsearch --features testing --example es_receiver -- PORT [--store]`.
//! Prints the documents accepted so far every second (documents are only counted unless `--store`).

use loong_flusher_elasticsearch::testing::EsServer;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let store = args.any(|a| a == "--store");
    let server = EsServer::start_on(port);
    if !store {
        server.count_only();
    }
    println!("listening on {}", server.url());
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let n = server.doc_count();
        if n != last {
            println!("documents: {n}");
            last = n;
        }
    }
}
