use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use http::HeaderValue;
use loong_api::{BatchKey, Context, Flusher, FlusherV1, FlusherV2, LogGroup, PipelineContext, PipelineGroupEvents};
use loong_converter::{Converter, PROTOCOL_CUSTOM_SINGLE, PROTOCOL_CUSTOM_SINGLE_FLATTEN};
use serde::Deserialize;

use crate::client::{Client, Failure, Metrics};
use crate::compression::Compression;
use crate::config::ClickHouseConfig;
use crate::rows::{Column, Layout, RowWriter, Rows, Source, is_text_type};

pub struct ClickHouseFlusher {
    config: ClickHouseConfig,
    running: Option<Running>,
    urgent: Arc<AtomicBool>,
    /// The rows of the batch being retried and which of them are still to insert.
    progress: Option<Progress>,
}

struct Running {
    runtime: tokio::runtime::Handle,
    client: Arc<Client>,
    writer: RowWriter,
    database: String,
    /// `INSERT INTO … FORMAT JSONEachRow`, once the tables are known (see [`ClickHouseFlusher::setup`]).
    insert: Option<String>,
}

struct Progress {
    /// The runner retries with the very same batch.
    batch: BatchKey,
    rows: Rows,
    pending: VecDeque<Range<usize>>,
}

/// `` `name` `` with ClickHouse's escapes.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// `'text'` with ClickHouse's escapes.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl ClickHouseFlusher {
    pub fn new(config: ClickHouseConfig) -> Self {
        ClickHouseFlusher {
            config,
            running: None,
            urgent: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    fn running_mut(&mut self) -> Result<&mut Running> {
        self.running
            .as_mut()
            .ok_or_else(|| anyhow!("flusher_clickhouse used before init or after stop"))
    }

    /// Creates LoongCollector's tables or reads the mapped table's columns, once; an error fails the
    /// flush (the pipeline retries it).
    fn setup(&mut self) -> Result<()> {
        let config = self.config.clone();
        let running = self.running_mut()?;
        if running.insert.is_some() {
            return Ok(());
        }
        let db = ident(&running.database);
        let client = running.client.clone();
        let on_cluster = if config.cluster.is_empty() {
            String::new()
        } else {
            format!(" ON CLUSTER {}", literal(&config.cluster))
        };
        let insert = match &mut running.writer.layout {
            Layout::LoongCollector => {
                let null = format!("ilogtail_{}", config.table);
                let buffer = format!("ilogtail_{}_buffer", config.table);
                let statements = [
                    format!(
                        "CREATE TABLE IF NOT EXISTS {db}.{}{on_cluster} (`_timestamp` Int64, `_log` String) ENGINE = Null",
                        ident(&null)
                    ),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {db}.{}{on_cluster} AS {db}.{} ENGINE = Buffer({db}, {}, {}, {}, {}, {}, {}, {}, {})",
                        ident(&buffer),
                        ident(&null),
                        ident(&null),
                        config.buffer_num_layers,
                        config.buffer_min_time,
                        config.buffer_max_time,
                        config.buffer_min_rows,
                        config.buffer_max_rows,
                        config.buffer_min_bytes,
                        config.buffer_max_bytes
                    ),
                ];
                for sql in &statements {
                    running
                        .runtime
                        .block_on(client.query(sql))
                        .map_err(|e| anyhow!("creating LoongCollector's tables ({sql}): {e}"))?;
                }
                format!(
                    "INSERT INTO {db}.{} (`_timestamp`, `_log`) FORMAT JSONEachRow",
                    ident(&buffer)
                )
            }
            Layout::Columns(columns) => {
                let table = format!("{db}.{}", ident(&config.table));
                let answer = running
                    .runtime
                    .block_on(client.query(&format!("DESCRIBE TABLE {table} FORMAT JSONEachRow")))
                    .map_err(|e| anyhow!("reading the columns of {table}: {e}"))?;
                #[derive(Deserialize)]
                struct Described {
                    name: String,
                    r#type: String,
                }
                let described: Vec<Described> = String::from_utf8_lossy(&answer)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(serde_json::from_str)
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("the answer to DESCRIBE TABLE {table}"))?;
                for col in columns.iter_mut() {
                    let Some(d) = described.iter().find(|d| d.name == col.name) else {
                        let names: Vec<&str> = described.iter().map(|d| d.name.as_str()).collect();
                        bail!("Columns: table {table} has no column {:?} (it has {names:?})", col.name);
                    };
                    col.quote_numbers = is_text_type(&d.r#type);
                }
                let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
                format!("INSERT INTO {table} ({}) FORMAT JSONEachRow", names.join(", "))
            }
        };
        running.insert = Some(insert);
        Ok(())
    }

    /// Inserts what is left of the batch; an error when some rows could not be inserted yet.
    fn deliver(&mut self, batch: BatchKey, make: impl FnOnce(&RowWriter, u64) -> Result<Rows>) -> Result<()> {
        self.setup()?;
        let mut progress = match self.progress.take() {
            Some(p) if p.batch == batch => p,
            _ => {
                let running = self.running.as_ref().expect("set up");
                let now = loong_api::model::now_nanos() / 1_000_000_000;
                let rows = make(&running.writer, now)?;
                let mut pending = VecDeque::new();
                if rows.len() > 0 {
                    pending.push_back(0..rows.len());
                }
                Progress { batch, rows, pending }
            }
        };
        let running = self.running.as_ref().expect("set up");
        let client = running.client.clone();
        let sql = running.insert.clone().expect("set up");
        let result = running
            .runtime
            .block_on(insert_pending(&client, &sql, &progress.rows, &mut progress.pending));
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let rows: usize = progress.pending.iter().map(|r| r.len()).sum();
                self.progress = Some(progress);
                bail!("{rows} rows not inserted yet: {e}")
            }
        }
    }
}

