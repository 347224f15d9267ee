//! input_file on real files in temporary directories. The input runs its own thread; a collector sink
//! receives its groups as the runtime's queue would, and the test acknowledges them as delivered.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use loong_api::model::AckStatus;
use loong_api::{
    CheckpointStore, Collector, CollectorClosed, CollectorSink, Context, GlobalConfig, Input, MemoryCheckpoints,
    PipelineGroupEvents, Registry,
};
use loong_input_file::{FileInput, FileOptions};
use loong_testkit::MetricsCapture;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Got {
    body: String,
    path: String,
    offset: u64,
    raw: u64,
    tags: Vec<(String, String)>,
}

#[derive(Default)]
struct Sink {
    groups: Mutex<Vec<PipelineGroupEvents>>,
    done: AtomicBool,
}

impl CollectorSink for Sink {
    fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed> {
        self.groups.lock().unwrap().push(group);
        Ok(())
    }

    fn done(&self) {
        self.done.store(true, Ordering::Release);
    }
}

fn context(name: &str, store: Arc<dyn CheckpointStore>, onetime: bool) -> Context {
    let global = GlobalConfig {
        onetime,
        ..Default::default()
    };
    Context::builder(name)
        .plugin("input_file", "input_file/1")
        .checkpoints(store)
        .global(Arc::new(global))
        .build()
}

