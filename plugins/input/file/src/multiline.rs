//! Multi-line records (LoongCollector's `Multiline` with `Mode: custom`).
//!
//! The patterns combine as in LoongCollector:
//! * start: a start line begins a record, which runs until the next start line;
//! * start + continue: a start line, then the lines matching continue;
//! * start + end: from a start line to an end line (both included);
//! * continue + end: lines matching continue, then an end line (a lone end line is a record too);
//! * end: everything up to an end line.
//!
//! Lines outside records are "unmatched": each becomes an event of its own, or is discarded. When
//! the data stops (flush timeout, end of a one-time read) the record in progress is sent; with an end
//! pattern it never saw its end line, so its lines count as unmatched.
//!
//! A record whose lines sit next to each other in one block is a slice of that block; only a record
//! spanning two blocks (or holding `\r\n` endings or cut lines) is copied into a buffer of its own.

use bytes::{Bytes, BytesMut};
use regex::bytes::Regex;

use crate::config::{MultilineMode, MultilineOptions, UnmatchedContentTreatment};
use crate::framer::{Line, LineSink};

/// Receives records (or single lines) in file order.
pub trait RecordSink {
    fn record(&mut self, record: Line<'_>);
    /// Lines up to file offset `end` were dropped on purpose.
    fn discard(&mut self, end: u64);
}

/// The compiled patterns.
#[derive(Debug, Clone)]
pub struct Patterns {
    start: Option<Regex>,
    cont: Option<Regex>,
    end: Option<Regex>,
    discard_unmatched: bool,
}

impl Patterns {
    /// Compiles the options; `Ok(None)` when they do not turn multi-line records on.
    pub fn compile(options: &MultilineOptions) -> anyhow::Result<Option<Patterns>> {
        if options.mode == MultilineMode::Json {
            anyhow::bail!("Multiline.Mode JSON is not supported; use custom with StartPattern/EndPattern");
        }
        let start = compile(&options.start_pattern, "Multiline.StartPattern")?;
        let mut cont = compile(&options.continue_pattern, "Multiline.ContinuePattern")?;
        let end = compile(&options.end_pattern, "Multiline.EndPattern")?;
        if start.is_none() && end.is_none() {
            if cont.is_some() {
                tracing::warn!("Multiline.ContinuePattern is set without StartPattern or EndPattern; multiline is off");
            }
            return Ok(None);
        }
        if start.is_some() && cont.is_some() && end.is_some() {
            tracing::warn!(
                "Multiline: StartPattern, ContinuePattern and EndPattern are all set; ContinuePattern is ignored"
            );
            cont = None;
        }
        Ok(Some(Patterns {
            start,
            cont,
            end,
            discard_unmatched: options.unmatched_content_treatment == UnmatchedContentTreatment::Discard,
        }))
    }
}

/// A pattern matches a whole line. As in LoongCollector a trailing `$` and trailing `.*` are
/// dropped first; a pattern that ended in `.*` then only has to match the beginning of the line
/// (same result, much faster). A pattern left empty (`.*`) is no pattern.
fn compile(pattern: &str, key: &str) -> anyhow::Result<Option<Regex>> {
    let mut p = pattern;
    if p.ends_with('$') && !escaped(p, p.len() - 1) {
        p = &p[..p.len() - 1];
    }
    let mut prefix = false;
    while p.ends_with(".*") && !escaped(p, p.len() - 2) {
        p = &p[..p.len() - 2];
        prefix = true;
    }
    if p.is_empty() {
        return Ok(None);
    }
    let full = if prefix {
        format!("^(?:{p})")
    } else {
        format!("^(?:{p})$")
    };
    Regex::new(&full)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{key}: invalid regular expression {pattern:?}: {e}"))
}

/// Whether the character at byte `i` of `p` is preceded by an odd number of backslashes.
fn escaped(p: &str, i: usize) -> bool {
    p.as_bytes()[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// A line of the record in progress.
#[derive(Debug, Clone)]
struct Held {
    buf: Bytes,
    start: usize,
    end: usize,
    offset: u64,
    raw_len: u64,
}

impl Held {
    fn of(line: &Line<'_>) -> Held {
        Held {
            buf: line.buf.clone(),
            start: line.start,
            end: line.end,
            offset: line.offset,
            raw_len: line.raw_len,
        }
    }

    fn as_line(&self) -> Line<'_> {
        Line {
            buf: &self.buf,
            start: self.start,
            end: self.end,
            offset: self.offset,
            raw_len: self.raw_len,
        }
    }
}

/// The state of one file's records.
#[derive(Debug)]
pub struct Matcher {
    p: Patterns,
    held: Vec<Held>,
    held_bytes: usize,
    in_record: bool,
    max_record: usize,
    /// Lines that were not part of a record, since last taken.
    unmatched: u64,
    /// Unmatched lines that were discarded, since last taken.
    discarded: u64,
}

impl Matcher {
    /// `max_record`: a record held longer than this is sent as it is (bounded memory).
    pub fn new(p: Patterns, max_record: usize) -> Self {
        let in_record = p.start.is_none() && p.cont.is_none();
        Matcher {
            p,
            held: Vec::new(),
            held_bytes: 0,
            in_record,
            max_record,
            unmatched: 0,
            discarded: 0,
        }
    }

    /// File offset of the first held line, if any.
    pub fn held_start(&self) -> Option<u64> {
        self.held.first().map(|h| h.offset)
    }

    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Takes the counts of unmatched and discarded lines.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.unmatched), std::mem::take(&mut self.discarded))
    }

    /// Forgets the record in progress.
    pub fn reset(&mut self) {
        self.held.clear();
        self.held_bytes = 0;
        self.in_record = self.p.start.is_none() && self.p.cont.is_none();
    }

    fn hold(&mut self, line: &Line<'_>) {
        self.held_bytes += line.end - line.start + 1;
        self.held.push(Held::of(line));
    }

    pub fn push<R: RecordSink>(&mut self, line: Line<'_>, sink: &mut R) {
        self.step(line, sink);
        if self.held_bytes > self.max_record {
            self.flush(sink);
        }
    }

    fn step<R: RecordSink>(&mut self, line: Line<'_>, sink: &mut R) {
        let text = line.text();
        let is = |re: &Option<Regex>| re.as_ref().is_some_and(|r| r.is_match(text));
        if !self.in_record {
            let begins = if self.p.start.is_some() {
                is(&self.p.start)
            } else {
                is(&self.p.cont)
            };
            if begins {
                self.hold(&line);
                self.in_record = true;
            } else if self.p.start.is_none() && is(&self.p.end) {
                // continue + end: an end line on its own is a record.
                sink.record(line);
            } else {
                self.unmatched_line(line, sink);
            }
            return;
        }
        if is(&self.p.cont) {
            self.hold(&line);
            return;
        }
        let (has_start, has_cont, has_end) = (self.p.start.is_some(), self.p.cont.is_some(), self.p.end.is_some());
        match (has_start, has_cont, has_end) {
            // continue + end: the record ends here, matched or not.
            (false, true, true) => {
                let matched = is(&self.p.end);
                self.hold(&line);
                if matched {
                    self.emit_record(sink);
                } else {
                    self.emit_unmatched(sink);
                }
                self.in_record = false;
            }
            // start + end, or end only: wait for the end line.
            (_, false, true) => {
                let matched = is(&self.p.end);
                self.hold(&line);
                if matched {
                    self.emit_record(sink);
                    self.in_record = !has_start;
                }
            }
            // start only: the next start line ends the record.
            (true, false, false) => {
                if is(&self.p.start) {
                    self.emit_record(sink);
                }
                self.hold(&line);
            }
            // start + continue: a line that does not continue ends the record.
            (true, true, false) => {
                self.emit_record(sink);
                if is(&self.p.start) {
                    self.hold(&line);
                } else {
                    self.in_record = false;
                    self.unmatched_line(line, sink);
                }
            }
            _ => unreachable!("compile() accepts no other combination"),
        }
    }

    /// The data stopped: send the record in progress (unmatched if it still waits for its end).
    pub fn flush<R: RecordSink>(&mut self, sink: &mut R) {
        if self.held.is_empty() {
            return;
        }
        if self.p.end.is_none() {
            self.emit_record(sink);
        } else {
            self.emit_unmatched(sink);
        }
        self.in_record = self.p.start.is_none() && self.p.cont.is_none();
    }

    fn unmatched_line<R: RecordSink>(&mut self, line: Line<'_>, sink: &mut R) {
        self.unmatched += 1;
        if self.p.discard_unmatched {
            self.discarded += 1;
            sink.discard(line.raw_end());
        } else {
            sink.record(line);
        }
    }

    fn emit_unmatched<R: RecordSink>(&mut self, sink: &mut R) {
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        for h in &held {
            self.unmatched_line(h.as_line(), sink);
        }
        self.held = held;
        self.held.clear();
    }

    fn emit_record<R: RecordSink>(&mut self, sink: &mut R) {
        let Some(first) = self.held.first() else { return };
        let last = self.held.last().expect("not empty");
        let raw_len = last.offset + last.raw_len - first.offset;
        let contiguous = self
            .held
            .windows(2)
            .all(|w| same_buffer(&w[0].buf, &w[1].buf) && w[0].end + 1 == w[1].start);
        if contiguous {
            sink.record(Line {
                buf: &first.buf,
                start: first.start,
                end: last.end,
                offset: first.offset,
                raw_len,
            });
        } else {
            let mut joined = BytesMut::with_capacity(self.held_bytes);
            for (i, h) in self.held.iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b"\n");
                }
                joined.extend_from_slice(&h.buf[h.start..h.end]);
            }
            let joined = joined.freeze();
            sink.record(Line {
                buf: &joined,
                start: 0,
                end: joined.len(),
                offset: first.offset,
                raw_len,
            });
        }
        self.held.clear();
        self.held_bytes = 0;
    }
}

