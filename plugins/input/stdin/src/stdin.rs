use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use loong_api::{Collector, Context, Input, Result, ServiceInput};

use crate::StdinOptions;
use crate::reader::{self, Control, End, Finished, Limits};

const DESCRIPTION: &str = "stdin input plugin: collects the lines of standard input";

/// Large enough that piped bulk input arrives in few reads and fills whole groups.
const READ_BUFFER: usize = 256 * 1024;

/// Input a stopped reader had taken from stdin but not delivered. The next reader starts with it, so
/// a config reload loses no line.
static CARRIED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

pub struct StdinInput {
    options: StdinOptions,
    truncated: metrics::Counter,
    span: tracing::Span,
    worker: Option<Worker>,
}

struct Worker {
    thread: JoinHandle<()>,
    control: Arc<Control>,
}

impl StdinInput {
    pub fn new(options: StdinOptions) -> Self {
        StdinInput {
            options,
            truncated: metrics::Counter::noop(),
            span: tracing::Span::none(),
            worker: None,
        }
    }

    /// Starts the reading thread on the stream `open` returns (called on that thread, since opening
    /// stdin may wait for a previous reader). `done` runs on the thread after the loop ends, while
    /// the stream is still open.
    fn start_with<R: BufRead>(
        &mut self,
        collector: Collector,
        open: impl FnOnce() -> R + Send + 'static,
        done: impl FnOnce(&Finished) + Send + 'static,
    ) -> Result<()> {
        anyhow::ensure!(self.worker.is_none(), "input_stdin is already started");
        let control = Arc::new(Control::default());
        let limits = Limits {
            batch_size: self.options.batch_size,
            max_line_size: self.options.max_line_size,
        };
        let truncated = self.truncated.clone();
        let span = self.span.clone();
        let thread_control = control.clone();
        let thread = std::thread::Builder::new().name("input-stdin".into()).spawn(move || {
            let _span = span.entered();
            thread_control.reading.store(true, Ordering::Release);
            let mut stream = open();
            let finished = reader::read_lines(&mut stream, limits, &collector, &thread_control, &truncated);
            done(&finished);
            match finished.end {
                End::Eof => {
                    tracing::info!(
                        cut_lines = finished.cut_lines,
                        "end of standard input; input_stdin has nothing more to read"
                    );
                    collector.done();
                }
                End::Failed(e) => {
                    tracing::error!(error = %e, "reading standard input failed; input_stdin stops");
                    collector.done();
                }
                End::Stopped | End::Closed => tracing::debug!(unsent = finished.unsent.len(), "stdin reader stopped"),
            }
        })?;
        self.worker = Some(Worker { thread, control });
        Ok(())
    }
}

impl Input for StdinInput {
    fn init(&mut self, ctx: &Context) -> Result<Option<Duration>> {
        anyhow::ensure!(self.options.batch_size > 0, "BatchSize must be at least 1");
        anyhow::ensure!(self.options.max_line_size > 0, "MaxLineSize must be at least 1");
        self.truncated = ctx.metrics().counter("input_truncated_lines_total");
        self.span = ctx.span().clone();
        Ok(None)
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn as_service(&mut self) -> Option<&mut dyn ServiceInput> {
        Some(self)
    }
}

impl ServiceInput for StdinInput {
    fn start(&mut self, collector: Collector) -> Result<()> {
        self.start_with(
            collector,
            || {
                // Held until the thread ends: a second reader waits here for the first to let go,
                // then finds in CARRIED what the first had read but not delivered.
                let stdin = io::stdin().lock();
                resume(&CARRIED, BufReader::with_capacity(READ_BUFFER, stdin))
            },
            |finished| hand_back(&CARRIED, finished),
        )
    }

