//! The reading loop, generic over any [`BufRead`] so it can be tested on memory and pipes.

use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use loong_api::{Collector, GroupInfo, LogEvent, PipelineEvent};

/// A group is sent once it holds this many bytes whatever `BatchSize` says, so a batch of long lines
/// cannot grow to hundreds of megabytes.
const MAX_GROUP_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub batch_size: usize,
    pub max_line_size: usize,
}

/// Shared by the reading thread and whoever stops it.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// Asks the loop to end at the next line boundary.
    pub stop: AtomicBool,
    /// The loop is (or is about to be) waiting for input, which nothing can interrupt.
    pub reading: AtomicBool,
}

#[derive(Debug)]
pub(crate) enum End {
    Eof,
    Stopped,
    /// The pipeline refused a group.
    Closed,
    Failed(io::Error),
}

#[derive(Debug)]
pub(crate) struct Finished {
    pub end: End,
    /// Input that was read but not delivered, in stream order: the next reader of the same stream
    /// starts with it.
    pub unsent: Vec<u8>,
    /// Lines cut to `max_line_size`.
    pub cut_lines: u64,
}

/// Reads `reader` line by line into groups sent to `collector` until end of input, a stop request
/// or a closed pipeline.
///
/// A group is sent when it has `batch_size` lines, and before any read that may block: once the
/// reader's buffer is used up, waiting for more input must not hold back lines already read.
pub(crate) fn read_lines<R: BufRead>(
    reader: &mut R,
    limits: Limits,
    collector: &Collector,
    control: &Control,
    truncated: &metrics::Counter,
) -> Finished {
    let mut pending = Pending::new(limits.max_line_size);
    // Whether everything `fill_buf` returned was consumed, so that the next call reads (and may
    // block) instead of returning buffered bytes.
    let mut drained = true;
    let end = loop {
        if !pending.in_line() && control.stop.load(Ordering::Acquire) {
            break End::Stopped;
        }
        if drained && !pending.lines.is_empty() && !pending.send(collector) {
            break End::Closed;
        }
        control.reading.store(true, Ordering::Release);
        let filled = reader.fill_buf();
        control.reading.store(false, Ordering::Release);
        let buf = match filled {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break End::Failed(e),
        };
        if buf.is_empty() {
            if pending.in_line() {
                pending.end_line(false, truncated);
            }
            break End::Eof;
        }
        let len = buf.len();
        let (used, line_done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                pending.append(&buf[..i]);
                (i + 1, true)
            }
            None => {
                pending.append(buf);
                (len, false)
            }
        };
        reader.consume(used);
        drained = used == len;
        if line_done {
            pending.end_line(true, truncated);
            let full = pending.lines.len() >= limits.batch_size || pending.buf.len() >= MAX_GROUP_BYTES;
            if full && !pending.send(collector) {
                break End::Closed;
            }
        }
    };

    let end = match end {
        End::Stopped | End::Eof | End::Failed(_) if !pending.send(collector) => End::Closed,
        end => end,
    };
    let mut unsent = pending.unsent;
    if matches!(end, End::Stopped | End::Closed) {
        if !pending.line_cut {
            unsent.extend_from_slice(&pending.buf[pending.line_start..]);
        }
        if !drained && let Ok(buffered) = reader.fill_buf() {
            // Cannot block: the buffer still holds bytes `fill_buf` returned before.
            unsent.extend_from_slice(buffered);
        }
    }
    Finished {
        end,
        unsent,
        cut_lines: pending.cut_lines,
    }
}

/// Lines read but not yet sent.
struct Pending {
    max_line_size: usize,
    /// Completed lines, each followed by `\n`, then the line being read.
    buf: BytesMut,
    lines: Vec<Line>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// Bytes of the line being read seen so far, skipped ones included.
    line_seen: usize,
    /// The line being read has already lost bytes to `max_line_size`.
    line_cut: bool,
    cut_lines: u64,
    /// Bytes of a group the pipeline refused.
    unsent: Vec<u8>,
}

struct Line {
    start: usize,
    end: usize,
    raw_size: u64,
    timestamp: u64,
}

impl Pending {
    fn new(max_line_size: usize) -> Self {
        Pending {
            max_line_size,
            buf: BytesMut::new(),
            lines: Vec::new(),
            line_start: 0,
            line_seen: 0,
            line_cut: false,
            cut_lines: 0,
            unsent: Vec::new(),
        }
    }

    fn in_line(&self) -> bool {
        self.line_seen > 0
    }

