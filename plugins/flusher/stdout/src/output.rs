//! Where lines go: standard output, a file rolled by size, or the agent's log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File(RollingFile),
    Log,
}

impl Output {
    /// Writes one line (without its newline).
    pub fn line(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(w) => {
                w.write_all(line)?;
                w.write_all(b"\n")
            }
            Output::File(f) => f.line(line),
            Output::Log => {
                tracing::info!(target: "flusher_stdout", "{}", String::from_utf8_lossy(line));
                Ok(())
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.out.flush(),
            Output::Log => Ok(()),
        }
    }
}

/// A file that is renamed to `name.1` (shifting older rolls up, dropping the oldest) once it would
/// exceed `max_size`, as LoongCollector's size-rolling file does.
pub struct RollingFile {
    path: PathBuf,
    max_size: u64,
    max_rolls: u32,
    size: u64,
    out: BufWriter<File>,
}

impl RollingFile {
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
        let _ = fs::remove_file(self.rolled(self.max_rolls));
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