    /// Ends the reading thread at the next line boundary and waits for it, unless it is waiting for
    /// input: no portable call interrupts a blocked read of stdin, so that thread is left behind. It
    /// ends by itself at its next line (delivering that line while the pipeline still takes data,
    /// otherwise handing it to the next reader) or at end of input, and it holds nothing but stdin.
    fn stop(&mut self) -> Result<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        worker.control.stop.store(true, Ordering::Release);
        loop {
            if worker.thread.is_finished() {
                return worker
                    .thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("the stdin reader panicked"));
            }
            if worker.control.reading.load(Ordering::Acquire) {
                tracing::debug!("stdin reader is waiting for input; it ends at its next line");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for StdinInput {
    fn drop(&mut self) {
        if let Some(worker) = &self.worker {
            worker.control.stop.store(true, Ordering::Release);
        }
    }
}

/// `source`, preceded by what a previous reader handed back.
fn resume<R: BufRead>(carried: &Mutex<Vec<u8>>, source: R) -> io::Chain<Cursor<Vec<u8>>, R> {
    let before = std::mem::take(&mut *carried.lock().unwrap_or_else(PoisonError::into_inner));
    Cursor::new(before).chain(source)
}

fn hand_back(carried: &Mutex<Vec<u8>>, finished: &Finished) {
    if !finished.unsent.is_empty() {
        carried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(&finished.unsent);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Instant;

    use loong_api::{CollectorClosed, CollectorSink, PipelineGroupEvents, PluginKind, Registry};
    use serde_json::json;

    use super::*;

    fn create(options: serde_json::Value) -> Result<StdinInput> {
        let (options, warnings) = loong_api::options::decode::<StdinOptions>(&options)?;
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut input = StdinInput::new(options);
        assert_eq!(
            input.init(&Context::builder("test").plugin(crate::NAME, crate::NAME).build())?,
            None
        );
        Ok(input)
    }

    fn wait_for(take: impl Fn() -> Vec<PipelineGroupEvents>, bodies: &mut Vec<String>, want: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while bodies.len() < want {
            for group in take() {
                for event in group.events {
                    bodies.push(String::from_utf8(event.as_log().unwrap().body().unwrap().to_vec()).unwrap());
                }
            }
            assert!(Instant::now() < deadline, "only {bodies:?} arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn delivers_lines_as_they_arrive_and_stops_at_end_of_input() {
        let mut input = create(json!({"BatchSize": 2})).unwrap();
        let (reader, mut writer) = io::pipe().unwrap();
        let (collector, collected) = Collector::memory();
        let (done_tx, done_rx) = mpsc::channel();
        input
            .start_with(
                collector,
                || BufReader::new(reader),
                move |f| done_tx.send(format!("{:?}", f.end)).unwrap(),
            )
            .unwrap();
        let mut bodies = Vec::new();
        writer.write_all(b"one\n").unwrap();
        wait_for(|| collected.to_array(), &mut bodies, 1);
        writer.write_all(b"two\nthree\nfour\n").unwrap();
        drop(writer);
        wait_for(|| collected.to_array(), &mut bodies, 4);
        assert_eq!(bodies, ["one", "two", "three", "four"]);
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)).unwrap(), "Eof");
        input.stop().unwrap();
    }

    #[test]
    fn stop_does_not_wait_for_a_reader_blocked_in_read() {
        let mut input = create(json!({})).unwrap();
        let (reader, mut writer) = io::pipe().unwrap();
        let (collector, collected) = Collector::memory();
        let (done_tx, done_rx) = mpsc::channel();
        input
            .start_with(
                collector,
                || BufReader::new(reader),
                move |f| done_tx.send(f.unsent.clone()).unwrap(),
            )
            .unwrap();
        let mut bodies = Vec::new();
        writer.write_all(b"before\n").unwrap();
        wait_for(|| collected.to_array(), &mut bodies, 1);

        let start = Instant::now();
        input.stop().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "stop waited {:?}",
            start.elapsed()
        );
        assert!(done_rx.try_recv().is_err(), "the reader is still blocked");

        // The left-behind reader ends at its next line, delivering it, and hands back the rest.
        writer.write_all(b"after\nrest\n").unwrap();
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)).unwrap(), b"rest\n");
        wait_for(|| collected.to_array(), &mut bodies, 2);
        assert_eq!(bodies, ["before", "after"]);
    }

    /// Takes one group, then asks the reader to stop.
    struct StopAfterOne(Arc<Control>, Mutex<Vec<PipelineGroupEvents>>);

    impl CollectorSink for StopAfterOne {
        fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed> {
            self.0.stop.store(true, Ordering::Release);
            self.1.lock().unwrap().push(group);
            Ok(())
        }
    }

    #[test]
    fn the_next_reader_starts_with_what_the_previous_one_handed_back() {
        let carried = Mutex::new(Vec::new());
        let control = Arc::new(Control::default());
        let sink = Arc::new(StopAfterOne(control.clone(), Mutex::new(Vec::new())));
        let limits = Limits {
            batch_size: 1,
            max_line_size: 64,
        };
        let mut first = resume(&carried, &b"b\nc\n"[..]);
        let finished = reader::read_lines(
            &mut first,
            limits,
            &Collector::new(sink.clone()),
            &control,
            &metrics::Counter::noop(),
        );
        hand_back(&carried, &finished);
        assert_eq!(*carried.lock().unwrap(), b"c\n");

        let (collector, collected) = Collector::memory();
        let mut second = resume(&carried, &b"d\n"[..]);
        reader::read_lines(
            &mut second,
            limits,
            &collector,
            &Control::default(),
            &metrics::Counter::noop(),
        );
        let mut groups = std::mem::take(&mut *sink.1.lock().unwrap());
        groups.extend(collected.to_array());
        let bodies: Vec<_> = groups
            .iter()
            .flat_map(|g| &g.events)
            .map(|e| e.as_log().unwrap().body().unwrap())
            .collect();
        assert_eq!(bodies, ["b", "c", "d"]);
        assert!(carried.lock().unwrap().is_empty());
    }

    #[test]
    fn zero_limits_are_rejected_at_init() {
        let err = create(json!({"BatchSize": 0})).err().unwrap();
        assert!(err.to_string().contains("BatchSize"), "{err}");
        let err = create(json!({"MaxLineSize": 0})).err().unwrap();
        assert!(err.to_string().contains("MaxLineSize"), "{err}");
    }

    #[test]
    fn registers_a_documented_service_input() {
        let mut registry = Registry::new();
        crate::register(&mut registry);
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        let (mut input, _) = registry.create_input(crate::NAME, &json!({"batchsize": 8})).unwrap();
        assert!(input.as_service().is_some() && input.as_metric().is_none());
        let doc = registry.doc(PluginKind::Input, crate::NAME).unwrap();
        assert!(doc.description.starts_with("Collects the lines"), "{}", doc.description);
        let options: Vec<_> = doc
            .options
            .iter()
            .map(|o| (o.name.as_str(), o.default.as_str()))
            .collect();
        assert_eq!(options, [("BatchSize", "1024"), ("MaxLineSize", "524288")]);
        assert!(doc.options.iter().all(|o| !o.description.is_empty()));
    }
}
