//! Turns the bytes of a file into lines without copying them.
//!
//! Each read fills a fresh block. Complete lines are slices of that block once it is frozen, so an
//! event's `content` shares the block's memory. The incomplete line at the end of a block (usually
//! much shorter than a block) is the only thing copied: it is put at the front of the next block, so
//! the line it starts is contiguous there too.
//!
//! A line longer than the maximum is cut: its first `max_line` bytes are kept (in the block or, when
//! the line runs over blocks, as the "head") and the rest is skipped up to the next line ending.
//! Lines end at `\n`; a `\r` before it is dropped. For GBK files the complete lines of a block are
//! decoded to UTF-8 in one pass (pure ASCII text is not copied at all); offsets and sizes always
//! refer to the file's own bytes.

use std::io;

use bytes::{Bytes, BytesMut};

/// Bytes read from a file per block.
pub const BLOCK_SIZE: usize = 512 * 1024;

/// Where the framer reads from: a file, or memory in tests.
pub trait Source {
    /// Appends at most `max` bytes read at `offset` to `buf`; returns how many (0 at the end).
    fn read_at_into(&mut self, buf: &mut BytesMut, max: usize, offset: u64) -> io::Result<usize>;
}

impl Source for &[u8] {
    fn read_at_into(&mut self, buf: &mut BytesMut, max: usize, offset: u64) -> io::Result<usize> {
        let start = (offset as usize).min(self.len());
        let end = start.saturating_add(max).min(self.len());
        buf.extend_from_slice(&self[start..end]);
        Ok(end - start)
    }
}

