//! `flusher_clickhouse`: inserts events into ClickHouse, as LoongCollector's flusher of the same
//! name: its options (`Addresses`, `Authentication.PlainText`, `Table`, `Cluster`, `Buffer*`…) and its
//! table layout (`ilogtail_<Table>` with `_timestamp`/`_log`, fed through a Buffer table), plus a typed
//! column mapping (`Columns`) for a table of your own.
//!
//! Where it differs, on purpose: it speaks ClickHouse's HTTP interface (`INSERT … FORMAT
//! JSONEachRow`, one insert per flush) rather than the native protocol, so `Addresses` are HTTP
//! addresses; a flush returns only once the insert was accepted and fails otherwise, so the runner's
//! delivery contract retries it (LoongCollector logs and drops); a row ClickHouse refuses is isolated
//! by splitting the insert, and only that row is dropped (logged and counted); tables are created (or
//! read) on first use rather than in `init`, so an agent starting while ClickHouse is down waits for
//! it instead of failing the config.

mod client;
mod compression;
mod config;
mod flusher;
mod rows;
mod tls;

pub use config::{Authentication, ClickHouseConfig, PlainText, TlsConfig};
pub use flusher::ClickHouseFlusher;

/// The config `Type` of this flusher.
pub const NAME: &str = "flusher_clickhouse";

pub fn register(registry: &mut loong_api::Registry) {
    registry.add_flusher_creator(NAME, |config: ClickHouseConfig| {
        Box::new(ClickHouseFlusher::new(config))
    });
}