    /// Adds bytes of the line being read, keeping at most one byte beyond the limit: a `\r` there
    /// belongs to a `\r\n` line ending and is no reason to cut.
    fn append(&mut self, bytes: &[u8]) {
        self.line_seen += bytes.len();
        let kept = self.buf.len() - self.line_start;
        let room = (self.max_line_size + 1).saturating_sub(kept);
        let take = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..take]);
        self.line_cut |= take < bytes.len();
    }

    fn end_line(&mut self, newline: bool, truncated: &metrics::Counter) {
        let kept = self.buf.len() - self.line_start;
        let mut len = kept;
        if !self.line_cut && self.buf.last() == Some(&b'\r') && newline {
            len -= 1;
        }
        if len > self.max_line_size {
            len = self.max_line_size;
            self.line_cut = true;
        }
        if self.line_cut {
            truncated.increment(1);
            if self.cut_lines == 0 {
                tracing::warn!(
                    max_line_size = self.max_line_size,
                    line_size = self.line_seen,
                    "line longer than MaxLineSize cut; further cuts are only counted in input_truncated_lines_total"
                );
            }
            self.cut_lines += 1;
        }
        self.buf.truncate(self.line_start + len);
        self.buf.extend_from_slice(b"\n");
        self.lines.push(Line {
            start: self.line_start,
            end: self.line_start + len,
            raw_size: (self.line_seen + usize::from(newline)) as u64,
            timestamp: loong_api::model::now_nanos(),
        });
        self.line_start = self.buf.len();
        self.line_seen = 0;
        self.line_cut = false;
    }

    /// Sends the completed lines as one group. When the pipeline refuses it, their bytes go to
    /// `unsent` and the result is false.
    fn send(&mut self, collector: &Collector) -> bool {
        if self.lines.is_empty() {
            return true;
        }
        let chunk: Bytes = self.buf.split_to(self.line_start).freeze();
        self.line_start = 0;
        let events: Vec<PipelineEvent> = self
            .lines
            .drain(..)
            .map(|line| {
                let mut event = LogEvent::with_body(chunk.slice(line.start..line.end), line.timestamp);
                event.observed_timestamp = line.timestamp;
                event.raw_size = line.raw_size;
                event.into()
            })
            .collect();
        if collector.collect(GroupInfo::default(), events).is_err() {
            self.unsent.extend_from_slice(&chunk);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};
    use std::sync::Arc;

    use loong_api::{CollectorClosed, CollectorSink, PipelineGroupEvents};

    use super::*;

    const LIMITS: Limits = Limits {
        batch_size: 1024,
        max_line_size: 512 * 1024,
    };

    fn bodies(groups: &[PipelineGroupEvents]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                g.events
                    .iter()
                    .map(|e| String::from_utf8(e.as_log().unwrap().body().unwrap().to_vec()).unwrap())
                    .collect()
            })
            .collect()
    }

    fn read(reader: &mut impl BufRead, limits: Limits) -> (Finished, Vec<Vec<String>>) {
        let (collector, collected) = Collector::memory();
        let finished = read_lines(
            reader,
            limits,
            &collector,
            &Control::default(),
            &metrics::Counter::noop(),
        );
        (finished, bodies(&collected.to_array()))
    }

    /// Returns its chunks one `read` at a time, like a pipe written in bursts.
    struct Chunks(Vec<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let chunk = self.0.remove(0);
            assert!(chunk.len() <= out.len(), "test chunks fit the buffer");
            out[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn lines_lose_their_endings_and_keep_their_order() {
        let mut input: &[u8] = b"first\r\nsecond\n\n  spaced  \nlast without newline";
        let (finished, groups) = read(&mut input, LIMITS);
        assert!(matches!(finished.end, End::Eof), "{finished:?}");
        // The unfinished last line used up the buffer, so the lines before it went out before
        // the read that found the end of input.
        assert_eq!(
            groups,
            [vec!["first", "second", "", "  spaced  "], vec!["last without newline"]]
        );
        assert!(finished.unsent.is_empty());
    }

    #[test]
    fn events_record_their_raw_size_and_read_time() {
        let (collector, collected) = Collector::memory();
        let mut input: &[u8] = b"ab\r\ncd";
        read_lines(
            &mut input,
            LIMITS,
            &collector,
            &Control::default(),
            &metrics::Counter::noop(),
        );
        let groups = collected.to_array();
        let logs: Vec<_> = groups
            .iter()
            .flat_map(|g| &g.events)
            .map(|e| e.as_log().unwrap())
            .collect();
        assert_eq!(logs.iter().map(|l| l.raw_size).collect::<Vec<_>>(), [4, 2]);
        assert!(
            logs.iter()
                .all(|l| l.timestamp > 0 && l.observed_timestamp == l.timestamp)
        );
    }

    #[test]
    fn groups_hold_at_most_batch_size_lines() {
        let mut input: &[u8] = b"1\n2\n3\n4\n5\n";
        let (_, groups) = read(
            &mut input,
            Limits {
                batch_size: 2,
                ..LIMITS
            },
        );
        assert_eq!(groups, [vec!["1", "2"], vec!["3", "4"], vec!["5"]]);
    }

    #[test]
    fn lines_already_read_are_sent_before_waiting_for_more() {
        let mut input = BufReader::new(Chunks(vec![b"a\nb\n", b"c\nd\npar", b"tial\n"]));
        let (finished, groups) = read(&mut input, LIMITS);
        assert!(matches!(finished.end, End::Eof));
        assert_eq!(groups, [vec!["a", "b"], vec!["c", "d"], vec!["partial"]]);
    }

    #[test]
    fn long_lines_are_cut_and_counted_and_the_rest_skipped() {
        let mut input = BufReader::with_capacity(4, Chunks(vec![b"abcd", b"efgh", b"ij\nk", b"\n", b"1234", b"\r\n"]));
        let (finished, groups) = read(
            &mut input,
            Limits {
                max_line_size: 4,
                ..LIMITS
            },
        );
        assert_eq!(finished.cut_lines, 1);
        assert_eq!(groups.concat(), ["abcd", "k", "1234"]);
    }

    #[test]
    fn a_line_of_exactly_max_size_with_crlf_is_not_cut() {
        let mut input: &[u8] = b"12345\r\n123456\r\n";
        let (finished, groups) = read(
            &mut input,
            Limits {
                max_line_size: 5,
                ..LIMITS
            },
        );
        assert_eq!(groups.concat(), ["12345", "12345"]);
        assert_eq!(finished.cut_lines, 1);
    }

    /// Accepts `accept` groups, then refuses or asks the reader to stop.
    struct Gate {
        accept: usize,
        sent: std::sync::Mutex<Vec<PipelineGroupEvents>>,
        control: Arc<Control>,
        refuse: bool,
    }

    impl CollectorSink for Gate {
        fn send(&self, group: PipelineGroupEvents) -> Result<(), CollectorClosed> {
            let mut sent = self.sent.lock().unwrap();
            if sent.len() == self.accept {
                if self.refuse {
                    return Err(CollectorClosed);
                }
                self.control.stop.store(true, Ordering::Release);
            }
            sent.push(group);
            Ok(())
        }
    }

    fn gate(accept: usize, refuse: bool) -> (Arc<Gate>, Arc<Control>) {
        let control = Arc::new(Control::default());
        (
            Arc::new(Gate {
                accept,
                sent: Default::default(),
                control: control.clone(),
                refuse,
            }),
            control,
        )
    }

    #[test]
    fn stop_ends_at_a_line_boundary_and_hands_back_what_was_buffered() {
        let (sink, control) = gate(0, false);
        let collector = Collector::new(sink.clone());
        let mut input: &[u8] = b"a\nb\nc";
        let limits = Limits {
            batch_size: 1,
            ..LIMITS
        };
        let finished = read_lines(&mut input, limits, &collector, &control, &metrics::Counter::noop());
        assert!(matches!(finished.end, End::Stopped), "{finished:?}");
        assert_eq!(bodies(&sink.sent.lock().unwrap()), [["a"]]);
        assert_eq!(finished.unsent, b"b\nc");
    }

    #[test]
    fn a_refused_group_is_handed_back_with_the_rest() {
        let (sink, control) = gate(1, true);
        let collector = Collector::new(sink.clone());
        let mut input: &[u8] = b"a\nb\r\nc\nd";
        let limits = Limits {
            batch_size: 1,
            ..LIMITS
        };
        let finished = read_lines(&mut input, limits, &collector, &control, &metrics::Counter::noop());
        assert!(matches!(finished.end, End::Closed), "{finished:?}");
        assert_eq!(bodies(&sink.sent.lock().unwrap()), [["a"]]);
        assert_eq!(finished.unsent, b"b\nc\nd");
    }

    #[test]
    fn a_read_error_sends_what_was_read() {
        struct Broken(bool);
        impl Read for Broken {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(io::Error::other("device gone"));
                }
                out[..4].copy_from_slice(b"x\ny\n");
                Ok(4)
            }
        }
        let (finished, groups) = read(&mut BufReader::new(Broken(false)), LIMITS);
        assert!(
            matches!(finished.end, End::Failed(ref e) if e.to_string() == "device gone"),
            "{finished:?}"
        );
        assert_eq!(groups, [["x", "y"]]);
    }
}