impl Source for std::fs::File {
    #[cfg(unix)]
    fn read_at_into(&mut self, buf: &mut BytesMut, max: usize, offset: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        buf.reserve(max);
        let spare = buf.spare_capacity_mut();
        let len = max.min(spare.len());
        loop {
            // SAFETY: `spare` is writable memory of at least `len` bytes owned by `buf`; pread writes
            // at most `len` bytes into it, and only the bytes it reports written are marked as
            // initialised below. No reference to uninitialised memory is created.
            let n = unsafe {
                libc::pread(
                    self.as_raw_fd(),
                    spare.as_mut_ptr().cast::<libc::c_void>(),
                    len,
                    offset as libc::off_t,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            // SAFETY: pread initialised the first `n` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(n);
        }
    }

    #[cfg(not(unix))]
    fn read_at_into(&mut self, buf: &mut BytesMut, max: usize, offset: u64) -> io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let old = buf.len();
        buf.resize(old + max, 0);
        self.seek(SeekFrom::Start(offset))?;
        let n = loop {
            match self.read(&mut buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let n = n.inspect_err(|_| buf.truncate(old))?;
        buf.truncate(old + n);
        Ok(n)
    }
}

/// A complete line or record: `buf[start..end]`, without its line ending. `offset` and `raw_len`
/// locate the bytes it came from in the file (line ending included).
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub buf: &'a Bytes,
    pub start: usize,
    pub end: usize,
    pub offset: u64,
    pub raw_len: u64,
}

impl Line<'_> {
    pub fn text(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn content(&self) -> Bytes {
        self.buf.slice(self.start..self.end)
    }

    /// File offset just past this line.
    pub fn raw_end(&self) -> u64 {
        self.offset + self.raw_len
    }
}

/// Receives complete lines in file order.
pub trait LineSink {
    fn line(&mut self, line: Line<'_>);
}

/// Splits one file's bytes into lines, remembering the incomplete last line between reads.
#[derive(Debug)]
pub struct Framer {
    max_line: usize,
    gbk: bool,
    /// File offset of the next byte to read.
    pos: u64,
    /// The incomplete line read so far, or, while `skipping`, the kept head of an over-long line.
    carry: Bytes,
    /// File offset where the incomplete line starts.
    carry_start: u64,
    /// The current line is longer than `max_line`: its head is in `carry`, the rest is skipped.
    skipping: bool,
    /// Lines cut to `max_line` since the counter was last taken.
    truncated: u64,
    /// Lines produced since the counter was last taken.
    lines: u64,
}

impl Framer {
    pub fn new(pos: u64, max_line: usize, gbk: bool) -> Self {
        Framer {
            max_line: max_line.max(1),
            gbk,
            pos,
            carry: Bytes::new(),
            carry_start: pos,
            skipping: false,
            truncated: 0,
            lines: 0,
        }
    }

    /// File offset of the next byte to read.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// File offset of the first byte not yet handed out as part of a line.
    pub fn held_start(&self) -> u64 {
        self.carry_start
    }

    /// Whether bytes of an unfinished line are held.
    pub fn has_partial(&self) -> bool {
        self.carry_start < self.pos
    }

    /// Forgets the held bytes and continues at `pos`.
    pub fn reset(&mut self, pos: u64) {
        self.pos = pos;
        self.carry = Bytes::new();
        self.carry_start = pos;
        self.skipping = false;
    }

    /// Takes the number of lines cut and produced since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.lines), std::mem::take(&mut self.truncated))
    }

    /// Copies the held bytes out of the block they share, so that an idle file does not keep a
    /// whole block alive.
    pub fn compact(&mut self) {
        if !self.carry.is_empty() {
            self.carry = Bytes::copy_from_slice(&self.carry);
        }
    }

    /// Reads up to `want` bytes and hands every line they complete to `sink`. Returns the number of
    /// bytes read (0 at the end of the source).
    pub fn read<S: Source, K: LineSink>(&mut self, src: &mut S, want: usize, sink: &mut K) -> io::Result<usize> {
        let prefix = if self.skipping { 0 } else { self.carry.len() };
        let mut buf = BytesMut::with_capacity(prefix + want);
        if prefix > 0 {
            buf.extend_from_slice(&self.carry);
        }
        let n = src.read_at_into(&mut buf, want, self.pos)?;
        if n == 0 {
            return Ok(0);
        }
        let block_start = self.pos - prefix as u64;
        self.pos += n as u64;
        let block = buf.freeze();

        let mut from = 0;
        if self.skipping {
            let Some(i) = memchr::memchr(b'\n', &block) else {
                return Ok(n);
            };
            let head = std::mem::take(&mut self.carry);
            let raw_len = block_start + i as u64 + 1 - self.carry_start;
            self.truncated += 1;
            self.emit_owned(head, self.carry_start, raw_len, sink);
            self.skipping = false;
            from = i + 1;
        }
        // The carried bytes hold no line ending: search only the new ones.
        let search_from = from.max(prefix);
        let tail_start = match memchr::memrchr(b'\n', &block[search_from..]) {
            Some(i) => {
                let last = search_from + i;
                if self.gbk {
                    self.emit_gbk(&block, from, last, block_start, sink);
                } else {
                    self.emit_utf8(&block, from, search_from, last, block_start, sink);
                }
                last + 1
            }
            None => from,
        };
        self.carry_start = block_start + tail_start as u64;
        if block.len() - tail_start > self.max_line {
            self.carry = block.slice(tail_start..tail_start + self.max_line);
            self.skipping = true;
        } else {
            self.carry = block.slice(tail_start..);
        }
        Ok(n)
    }

    /// Hands the held incomplete line to `sink` as if it were complete (flush timeout, end of a
    /// one-time read, a truncated file). Returns whether there was one.
    pub fn flush_partial<K: LineSink>(&mut self, sink: &mut K) -> bool {
        if !self.has_partial() {
            return false;
        }
        let head = std::mem::take(&mut self.carry);
        let raw_len = self.pos - self.carry_start;
        if self.skipping {
            self.truncated += 1;
        }
        self.emit_owned(head, self.carry_start, raw_len, sink);
        self.skipping = false;
        self.carry_start = self.pos;
        true
    }

    /// Lines `block[from..=last]` (every one ends with `\n`); `search_from` is where line endings can
    /// first occur.
    fn emit_utf8<K: LineSink>(
        &mut self,
        block: &Bytes,
        from: usize,
        search_from: usize,
        last: usize,
        block_start: u64,
        sink: &mut K,
    ) {
        let mut start = from;
        for i in memchr::memchr_iter(b'\n', &block[search_from..=last]) {
            let nl = search_from + i;
            let mut end = nl;
            if end > start && block[end - 1] == b'\r' {
                end -= 1;
            }
            if end - start > self.max_line {
                end = start + utf8_floor(&block[start..], self.max_line);
                self.truncated += 1;
            }
            self.lines += 1;
            sink.line(Line {
                buf: block,
                start,
                end,
                offset: block_start + start as u64,
                raw_len: (nl + 1 - start) as u64,
            });
            start = nl + 1;
        }
    }

    /// GBK lines `block[from..=last]`: decoded in one pass, then walked side by side with the raw
    /// bytes (GBK never uses the byte `\n` inside a character, so both have the same line endings).
    fn emit_gbk<K: LineSink>(&mut self, block: &Bytes, from: usize, last: usize, block_start: u64, sink: &mut K) {
        let raw = &block[from..=last];
        let decoded = match encoding_rs::GBK.decode_without_bom_handling(raw).0 {
            std::borrow::Cow::Borrowed(_) => block.slice(from..=last),
            std::borrow::Cow::Owned(s) => Bytes::from(s),
        };
        let mut raw_start = 0;
        let mut start = 0;
        let mut raw_ends = memchr::memchr_iter(b'\n', raw);
        for nl in memchr::memchr_iter(b'\n', &decoded) {
            let Some(raw_nl) = raw_ends.next() else { break };
            let mut end = nl;
            if end > start && decoded[end - 1] == b'\r' {
                end -= 1;
            }
            if end - start > self.max_line {
                end = start + utf8_floor(&decoded[start..], self.max_line);
                self.truncated += 1;
            }
            self.lines += 1;
            sink.line(Line {
                buf: &decoded,
                start,
                end,
                offset: block_start + (from + raw_start) as u64,
                raw_len: (raw_nl + 1 - raw_start) as u64,
            });
            start = nl + 1;
            raw_start = raw_nl + 1;
        }
    }

    /// One line held outside a block (the head of a cut line, a flushed partial line).
    fn emit_owned<K: LineSink>(&mut self, text: Bytes, offset: u64, raw_len: u64, sink: &mut K) {
        let mut text = if self.gbk {
            match encoding_rs::GBK.decode_without_bom_handling(&text).0 {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(s) => Bytes::from(s),
            }
        } else {
            text
        };
        if text.last() == Some(&b'\r') {
            text.truncate(text.len() - 1);
        }
        if text.len() > self.max_line {
            text.truncate(utf8_floor(&text, self.max_line));
        }
        self.lines += 1;
        let end = text.len();
        sink.line(Line {
            buf: &text,
            start: 0,
            end,
            offset,
            raw_len,
        });
    }
}

/// The largest length ≤ `max` that does not split a UTF-8 character of `text` (looking back at most
/// 3 bytes; text that is not UTF-8 is cut at `max`).
fn utf8_floor(text: &[u8], max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    let mut cut = max;
    while cut > 0 && max - cut < 3 && (text[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if (text[cut] & 0xC0) == 0x80 { max } else { cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(String, u64, u64)>);

    impl LineSink for Collect {
        fn line(&mut self, line: Line<'_>) {
            self.0.push((
                String::from_utf8_lossy(line.text()).into_owned(),
                line.offset,
                line.raw_len,
            ));
        }
    }

    /// Frames `data` reading `step` bytes at a time; returns the lines and the framer.
    fn frame(data: &[u8], step: usize, max_line: usize, gbk: bool) -> (Vec<(String, u64, u64)>, Framer) {
        let mut framer = Framer::new(0, max_line, gbk);
        let mut sink = Collect::default();
        let mut src = data;
        while framer.read(&mut src, step, &mut sink).unwrap() > 0 {}
        (sink.0, framer)
    }

    fn texts(lines: &[(String, u64, u64)]) -> Vec<&str> {
        lines.iter().map(|l| l.0.as_str()).collect()
    }

    #[test]
    fn splits_lines_with_offsets_and_strips_cr() {
        let data = b"one\ntwo\r\n\nthree";
        for step in [1, 2, 3, 5, 64] {
            let (lines, framer) = frame(data, step, 100, false);
            assert_eq!(
                lines,
                [("one".into(), 0, 4), ("two".into(), 4, 5), (String::new(), 9, 1),],
                "step {step}"
            );
            assert_eq!(framer.held_start(), 10);
            assert_eq!(framer.pos(), 15);
            assert!(framer.has_partial());
        }
    }

    #[test]
    fn complete_lines_share_the_block() {
        let data = b"alpha\nbeta\n";
        let mut framer = Framer::new(0, 100, false);
        struct Ptrs(Vec<Bytes>);
        impl LineSink for Ptrs {
            fn line(&mut self, line: Line<'_>) {
                self.0.push(line.content());
            }
        }
        let mut sink = Ptrs(Vec::new());
        framer.read(&mut &data[..], 64, &mut sink).unwrap();
        let (a, b) = (&sink.0[0], &sink.0[1]);
        assert_eq!(&a[..], b"alpha");
        // `beta` starts right after `alpha\n` in the same allocation: no copy was made.
        assert_eq!(unsafe { a.as_ptr().add(6) }, b.as_ptr());
    }

    #[test]
    fn a_partial_line_is_held_until_complete_or_flushed() {
        let mut framer = Framer::new(0, 100, false);
        let mut sink = Collect::default();
        framer.read(&mut &b"par"[..], 64, &mut sink).unwrap();
        assert!(sink.0.is_empty());
        let mut src: &[u8] = b"partial\nnext";
        framer.read(&mut src, 64, &mut sink).unwrap();
        assert_eq!(sink.0, [("partial".into(), 0, 8)]);
        assert!(framer.flush_partial(&mut sink));
        assert_eq!(sink.0[1], ("next".into(), 8, 4));
        assert!(!framer.has_partial());
        assert!(!framer.flush_partial(&mut sink));
    }

    #[test]
    fn long_lines_are_cut_and_counted_and_nothing_else_is_lost() {
        let long = "x".repeat(1000);
        let data = format!("a\n{long}\nb\n{long}");
        for step in [7, 100, 4096] {
            let (lines, mut framer) = frame(data.as_bytes(), step, 10, false);
            assert_eq!(texts(&lines), ["a", "xxxxxxxxxx", "b"], "step {step}");
            assert_eq!(lines[1].1, 2);
            assert_eq!(lines[1].2, 1001);
            assert_eq!(lines[2].1, 1003);
            let mut sink = Collect::default();
            assert!(framer.flush_partial(&mut sink));
            assert_eq!(sink.0, [("xxxxxxxxxx".into(), 1005, 1000)]);
            assert_eq!(framer.take_counts(), (4, 2));
        }
    }

    #[test]
    fn cuts_do_not_split_utf8_characters() {
        let data = "ééééé\n".as_bytes(); // 10 bytes of text
        let (lines, _) = frame(data, 64, 5, false);
        assert_eq!(texts(&lines), ["éé"]);
        assert_eq!(utf8_floor(b"abc", 2), 2);
        assert_eq!(utf8_floor(&[0x80, 0x80, 0x80, 0x80, 0x80], 4), 4);
    }

    #[test]
    fn gbk_is_decoded_with_raw_offsets() {
        let (gbk, _, _) = encoding_rs::GBK.encode("你好\r\nascii\n世界");
        for step in [1, 3, 64] {
            let (lines, mut framer) = frame(&gbk, step, 100, true);
            assert_eq!(lines, [("你好".into(), 0, 6), ("ascii".into(), 6, 6)], "step {step}");
            let mut sink = Collect::default();
            framer.flush_partial(&mut sink);
            assert_eq!(sink.0, [("世界".into(), 12, 4)]);
        }
    }

    #[test]
    fn gbk_long_lines_are_cut_on_characters() {
        let (gbk, _, _) = encoding_rs::GBK.encode("你好世界\n");
        let (lines, _) = frame(&gbk, 64, 7, true);
        // 12 bytes of UTF-8; 7 keeps two characters.
        assert_eq!(texts(&lines), ["你好"]);
        assert_eq!(lines[0].2, 9);
    }

    #[test]
    fn reset_forgets_held_bytes() {
        let mut framer = Framer::new(0, 100, false);
        let mut sink = Collect::default();
        framer.read(&mut &b"abc"[..], 64, &mut sink).unwrap();
        framer.reset(0);
        assert!(!framer.has_partial());
        framer.read(&mut &b"xy\n"[..], 64, &mut sink).unwrap();
        assert_eq!(sink.0, [("xy".into(), 0, 3)]);
    }
}
