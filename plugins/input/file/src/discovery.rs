//! Which files to collect: `FilePaths` globs, `MaxDirSearchDepth` and the three exclusions.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};
use globset::{GlobBuilder, GlobMatcher};

fn glob(pattern: &str) -> anyhow::Result<GlobMatcher> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(cfg!(unix))
        .build()
        .with_context(|| format!("invalid pattern {pattern:?}"))?
        .compile_matcher())
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// One directory level of a path pattern.
#[derive(Debug, Clone)]
enum Level {
    Literal(String),
    Glob(GlobMatcher),
}

impl Level {
    fn matches(&self, name: &OsStr) -> bool {
        match self {
            Level::Literal(l) => name == OsStr::new(l),
            Level::Glob(g) => g.is_match(name),
        }
    }
}

/// One entry of `FilePaths`: a literal base directory, directory levels that may hold wildcards, an
/// optional `**`, and the file name pattern.
#[derive(Debug, Clone)]
pub struct PathPattern {
    text: String,
    base: PathBuf,
    levels: Vec<Level>,
    recursive: bool,
    file: GlobMatcher,
}

impl PathPattern {
    pub fn parse(text: &str) -> anyhow::Result<PathPattern> {
        let path = Path::new(text);
        if !path.is_absolute() {
            bail!("FilePaths: {text:?} is not an absolute path");
        }
        let mut base = PathBuf::new();
        let mut names: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => names.push(n.to_string_lossy().into_owned()),
                Component::ParentDir | Component::CurDir => bail!("FilePaths: {text:?} may not contain . or .."),
                other => base.push(other.as_os_str()),
            }
        }
        let Some(file) = names.pop() else {
            bail!("FilePaths: {text:?} names no file");
        };
        if file.contains("**") {
            bail!("FilePaths: {text:?}: ** must be a directory level right before the file name");
        }
        let mut recursive = false;
        if names.last().is_some_and(|n| n == "**") {
            names.pop();
            recursive = true;
        }
        if names.iter().any(|n| n.contains("**")) {
            bail!("FilePaths: {text:?}: ** may appear once, as the directory level right before the file name");
        }
        let mut levels = Vec::new();
        for n in names {
            if levels.is_empty() && !has_wildcard(&n) {
                base.push(n);
            } else if has_wildcard(&n) {
                levels.push(Level::Glob(glob(&n)?));
            } else {
                levels.push(Level::Literal(n));
            }
        }
        Ok(PathPattern {
            text: text.to_owned(),
            base,
            levels,
            recursive,
            file: glob(&file)?,
        })
    }

    /// Whether `path` is matched by this pattern (depth limit included; exclusions not).
    pub fn matches(&self, path: &Path, max_depth: u32) -> bool {
        let Ok(rest) = path.strip_prefix(&self.base) else {
            return false;
        };
        let names: Vec<&OsStr> = rest.iter().collect();
        let Some((file, dirs)) = names.split_last() else {
            return false;
        };
        if !self.file.is_match(file) || dirs.len() < self.levels.len() {
            return false;
        }
        let (fixed, below) = dirs.split_at(self.levels.len());
        if !self.levels.iter().zip(fixed).all(|(l, n)| l.matches(n)) {
            return false;
        }
        if self.recursive {
            below.len() <= max_depth as usize
        } else {
            below.is_empty()
        }
    }
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `ExcludeFilePaths`, `ExcludeFiles`, `ExcludeDirs`.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    file_paths: Vec<GlobMatcher>,
    files: Vec<GlobMatcher>,
    dirs: Vec<GlobMatcher>,
}

impl Exclusions {
    pub fn new(file_paths: &[String], files: &[String], dirs: &[String]) -> anyhow::Result<Exclusions> {
        let absolute = |key: &str, list: &[String]| -> anyhow::Result<Vec<GlobMatcher>> {
            list.iter()
                .map(|p| {
                    if !Path::new(p).is_absolute() {
                        bail!("{key}: {p:?} is not an absolute path");
                    }
                    glob(p).with_context(|| key.to_owned())
                })
                .collect()
        };
        Ok(Exclusions {
            file_paths: absolute("ExcludeFilePaths", file_paths)?,
            files: files
                .iter()
                .map(|p| glob(p).context("ExcludeFiles"))
                .collect::<anyhow::Result<_>>()?,
            dirs: absolute("ExcludeDirs", dirs)?,
        })
    }