fn same_buffer(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

/// Feeds lines to a matcher, or straight to the record sink when there is none.
pub struct Lines<'a, R> {
    pub matcher: Option<&'a mut Matcher>,
    pub sink: &'a mut R,
}

impl<R: RecordSink> LineSink for Lines<'_, R> {
    fn line(&mut self, line: Line<'_>) {
        match self.matcher.as_deref_mut() {
            Some(m) => m.push(line, self.sink),
            None => self.sink.record(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framer::Framer;

    #[derive(Default)]
    struct Records {
        out: Vec<(String, u64, u64)>,
        discarded_to: u64,
        ptrs: Vec<*const u8>,
    }

    impl RecordSink for Records {
        fn record(&mut self, r: Line<'_>) {
            self.ptrs.push(r.text().as_ptr());
            self.out
                .push((String::from_utf8_lossy(r.text()).into_owned(), r.offset, r.raw_len));
        }
        fn discard(&mut self, end: u64) {
            self.discarded_to = end;
        }
    }

    fn options(start: &str, cont: &str, end: &str, discard: bool) -> MultilineOptions {
        MultilineOptions {
            mode: MultilineMode::Custom,
            start_pattern: start.into(),
            continue_pattern: cont.into(),
            end_pattern: end.into(),
            unmatched_content_treatment: if discard {
                UnmatchedContentTreatment::Discard
            } else {
                UnmatchedContentTreatment::SingleLine
            },
        }
    }

    /// Runs `text` through a framer and matcher reading `step` bytes at a time, then flushes.
    fn run(opts: &MultilineOptions, text: &str, step: usize) -> (Vec<String>, Records, Matcher) {
        let mut matcher = Matcher::new(Patterns::compile(opts).unwrap().unwrap(), 1 << 20);
        let mut framer = Framer::new(0, 1 << 20, false);
        let mut records = Records::default();
        let mut src = text.as_bytes();
        loop {
            let mut lines = Lines {
                matcher: Some(&mut matcher),
                sink: &mut records,
            };
            if framer.read(&mut src, step, &mut lines).unwrap() == 0 {
                framer.flush_partial(&mut lines);
                break;
            }
        }
        matcher.flush(&mut records);
        let texts = records.out.iter().map(|r| r.0.clone()).collect();
        (texts, records, matcher)
    }

    const JAVA: &str = "\
[2024-01-01 10:00:00] INFO started
[2024-01-01 10:00:01] ERROR failed
java.lang.IllegalStateException: boom
\tat com.example.A.run(A.java:10)
\tat com.example.B.main(B.java:5)
[2024-01-01 10:00:02] INFO recovered
";

    #[test]
    fn start_pattern_groups_java_stack_traces() {
        let opts = options(r"\[\d+-\d+-\d+ \d+:\d+:\d+\].*", "", "", false);
        for step in [7, 64, 4096] {
            let (texts, records, _) = run(&opts, JAVA, step);
            assert_eq!(
                texts,
                [
                    "[2024-01-01 10:00:00] INFO started",
                    "[2024-01-01 10:00:01] ERROR failed\njava.lang.IllegalStateException: boom\n\tat com.example.A.run(A.java:10)\n\tat com.example.B.main(B.java:5)",
                    "[2024-01-01 10:00:02] INFO recovered",
                ],
                "step {step}"
            );
            // Offsets and raw sizes tile the file.
            let mut at = 0;
            for r in &records.out {
                assert_eq!(r.1, at);
                at += r.2;
            }
            assert_eq!(at, JAVA.len() as u64);
        }
    }

    #[test]
    fn a_record_within_one_block_is_not_copied() {
        let opts = options(r"\[.*", "", "", false);
        let mut matcher = Matcher::new(Patterns::compile(&opts).unwrap().unwrap(), 1 << 20);
        let mut framer = Framer::new(0, 1 << 20, false);
        let mut records = Records::default();
        let data = Bytes::from_static(JAVA.as_bytes());
        let mut src: &[u8] = &data;
        let mut lines = Lines {
            matcher: Some(&mut matcher),
            sink: &mut records,
        };
        framer.read(&mut src, 4096, &mut lines).unwrap();
        matcher.flush(&mut records);
        assert_eq!(records.out.len(), 3);
        // The second record starts right after the first one's line ending in the same block.
        let first_len = records.out[0].2 as usize;
        assert_eq!(unsafe { records.ptrs[0].add(first_len) }, records.ptrs[1]);
    }

    #[test]
    fn lines_before_the_first_start_are_unmatched() {
        let text = "orphan 1\norphan 2\nSTART a\nmore\n";
        let (texts, _, mut m) = run(&options("START.*", "", "", false), text, 64);
        assert_eq!(texts, ["orphan 1", "orphan 2", "START a\nmore"]);
        assert_eq!(m.take_counts(), (2, 0));
        let (texts, records, mut m) = run(&options("START.*", "", "", true), text, 64);
        assert_eq!(texts, ["START a\nmore"]);
        assert_eq!(records.discarded_to, 18);
        assert_eq!(m.take_counts(), (2, 2));
    }

    #[test]
    fn start_and_continue() {
        let text = "S1\n c1\n c2\nx\nS2\n c3\n";
        let (texts, _, _) = run(&options("S.*", r"\s.*", "", false), text, 64);
        assert_eq!(texts, ["S1\n c1\n c2", "x", "S2\n c3"]);
    }

    #[test]
    fn start_and_end() {
        let text = "junk\nBEGIN\nbody\nEND\nafter\nBEGIN\nunfinished\n";
        let (texts, _, _) = run(&options("BEGIN", "", "END", false), text, 64);
        // The unfinished record never saw its end: its lines are unmatched, one event each.
        assert_eq!(texts, ["junk", "BEGIN\nbody\nEND", "after", "BEGIN", "unfinished"]);
    }

    #[test]
    fn continue_and_end() {
        let text = "  a\n  b\nEND\nEND\nfree\n  c\nnot end\n";
        let (texts, _, _) = run(&options("", r"\s+.*", "END", false), text, 64);
        assert_eq!(texts, ["  a\n  b\nEND", "END", "free", "  c", "not end"]);
    }

    #[test]
    fn end_only() {
        let text = "a\nb\n... 3 more\nc\n... 1 more\nd\n";
        let (texts, _, _) = run(&options("", "", r".*\.\.\. \d+ more", false), text, 64);
        assert_eq!(texts, ["a\nb\n... 3 more", "c\n... 1 more", "d"]);
    }

    #[test]
    fn crlf_records_are_joined_with_lf() {
        let text = "S1\r\n c\r\nS2\r\n";
        let (texts, _, _) = run(&options("S.*", "", "", false), text, 64);
        assert_eq!(texts, ["S1\n c", "S2"]);
    }

    #[test]
    fn patterns_match_whole_lines() {
        let opts = options("ERROR", "", "", false);
        let (texts, _, _) = run(&opts, "ERROR\nERROR x\nERROR\n", 64);
        assert_eq!(texts, ["ERROR\nERROR x", "ERROR"]);
        assert!(compile(r"a\.*", "k").unwrap().unwrap().is_match(b"a..."));
        assert!(compile(".*", "k").unwrap().is_none());
        assert!(compile("x$", "k").unwrap().unwrap().is_match(b"x"));
        let err = Patterns::compile(&options("(", "", "", false)).unwrap_err();
        assert!(err.to_string().contains("Multiline.StartPattern"), "{err}");
    }

    #[test]
    fn options_that_do_not_turn_multiline_on() {
        assert!(Patterns::compile(&options("", "x", "", false)).unwrap().is_none());
        assert!(Patterns::compile(&MultilineOptions::default()).unwrap().is_none());
        let json = MultilineOptions {
            mode: MultilineMode::Json,
            ..options("x", "", "", false)
        };
        assert!(Patterns::compile(&json).is_err());
    }

    #[test]
    fn an_overlong_record_is_sent_as_it_is() {
        let mut m = Matcher::new(Patterns::compile(&options("S", "", "", false)).unwrap().unwrap(), 10);
        let mut framer = Framer::new(0, 100, false);
        let mut records = Records::default();
        let mut lines = Lines {
            matcher: Some(&mut m),
            sink: &mut records,
        };
        framer
            .read(&mut &b"S\n123456\n7890123\nS\n"[..], 64, &mut lines)
            .unwrap();
        assert_eq!(records.out[0].0, "S\n123456\n7890123");
    }
}