fn input(options: &Value, ctx: &Context) -> FileInput {
    let (options, warnings) = loong_api::options::decode::<FileOptions>(options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut input = FileInput::new(options);
    assert_eq!(input.init(ctx).unwrap(), None);
    input
}

struct Harness {
    input: FileInput,
    sink: Arc<Sink>,
    got: Vec<Got>,
    /// Groups received but not acknowledged (when acknowledging is off).
    held: Vec<PipelineGroupEvents>,
    ack: bool,
}

impl Harness {
    fn start(name: &str, options: Value) -> Harness {
        let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
        Self::start_with(&context(name, store, false), options)
    }

    fn start_with(ctx: &Context, options: Value) -> Harness {
        Self::start_input(input(&options, ctx))
    }

    fn start_input(mut input: FileInput) -> Harness {
        let sink = Arc::new(Sink::default());
        input.as_service().unwrap().start(Collector::new(sink.clone())).unwrap();
        Harness {
            input,
            sink,
            got: Vec::new(),
            held: Vec::new(),
            ack: true,
        }
    }

    /// Moves what arrived into `got`, acknowledging it as delivered (or holding it).
    fn take(&mut self) {
        let groups = std::mem::take(&mut *self.sink.groups.lock().unwrap());
        for mut g in groups {
            let path = g
                .group
                .tags
                .get_str("__path__")
                .map(|s| s.into_owned())
                .unwrap_or_default();
            let tags: Vec<(String, String)> = g
                .group
                .tags
                .iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect();
            for e in &g.events {
                let log = e.as_log().unwrap();
                self.got.push(Got {
                    body: String::from_utf8(log.body().unwrap().to_vec()).unwrap(),
                    path: path.clone(),
                    offset: log.offset,
                    raw: log.raw_size,
                    tags: tags.clone(),
                });
            }
            if self.ack {
                g.acks.take().complete(AckStatus::Delivered);
            } else {
                self.held.push(g);
            }
        }
    }

    /// Waits until at least `n` events arrived; returns all bodies so far.
    fn wait_for(&mut self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            self.take();
            if self.got.len() >= n {
                return self.bodies();
            }
            if Instant::now() >= deadline {
                let bodies = self.bodies();
                let firsts: Vec<&String> = bodies
                    .windows(2)
                    .filter(|w| w[0] >= w[1] || w[0].len() != w[1].len())
                    .map(|w| &w[1])
                    .take(10)
                    .collect();
                panic!(
                    "only {} of {n} events arrived; last {:?}; discontinuities at {firsts:?}",
                    self.got.len(),
                    bodies.iter().rev().take(3).collect::<Vec<_>>()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn bodies(&self) -> Vec<String> {
        self.got.iter().map(|g| g.body.clone()).collect()
    }

    fn stop(&mut self) {
        self.input.as_service().unwrap().stop().unwrap();
        self.take();
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:06}")).collect()
}

fn lines(texts: &[String]) -> String {
    texts.iter().map(|t| format!("{t}\n")).collect()
}

#[test]
fn globs_depth_limits_and_exclusions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files = [
        "top.log",
        "a/one.log",
        "a/b/two.log",
        "a/b/c/three.log",
        "a/skip.log",
        "a/debug-x.log",
        "tmp/four.log",
        "a/other.txt",
    ];
    for f in files {
        let p = root.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("{f}\n")).unwrap();
    }
    let mut h = Harness::start(
        "globs",
        json!({
            "FilePaths": [format!("{}/**/*.log", root.display())],
            "MaxDirSearchDepth": 2,
            "ExcludeFilePaths": [format!("{}/a/skip.log", root.display())],
            "ExcludeFiles": ["debug-*"],
            "ExcludeDirs": [format!("{}/tm?", root.display())],
        }),
    );
    h.wait_for(3);
    // A file appearing later in a new directory is found too.
    fs::create_dir_all(root.join("a/new")).unwrap();
    fs::write(root.join("a/new/late.log"), "a/new/late.log\n").unwrap();
    fs::write(root.join("a/new/late.txt"), "a/new/late.txt\n").unwrap();
    let mut got = h.wait_for(4);
    got.sort();
    assert_eq!(got, ["a/b/two.log", "a/new/late.log", "a/one.log", "top.log"]);
    for g in &h.got {
        assert_eq!(Path::new(&g.path), root.join(&g.body), "__path__ names the file");
    }
    std::thread::sleep(Duration::from_millis(300));
    h.stop();
    assert_eq!(h.got.len(), 4, "nothing else was collected: {:?}", h.bodies());
}

#[test]
fn tags_offsets_and_hostname() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::write(&path, "first\r\nsecond\n").unwrap();
    let mut h = Harness::start(
        "tags",
        json!({"FilePaths": [path.display().to_string()], "AppendingLogPositionMeta": true}),
    );
    h.wait_for(2);
    h.stop();
    assert_eq!(h.bodies(), ["first", "second"]);
    assert_eq!((h.got[0].offset, h.got[0].raw), (0, 7));
    assert_eq!((h.got[1].offset, h.got[1].raw), (7, 7));
    let tags: std::collections::HashMap<_, _> = h.got[0].tags.iter().cloned().collect();
    assert_eq!(tags["__path__"], path.display().to_string());
    let inode = {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&path).unwrap().ino().to_string()
    };
    assert_eq!(tags["__inode__"], inode);
    assert_eq!(tags["__hostname__"], gethostname());

    // Renamed and removed tags.
    let mut h = Harness::start(
        "tags-renamed",
        json!({
            "FilePaths": [path.display().to_string()],
            "Tags": {"FilePathTagKey": "file", "HostNameTagKey": ""}
        }),
    );
    h.wait_for(2);
    h.stop();
    let keys: Vec<_> = h.got[0].tags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["file"]);
}

fn gethostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[test]
fn existing_files_start_at_their_tail_and_new_files_at_their_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.log");
    let expected_old = numbered("old", 0..1000);
    fs::write(&old, lines(&expected_old)).unwrap(); // 11 000 bytes
    let mut h = Harness::start(
        "tail",
        json!({"FilePaths": [format!("{}/*.log", dir.path().display())], "TailSizeKB": 1}),
    );
    // The last KiB: 1024 / 11 = 93.09 lines, so the first whole line there is the 907th.
    let got = h.wait_for(93);
    assert_eq!(got, expected_old[907..]);
    let new = numbered("new", 0..500);
    fs::write(dir.path().join("new.log"), lines(&new)).unwrap();
    let got = h.wait_for(93 + 500);
    assert_eq!(got[93..], new[..]);
    h.stop();
}