    /// Whether the directory `dir` or one of the directories above it is excluded.
    pub fn dir_excluded(&self, dir: &Path) -> bool {
        !self.dirs.is_empty() && dir.ancestors().any(|d| self.dirs.iter().any(|g| g.is_match(d)))
    }

    /// Whether the file is excluded by its path or name (its directories are checked separately).
    pub fn file_excluded(&self, path: &Path) -> bool {
        self.file_paths.iter().any(|g| g.is_match(path))
            || path
                .file_name()
                .is_some_and(|n| self.files.iter().any(|g| g.is_match(n)))
    }

    pub fn excluded(&self, path: &Path) -> bool {
        self.file_excluded(path) || path.parent().is_some_and(|d| self.dir_excluded(d))
    }
}

/// The compiled `FilePaths` with depth and exclusions.
#[derive(Debug, Clone)]
pub struct Discovery {
    patterns: Vec<PathPattern>,
    max_depth: u32,
    exclusions: Exclusions,
}

/// What one scan found.
#[derive(Debug, Default)]
pub struct Found {
    /// Matched regular files, sorted, without duplicates.
    pub files: Vec<PathBuf>,
    /// Every directory listed, to watch for changes.
    pub dirs: BTreeSet<PathBuf>,
}

impl Discovery {
    pub fn new(patterns: Vec<PathPattern>, max_depth: u32, exclusions: Exclusions) -> Discovery {
        Discovery {
            patterns,
            max_depth: max_depth.min(1000),
            exclusions,
        }
    }

    /// Whether `path` is one of the files to collect (by name; not checked on disk).
    pub fn matches(&self, path: &Path) -> bool {
        self.patterns.iter().any(|p| p.matches(path, self.max_depth)) && !self.exclusions.excluded(path)
    }

    /// Lists the matching files on disk now.
    pub fn scan(&self) -> Found {
        let mut found = Found::default();
        let mut files = BTreeSet::new();
        for p in &self.patterns {
            self.walk(p, &p.base, 0, &mut files, &mut found.dirs);
        }
        found.files = files.into_iter().collect();
        found
    }

    /// `dir` matched the pattern's first `level` directory levels.
    fn walk(
        &self,
        p: &PathPattern,
        dir: &Path,
        level: usize,
        files: &mut BTreeSet<PathBuf>,
        dirs: &mut BTreeSet<PathBuf>,
    ) {
        if self.exclusions.dir_excluded(dir) {
            return;
        }
        if level < p.levels.len() {
            match &p.levels[level] {
                Level::Literal(name) => {
                    let next = dir.join(name);
                    if next.is_dir() {
                        self.walk(p, &next, level + 1, files, dirs);
                    }
                }
                Level::Glob(g) => {
                    for (path, is_dir) in list(dir, dirs) {
                        if is_dir && path.file_name().is_some_and(|n| g.is_match(n)) {
                            self.walk(p, &path, level + 1, files, dirs);
                        }
                    }
                }
            }
            return;
        }
        self.collect(p, dir, 0, files, dirs);
    }

    /// `dir` is `depth` levels below the pattern's last fixed level.
    fn collect(
        &self,
        p: &PathPattern,
        dir: &Path,
        depth: u32,
        files: &mut BTreeSet<PathBuf>,
        dirs: &mut BTreeSet<PathBuf>,
    ) {
        for (path, is_dir) in list(dir, dirs) {
            if is_dir {
                if p.recursive && depth < self.max_depth && !self.exclusions.dir_excluded(&path) {
                    self.collect(p, &path, depth + 1, files, dirs);
                }
            } else if path.file_name().is_some_and(|n| p.file.is_match(n)) && !self.exclusions.file_excluded(&path) {
                files.insert(path);
            }
        }
    }
}