/// Inserts the pending ranges in order. A range the server refuses as data is split in two until
/// the refused rows are single; those are logged and counted, not retried.
async fn insert_pending(
    client: &Client,
    sql: &str,
    rows: &Rows,
    pending: &mut VecDeque<Range<usize>>,
) -> Result<(), String> {
    while let Some(range) = pending.front().cloned() {
        match client.insert(sql, &rows.slice(range.clone())).await {
            Ok(()) => {
                client.metrics.inserted_rows.increment(range.len() as u64);
                pending.pop_front();
            }
            Err(Failure::Rejected(e)) => {
                pending.pop_front();
                if range.len() > 1 {
                    tracing::debug!(rows = range.len(), error = %e, "flusher_clickhouse: insert refused, splitting it");
                    let mid = range.start + range.len() / 2;
                    pending.push_front(mid..range.end);
                    pending.push_front(range.start..mid);
                } else {
                    client.metrics.rejected_rows.increment(1);
                    let row = rows.slice(range);
                    let shown = String::from_utf8_lossy(&row[..row.len().min(512)])
                        .trim_end()
                        .to_owned();
                    tracing::error!(row = %shown, error = %e, "flusher_clickhouse: row refused by ClickHouse (not retried)");
                }
            }
            Err(Failure::Failed(e)) => return Err(e),
        }
    }
    Ok(())
}