#[test]
fn a_partial_line_waits_for_its_end_or_the_flush_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    fs::write(&path, "").unwrap();
    let mut h = Harness::start(
        "partial",
        json!({"FilePaths": [path.display().to_string()], "FlushTimeoutSecs": 1}),
    );
    std::thread::sleep(Duration::from_millis(300));
    append(&path, "whole\npar");
    assert_eq!(h.wait_for(1), ["whole"]);
    append(&path, "tial\n");
    assert_eq!(
        h.wait_for(2),
        ["whole", "partial"],
        "completed before the timeout: one line"
    );

    append(&path, "no newline");
    let start = Instant::now();
    assert_eq!(h.wait_for(3)[2], "no newline");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "sent after the flush timeout, not before ({:?})",
        start.elapsed()
    );
    assert_eq!((h.got[2].offset, h.got[2].raw), (14, 10));
    append(&path, " continued\n");
    assert_eq!(h.wait_for(4)[3], " continued");
    h.stop();
}

#[test]
fn multiline_java_stack_traces_with_a_flush_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("java.log");
    fs::write(&path, "").unwrap();
    let mut h = Harness::start(
        "multiline",
        json!({
            "FilePaths": [path.display().to_string()],
            "FlushTimeoutSecs": 1,
            "Multiline": {"StartPattern": r"\d{4}-\d{2}-\d{2} .*"}
        }),
    );
    std::thread::sleep(Duration::from_millis(300));
    let trace = "2024-05-01 10:00:00 ERROR failed\njava.lang.RuntimeException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.main(B.java:9)\n";
    append(&path, &format!("2024-05-01 09:59:59 INFO ok\n{trace}"));
    // The first record is complete once the second begins; the second waits for the timeout.
    assert_eq!(h.wait_for(1), ["2024-05-01 09:59:59 INFO ok"]);
    let start = Instant::now();
    let got = h.wait_for(2);
    assert!(start.elapsed() >= Duration::from_millis(500), "{:?}", start.elapsed());
    assert_eq!(got[1], trace.trim_end());
    assert_eq!(h.got[1].offset, "2024-05-01 09:59:59 INFO ok\n".len() as u64);
    assert_eq!(h.got[1].raw, trace.len() as u64);
    h.stop();
}

#[test]
fn a_10_mib_line_is_cut_and_counted_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut text = String::from("before\n");
    text.push_str(&"x".repeat(10 << 20));
    text.push_str("\nafter\n");
    fs::write(&path, &text).unwrap();
    let capture = MetricsCapture::new();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let ctx = context("huge", store, false);
    let input = capture.scoped(|| {
        input(
            &json!({"FilePaths": [path.display().to_string()], "TailSizeKB": 20480}),
            &ctx,
        )
    });
    let mut h = Harness::start_input(input);
    let got = h.wait_for(3);
    h.stop();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], "before");
    assert_eq!(got[1].len(), 512 * 1024);
    assert!(got[1].bytes().all(|b| b == b'x'));
    assert_eq!(got[2], "after");
    assert_eq!(h.got[1].raw, (10 << 20) + 1);
    assert_eq!(h.got[2].offset, 7 + (10 << 20) + 1);
    assert_eq!(capture.counter("input_truncated_lines_total"), 1);
    assert_eq!(capture.counter("input_read_bytes_total"), text.len() as u64);
}

#[test]
fn gbk_files_are_converted_to_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gbk.log");
    let text = "你好，世界\nplain ascii\n日志采集\n";
    let (encoded, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    fs::write(&path, &encoded).unwrap();
    let mut h = Harness::start(
        "gbk",
        json!({"FilePaths": [path.display().to_string()], "FileEncoding": "gbk"}),
    );
    assert_eq!(h.wait_for(3), ["你好，世界", "plain ascii", "日志采集"]);
    h.stop();
    assert_eq!(
        (h.got[1].offset, h.got[1].raw),
        (11, 12),
        "offsets count the file's GBK bytes"
    );
}