/// The entries of `dir` (following symbolic links) as (path, is a directory); regular files and
/// directories only.
fn list(dir: &Path, dirs: &mut BTreeSet<PathBuf>) -> Vec<(PathBuf, bool)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    dirs.insert(dir.to_path_buf());
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path();
            let ft = e.file_type().ok()?;
            let (is_dir, is_file) = if ft.is_symlink() {
                let meta = std::fs::metadata(&path).ok()?;
                (meta.is_dir(), meta.is_file())
            } else {
                (ft.is_dir(), ft.is_file())
            };
            (is_dir || is_file).then_some((path, is_dir))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) -> PathBuf {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x\n").unwrap();
        p
    }

    fn names(root: &Path, found: &Found) -> Vec<String> {
        found
            .files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"))
            .collect()
    }

    fn discovery(patterns: &[String], depth: u32, excl: Exclusions) -> Discovery {
        Discovery::new(
            patterns.iter().map(|p| PathPattern::parse(p).unwrap()).collect(),
            depth,
            excl,
        )
    }

    #[test]
    fn double_star_is_limited_by_depth() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["a.log", "x/b.log", "x/y/c.log", "x/y/z/d.log", "x/y/z/e.txt"] {
            touch(root, f);
        }
        let pattern = format!("{}/**/*.log", root.display());
        let found = |depth| {
            names(
                root,
                &discovery(std::slice::from_ref(&pattern), depth, Exclusions::default()).scan(),
            )
        };
        assert_eq!(found(0), ["a.log"]);
        assert_eq!(found(1), ["a.log", "x/b.log"]);
        assert_eq!(found(10), ["a.log", "x/b.log", "x/y/c.log", "x/y/z/d.log"]);
        let d = discovery(std::slice::from_ref(&pattern), 1, Exclusions::default());
        assert!(d.matches(&root.join("x/b.log")));
        assert!(!d.matches(&root.join("x/y/c.log")));
        assert!(!d.matches(&root.join("x/b.txt")));
    }

    #[test]
    fn wildcard_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "app1/logs/a.log",
            "app2/logs/b.log",
            "app2/other/c.log",
            "web/logs/d.log",
        ] {
            touch(root, f);
        }
        let d = discovery(
            &[format!("{}/app?/logs/*.log", root.display())],
            0,
            Exclusions::default(),
        );
        let found = d.scan();
        assert_eq!(names(root, &found), ["app1/logs/a.log", "app2/logs/b.log"]);
        assert!(found.dirs.contains(&root.join("app1/logs")));
        assert!(d.matches(&root.join("app9/logs/new.log")));
        assert!(!d.matches(&root.join("app9/other/new.log")));
    }

    #[test]
    fn the_three_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "keep.log",
            "skip.log",
            "debug-1.log",
            "tmp/a.log",
            "tmp/deep/b.log",
            "sub/c.log",
        ] {
            touch(root, f);
        }
        let excl = Exclusions::new(
            &[format!("{}/skip.log", root.display())],
            &["debug-*.log".into()],
            &[format!("{}/tm*", root.display())],
        )
        .unwrap();
        let d = discovery(&[format!("{}/**/*.log", root.display())], 5, excl);
        assert_eq!(names(root, &d.scan()), ["keep.log", "sub/c.log"]);
        assert!(!d.matches(&root.join("tmp/deep/new.log")));
        assert!(d.matches(&root.join("sub/new.log")));
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        for (p, why) in [
            ("relative/*.log", "absolute"),
            ("/a/**/b/*.log", "once"),
            ("/a/**", "right before"),
            ("/a/../b.log", ". or .."),
        ] {
            let err = PathPattern::parse(p).unwrap_err().to_string();
            assert!(err.contains(why), "{p}: {err}");
        }
        assert!(Exclusions::new(&["rel".into()], &[], &[]).is_err());
        assert!(Exclusions::new(&[], &[], &["rel".into()]).is_err());
    }

    #[test]
    fn a_missing_base_finds_nothing() {
        let d = discovery(&["/definitely/not/here/*.log".into()], 0, Exclusions::default());
        let found = d.scan();
        assert!(found.files.is_empty() && found.dirs.is_empty());
    }
}