impl Flusher for ClickHouseFlusher {
    fn init(&mut self, ctx: &Context) -> Result<()> {
        let config = &self.config;
        if config.addresses.iter().all(|a| a.trim().is_empty()) {
            bail!("Addresses is empty");
        }
        if config.table.trim().is_empty() {
            bail!("Table is empty");
        }
        if !matches!(
            config.convert.protocol.as_str(),
            PROTOCOL_CUSTOM_SINGLE | PROTOCOL_CUSTOM_SINGLE_FLATTEN
        ) {
            bail!(
                "Convert.Protocol {:?}: flusher_clickhouse writes one row per event, use custom_single or custom_single_flatten",
                config.convert.protocol
            );
        }
        let converter = Converter::new(&config.convert).context("Convert")?;
        let compression = Compression::parse(&config.compression)?;
        let tls = &config.authentication.tls;
        let mut servers = Vec::new();
        for (i, address) in config
            .addresses
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .enumerate()
        {
            let text = if address.contains("://") {
                address.to_owned()
            } else {
                format!("{}://{address}", if tls.enabled { "https" } else { "http" })
            };
            // Addresses are not quoted in errors: they may carry credentials.
            let mut url =
                reqwest::Url::parse(&text).with_context(|| format!("Addresses[{i}] is not host:port or a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("Addresses[{i}]: use http or https, not {}", url.scheme());
            }
            if !url.username().is_empty() || url.password().is_some() {
                bail!("Addresses[{i}]: put credentials in Authentication.PlainText, not in the address");
            }
            url.set_query(None);
            servers.push(url);
        }
        let plain = &config.authentication.plain_text;
        let auth = if plain.username.is_empty() && plain.password.is_empty() {
            None
        } else {
            let user = if plain.username.is_empty() {
                "default"
            } else {
                &plain.username
            };
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", plain.password));
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|_| anyhow!("Authentication.PlainText: the credentials are not valid header text"))?;
            value.set_sensitive(true);
            Some(value)
        };
        let layout = if config.columns.is_empty() {
            Layout::LoongCollector
        } else {
            let mut columns = Vec::new();
            for (name, source) in &config.columns {
                columns.push(Column {
                    name: name.clone(),
                    source: Source::parse(source).with_context(|| format!("Columns.{name}"))?,
                    quote_numbers: false,
                });
            }
            Layout::Columns(columns)
        };
        let max_execution_time = config.max_execution_time.max(1) as u64;
        let http = reqwest::Client::builder()
            .connect_timeout(config.dial_timeout.get())
            .timeout(std::time::Duration::from_secs(max_execution_time) + config.dial_timeout.get())
            .pool_max_idle_per_host(config.max_idle_conns.max(1) as usize)
            .pool_idle_timeout(config.conn_max_lifetime.get())
            .use_preconfigured_tls(crate::tls::client_config(tls)?)
            .no_proxy()
            .build()
            .context("creating the HTTP client")?;
        let database = if plain.database.trim().is_empty() {
            "default".to_owned()
        } else {
            plain.database.trim().to_owned()
        };
        self.running = Some(Running {
            runtime: ctx.runtime().clone(),
            client: Arc::new(Client {
                http,
                servers,
                current: AtomicUsize::new(0),
                auth,
                max_execution_time,
                compression,
                metrics: Metrics::new(ctx),
                debug: config.debug,
            }),
            writer: RowWriter::new(layout, converter),
            database,
            insert: None,
        });
        Ok(())
    }

    fn description(&self) -> &str {
        "clickhouse flusher: inserts events into ClickHouse over HTTP"
    }

    /// Inserts happen inside `flush`/`export`, so nothing queues up in the flusher.
    fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
        self.running.is_some() || self.urgent.load(Ordering::Relaxed)
    }

    fn set_urgent(&mut self, flag: bool) {
        self.urgent.store(flag, Ordering::Relaxed);
    }

    fn stop(&mut self) -> Result<()> {
        self.running = None;
        self.progress = None;
        Ok(())
    }

    fn as_v1(&mut self) -> Option<&mut dyn FlusherV1> {
        Some(self)
    }

    fn as_v2(&mut self) -> Option<&mut dyn FlusherV2> {
        Some(self)
    }
}

impl FlusherV1 for ClickHouseFlusher {
    fn flush(&mut self, _: &str, _: &str, _: &str, groups: &[LogGroup]) -> Result<()> {
        self.deliver(BatchKey::of(groups), |w, now| w.v1(groups, now))
    }
}

impl FlusherV2 for ClickHouseFlusher {
    fn export(&mut self, groups: &[PipelineGroupEvents], _: &mut PipelineContext) -> Result<()> {
        self.deliver(BatchKey::of(groups), |w, now| w.v2(groups, now))
    }
}