/// Appends numbered lines to `path`, renaming it away and starting a new file every `every` lines.
fn rotating_writer(path: PathBuf, total: usize, every: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let mut batch = String::new();
        for (i, line) in numbered("line", 0..total).into_iter().enumerate() {
            batch.push_str(&line);
            batch.push('\n');
            if i % 50 == 49 {
                f.write_all(batch.as_bytes()).unwrap();
                batch.clear();
            }
            if i % every == every - 1 && i + 1 < total {
                f.write_all(batch.as_bytes()).unwrap();
                batch.clear();
                let rotated = path.with_extension(format!("log.{}", i / every));
                fs::rename(&path, &rotated).unwrap();
                // A rotation interval long enough for the file to be noticed, as in real life.
                std::thread::sleep(Duration::from_millis(150));
                f = OpenOptions::new().create(true).append(true).open(&path).unwrap();
            }
        }
        f.write_all(batch.as_bytes()).unwrap();
    })
}

#[test]
fn rename_rotation_while_writing_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::write(&path, "").unwrap();
    let mut h = Harness::start("rename", json!({"FilePaths": [path.display().to_string()]}));
    std::thread::sleep(Duration::from_millis(200));
    let total = 20_000;
    let writer = rotating_writer(path.clone(), total, 4_000);
    let got = h.wait_for(total);
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    h.stop();
    assert_eq!(h.bodies().len(), total, "no line twice");
    assert_eq!(got, numbered("line", 0..total), "every line, in order");
}

#[test]
fn rename_rotation_to_a_still_matching_name_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::write(&path, "").unwrap();
    let mut h = Harness::start(
        "rename-matching",
        json!({"FilePaths": [format!("{}/app.log*", dir.path().display())]}),
    );
    std::thread::sleep(Duration::from_millis(200));
    let total = 12_000;
    let writer = rotating_writer(path.clone(), total, 3_000);
    let got = h.wait_for(total);
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    h.stop();
    assert_eq!(h.bodies().len(), total, "no line twice");
    assert_eq!(got, numbered("line", 0..total), "every line, in order");
    // Rotated files are reported under their new names once renamed.
    assert!(h.got.iter().any(|g| g.path.ends_with("app.log")));
}

#[test]
fn copytruncate_while_writing_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::write(&path, "").unwrap();
    let mut h = Harness::start("copytruncate", json!({"FilePaths": [path.display().to_string()]}));
    std::thread::sleep(Duration::from_millis(200));
    // The writer appends batches; between batches the file is copied and truncated, as logrotate's
    // copytruncate does. Each batch is longer than the one before, so the file grows past the old
    // read position before the truncation is noticed by size alone.
    let (to_writer, go) = mpsc::channel::<()>();
    let (wrote, batch_done) = mpsc::channel::<usize>();
    let p = path.clone();
    let writer = std::thread::spawn(move || {
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        let mut next = 0;
        for size in [1_000, 3_000, 6_000, 9_000] {
            let text = lines(&numbered("line", next..next + size));
            for chunk in text.as_bytes().chunks(8192) {
                f.write_all(chunk).unwrap();
            }
            next += size;
            wrote.send(next).unwrap();
            if go.recv().is_err() {
                return;
            }
        }
    });
    let mut rotations = 0;
    while let Ok(written) = batch_done.recv() {
        h.wait_for(written);
        if written == 19_000 {
            to_writer.send(()).unwrap();
            break;
        }
        rotations += 1;
        fs::copy(&path, path.with_extension(format!("log.{rotations}"))).unwrap();
        File::options().write(true).open(&path).unwrap().set_len(0).unwrap();
        to_writer.send(()).unwrap();
    }
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    h.stop();
    assert_eq!(h.bodies(), numbered("line", 0..19_000), "every line once, in order");
}

