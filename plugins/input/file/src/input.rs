use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loong_api::{Collector, Context, Input, Result, ServiceInput};

use crate::FileOptions;
use crate::checkpoint::Book;
use crate::reader::{Env, FileReader, Metrics};
use crate::settings::Settings;
use crate::worker::{Wake, Worker};

const DESCRIPTION: &str = "file input plugin: collects the lines of text files, following rotation";

/// How long the open files of a stopped input wait for the next instance of the same input.
const HANDOFF_TTL: Duration = Duration::from_secs(60);

/// The state a stopped input leaves for the next instance of the same pipeline and plugin (a config
/// reload): its open files, including renamed and deleted ones still being read, and its book of
/// in-flight ranges, whose batches the runtime hands to the new pipeline. The new instance continues
/// exactly where the old one stopped, so a reload neither loses nor repeats lines.
struct Carried {
    book: Arc<Book>,
    readers: Vec<FileReader>,
    at: Instant,
}

static HANDOFF: Mutex<Option<HashMap<String, Carried>>> = Mutex::new(None);

fn handoff<T>(f: impl FnOnce(&mut HashMap<String, Carried>) -> T) -> T {
    let mut guard = HANDOFF.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, c| c.at.elapsed() < HANDOFF_TTL);
    f(map)
}

pub struct FileInput {
    options: FileOptions,
    settings: Option<Arc<Settings>>,
    ctx: Option<Context>,
    metrics: Option<Metrics>,
    running: Option<Running>,
}

struct Running {
    thread: JoinHandle<Vec<FileReader>>,
    wake: Arc<Wake>,
    book: Arc<Book>,
}

impl FileInput {
    pub fn new(options: FileOptions) -> Self {
        FileInput {
            options,
            settings: None,
            ctx: None,
            metrics: None,
            running: None,
        }
    }

    fn key(ctx: &Context) -> String {
        format!("{}/{}", ctx.config_name(), ctx.plugin_id())
    }

    /// Drops what a stopped instance left for its successor, as a process exit does (for tests that
    /// restart from the saved checkpoint).
    #[doc(hidden)]
    pub fn discard_handoff(&self) {
        if let Some(ctx) = &self.ctx {
            handoff(|m| m.remove(&Self::key(ctx)));
        }
    }
}

impl Input for FileInput {
    fn init(&mut self, ctx: &Context) -> Result<Option<Duration>> {
        self.settings = Some(Arc::new(Settings::new(&self.options)?));
        self.metrics = Some(Metrics::new(ctx.metrics()));
        self.ctx = Some(ctx.clone());
        Ok(None)
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_service(&mut self) -> Option<&mut dyn ServiceInput> {
        Some(self)
    }
}

impl ServiceInput for FileInput {
    fn start(&mut self, collector: Collector) -> Result<()> {
        anyhow::ensure!(self.running.is_none(), "input_file is already started");
        let (Some(ctx), Some(settings), Some(metrics)) = (&self.ctx, &self.settings, &self.metrics) else {
            anyhow::bail!("input_file is started before init");
        };
        let carried = handoff(|m| m.remove(&Self::key(ctx)));
        let (book, readers, first_start) = match carried {
            Some(c) => {
                c.book.adopt(ctx.clone());
                (c.book, c.readers, false)
            }
            None => {
                let saved = Book::load(ctx);
                let first = saved.is_none();
                (Book::new(ctx.clone(), saved), Vec::new(), first)
            }
        };
        let env = Env {
            settings: settings.clone(),
            collector,
            book: book.clone(),
            metrics: metrics.clone(),
        };
        // Files handed over keep reading if they are still wanted (or no longer matched at all:
        // renamed away or deleted, with data left).
        let mut kept = Vec::new();
        for r in readers {
            if r.detached || settings.discovery.matches(&r.path) {
                kept.push(r.adopt(&env));
            } else {
                book.remove(r.uid);
            }
        }
        if !kept.is_empty() {
            tracing::info!(files = kept.len(), "continuing the files of the previous instance");
        }
        let wake = Arc::new(Wake::default());
        let worker = Worker::new(env, kept, wake.clone(), first_start, ctx.is_onetime());
        let span = ctx.span().clone();
        let thread = std::thread::Builder::new().name("input-file".into()).spawn(move || {
            let _g = span.entered();
            worker.run()
        })?;
        self.running = Some(Running { thread, wake, book });
        Ok(())
    }

    /// Stops reading and waits for the reading thread. What was collected is still delivered by the
    /// pipeline; its acknowledgements keep saving the checkpoint after this returns.
    fn stop(&mut self) -> Result<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        running.wake.signal(|f| f.stop = true);
        let readers = running
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the input_file reader panicked"))?;
        running.book.stop();
        if let Some(ctx) = &self.ctx {
            let key = Self::key(ctx);
            let carried = Carried {
                book: running.book,
                readers,
                at: Instant::now(),
            };
            handoff(|m| m.insert(key, carried));
        }
        Ok(())
    }
}

impl Drop for FileInput {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.wake.signal(|f| f.stop = true);
        }
    }
}
