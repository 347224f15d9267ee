//! Where lines go: standard output, a file rolled by size, or the agent's log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes of standard output kept before a write: a batch's lines go out together, under one lock,
/// so they are not interleaved with other output of the process.
const STDOUT_BUFFER: usize = 64 * 1024;

pub enum Output {
    /// Lines waiting for the next flush of standard output. `StdoutLock` is not `Send`, so the lock
    /// is taken per write rather than held by the flusher.
    Stdout(Vec<u8>),
    File(RollingFile),
    /// Through `tracing`, target `flusher_stdout`: where LoongCollector sends them when neither
    /// `OnlyStdout` nor `FileName` is set (its own log).
    Log,
}

impl Output {
    pub fn stdout() -> Self {
        Output::Stdout(Vec::with_capacity(STDOUT_BUFFER))
    }

    /// Writes one line (given without its newline; always valid UTF-8, as rendered JSON is).
    pub fn line(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(buf) => {
                buf.extend_from_slice(line);
                buf.push(b'\n');
                if buf.len() >= STDOUT_BUFFER {
                    write_stdout(buf)?;
                }
                Ok(())
            }
            Output::File(f) => f.line(line),
            Output::Log => {
                let line = String::from_utf8_lossy(line);
                tracing::info!(target: "flusher_stdout", "{line}");
                Ok(())
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(buf) => write_stdout(buf),
            Output::File(f) => f.out.flush(),
            Output::Log => Ok(()),
        }
    }
}

fn write_stdout(buf: &mut Vec<u8>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let result = out.write_all(buf).and_then(|()| out.flush());
    // Dropped even on error: the runner retries the whole batch, which renders the lines again.
    buf.clear();
    result
}

/// A file renamed to `name.1` once it would exceed `max_size` bytes (older rolls shift to `.2`, …,
/// the one past `max_rolls` is deleted), like the size-rolling file LoongCollector's seelog writes.
pub struct RollingFile {
    path: PathBuf,
    max_size: u64,
    max_rolls: u32,
    size: u64,
    out: BufWriter<File>,
}

impl RollingFile {
    /// Opens `path` for appending (creating its directory), counting what it already holds.
    pub fn open(path: &Path, max_size: u64, max_rolls: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RollingFile {
            path: path.to_owned(),
            max_size,
            max_rolls,
            size,
            out: BufWriter::new(file),
        })
    }

    fn rolled(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        // A line longer than max_size still goes into a file of its own rather than being lost.
        if self.size > 0 && self.size + len > self.max_size {
            self.roll()?;
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        self.out.flush()?;
        match fs::remove_file(self.rolled(self.max_rolls)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..self.max_rolls).rev() {
            let from = self.rolled(n);
            if from.exists() {
                fs::rename(&from, self.rolled(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rolled(1))?;
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.out = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }
}