#[test]
fn a_deleted_file_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.log");
    let mut writer = File::create(&path).unwrap();
    writer.write_all(b"one\n").unwrap();
    let mut h = Harness::start("deleted", json!({"FilePaths": [path.display().to_string()]}));
    assert_eq!(h.wait_for(1), ["one"]);
    writer.write_all(b"two\n").unwrap();
    fs::remove_file(&path).unwrap();
    // The application still holds the file open and keeps writing to it.
    for i in 0..1000 {
        writeln!(writer, "after-delete-{i}").unwrap();
    }
    let got = h.wait_for(1002);
    h.stop();
    assert_eq!(got[..2], ["one", "two"]);
    assert_eq!(
        got[2..],
        (0..1000).map(|i| format!("after-delete-{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn a_restart_continues_after_the_last_delivered_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let all = numbered("line", 0..3000);
    fs::write(&path, lines(&all[..1000])).unwrap();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let ctx = context("restart", store.clone(), false);
    let options = json!({"FilePaths": [path.display().to_string()]});

    // First run: the first 1000 lines are delivered; the next 1000 are collected in four groups that
    // the pipeline still holds when the input stops.
    let mut first = Harness::start_with(&ctx, options.clone());
    first.wait_for(1000);
    first.ack = false;
    for part in 0..4 {
        let from = 1000 + part * 250;
        append(&path, &lines(&all[from..from + 250]));
        first.wait_for(from + 250);
    }
    first.stop();
    first.input.discard_handoff();
    // After the input stopped, the pipeline delivers the first held group; the process dies with
    // the others.
    let held = std::mem::take(&mut first.held);
    assert!(held.len() >= 2, "{} groups", held.len());
    let mut held = held.into_iter();
    let g = held.next().unwrap();
    let delivered = 1000 + g.events.len();
    g.acks.complete(AckStatus::Delivered);
    drop(held);
    append(&path, &lines(&all[2000..]));

    // Second run (a new process): continues after the last delivered line, not at the tail.
    let ctx = context("restart", store, false);
    let mut second = Harness::start_with(&ctx, options);
    let got = second.wait_for(3000 - delivered);
    std::thread::sleep(Duration::from_millis(300));
    second.stop();
    assert_eq!(second.bodies().len(), 3000 - delivered);
    assert_eq!(got, all[delivered..]);
}

#[test]
fn a_reload_continues_exactly_where_the_previous_instance_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let all = numbered("line", 0..2000);
    fs::write(&path, lines(&all[..1000])).unwrap();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let options = json!({"FilePaths": [path.display().to_string()]});
    let mut old = Harness::start_with(&context("reload", store.clone(), false), options.clone());
    old.ack = false;
    old.wait_for(1000);
    old.stop();
    // The runtime hands the undelivered groups to the new pipeline, which delivers them later.
    let carried = std::mem::take(&mut old.held);

    let mut new = Harness::start_with(&context("reload", store.clone(), false), options);
    append(&path, &lines(&all[1000..]));
    let got = new.wait_for(1000);
    assert_eq!(got, all[1000..], "nothing repeated, nothing skipped");
    for g in carried {
        g.acks.complete(AckStatus::Delivered);
    }
    std::thread::sleep(Duration::from_millis(300));
    new.stop();
    new.input.discard_handoff();
    // Everything was delivered: a restart from the checkpoint reads nothing again.
    let mut after = Harness::start_with(
        &context("reload", store, false),
        json!({"FilePaths": [path.display().to_string()]}),
    );
    append(&path, "last\n");
    assert_eq!(after.wait_for(1), ["last"]);
    after.stop();
}

#[test]
fn onetime_reads_every_file_from_the_beginning_then_reports_done() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    fs::write(&a, lines(&numbered("a", 0..5000))).unwrap();
    fs::write(&b, "b-1\nb-2 without newline").unwrap();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let ctx = context("onetime", store, true);
    let mut h = Harness::start_with(
        &ctx,
        json!({"FilePaths": [format!("{}/*.log", dir.path().display())], "TailSizeKB": 1}),
    );
    let deadline = Instant::now() + WAIT;
    while !h.sink.done.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "done() was not called");
        std::thread::sleep(Duration::from_millis(10));
    }
    h.take();
    let mut got = h.bodies();
    got.sort();
    let mut want = numbered("a", 0..5000);
    want.extend(["b-1".to_owned(), "b-2 without newline".to_owned()]);
    want.sort();
    assert_eq!(got, want);
    // Files appearing afterwards are not part of a one-time run.
    fs::write(dir.path().join("c.log"), "c\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    h.stop();
    assert_eq!(h.got.len(), 5002);
}

#[test]
fn invalid_options_fail_init_naming_the_option() {
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let ctx = context("invalid", store, false);
    for (options, needle) in [
        (json!({}), "FilePaths"),
        (json!({"FilePaths": ["relative/*.log"]}), "absolute"),
        (
            json!({"FilePaths": ["/a/*.log"], "MaxDirSearchDepth": 1001}),
            "MaxDirSearchDepth",
        ),
        (
            json!({"FilePaths": ["/a/*.log"], "Multiline": {"StartPattern": "("}}),
            "Multiline.StartPattern",
        ),
        (json!({"FilePaths": ["/a/*.log"], "Tags": {"Nope": "x"}}), "Tags"),
        (
            json!({"FilePaths": ["/a/*.log"], "ExcludeDirs": ["tmp"]}),
            "ExcludeDirs",
        ),
    ] {
        let (options, _) = loong_api::options::decode::<FileOptions>(&options).unwrap();
        let err = FileInput::new(options).init(&ctx).unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{needle}: {err:#}");
    }
    assert!(loong_api::options::decode::<FileOptions>(&json!({"FileEncoding": "latin1"})).is_err());
}

#[test]
fn registers_a_documented_service_input() {
    let mut registry = Registry::new();
    loong_input_file::register(&mut registry);
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    let (mut input, warnings) = registry
        .create_input(
            loong_input_file::NAME,
            &json!({"filepaths": ["/x/*.log"], "FileEncoding": "GBK"}),
        )
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(input.as_service().is_some() && input.as_metric().is_none());
    let doc = registry
        .doc(loong_api::PluginKind::Input, loong_input_file::NAME)
        .unwrap();
    let defaults: std::collections::HashMap<_, _> = doc
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.default.as_str()))
        .collect();
    assert_eq!(defaults["TailSizeKB"], "1024");
    assert_eq!(defaults["FlushTimeoutSecs"], "5");
    assert_eq!(defaults["FileEncoding"], "\"utf8\"");
    assert_eq!(defaults["Multiline.UnmatchedContentTreatment"], "\"single_line\"");
    assert!(
        doc.options.iter().all(|o| !o.description.is_empty()),
        "{:?}",
        doc.options
    );
}

#[test]
fn tailing_all_matched_files_reads_existing_files_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let all = numbered("old", 0..1000);
    fs::write(dir.path().join("old.log"), lines(&all)).unwrap();
    let mut h = Harness::start(
        "tail-all",
        json!({
            "FilePaths": [format!("{}/*.log", dir.path().display())],
            "TailSizeKB": 1,
            "TailingAllMatchedFiles": true
        }),
    );
    assert_eq!(h.wait_for(1000), all);
    h.stop();
}

#[test]
fn a_file_rotated_while_the_agent_was_down_is_finished_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let all = numbered("line", 0..1800);
    fs::write(&path, lines(&all[..1000])).unwrap();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpoints::default());
    let options = json!({"FilePaths": [path.display().to_string()]});
    let mut first = Harness::start_with(&context("down", store.clone(), false), options.clone());
    first.wait_for(1000);
    first.stop();
    first.input.discard_handoff();

    // While the agent is down the file gets more lines, is rotated away, and a new one begins.
    append(&path, &lines(&all[1000..1500]));
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    fs::write(&path, lines(&all[1500..])).unwrap();

    let mut second = Harness::start_with(&context("down", store, false), options);
    let got = second.wait_for(800);
    std::thread::sleep(Duration::from_millis(300));
    second.stop();
    assert_eq!(second.bodies().len(), 800);
    assert_eq!(got, all[1000..]);
}
