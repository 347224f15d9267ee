//! `plugins.yml` → `plugins/all`: the crate that links in and registers every listed plugin.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The first line of every generated file.
const HEADER: &str = "Generated from plugins.yml by `cargo xtask gen-plugins`. Do not edit by hand.";

/// Where the generated crate lives, relative to the workspace root.
const ALL_DIR: &str = "plugins/all";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Common,
    Linux,
    Windows,
    Debug,
}

impl Section {
    pub const ALL: [Section; 4] = [Section::Common, Section::Linux, Section::Windows, Section::Debug];

    pub fn name(self) -> &'static str {
        match self {
            Section::Common => "common",
            Section::Linux => "linux",
            Section::Windows => "windows",
            Section::Debug => "debug",
        }
    }

    /// The Cargo.toml table the section's crates go in. Debug plugins are ordinary dependencies:
    /// `plugins/all/src/lib.rs` gates only their registration, so a release build with the
    /// `debug-plugins` feature needs no other dependency list.
    fn dependency_table(self) -> &'static str {
        match self {
            Section::Common | Section::Debug => "dependencies",
            Section::Linux => "target.'cfg(target_os = \"linux\")'.dependencies",
            Section::Windows => "target.'cfg(windows)'.dependencies",
        }
    }
}

/// The file as written; a section may be missing or empty.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginsFile {
    common: Option<Vec<String>>,
    linux: Option<Vec<String>>,
    windows: Option<Vec<String>>,
    debug: Option<Vec<String>>,
}

/// One listed plugin crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    pub section: Section,
    /// Folder relative to the workspace root, as `plugins/input/mock`.
    pub folder: String,
    /// Cargo package name, as `loong-input-mock`.
    pub package: String,
}

impl Plugin {
    fn crate_name(&self) -> String {
        self.package.replace('-', "_")
    }
}

/// Parses `plugins.yml`: the listed folders by section, in order, without duplicates.
pub fn parse(text: &str) -> anyhow::Result<Vec<(Section, String)>> {
    let file: PluginsFile = serde_yaml_ng::from_str(text).context("plugins.yml")?;
    let lists = [file.common, file.linux, file.windows, file.debug];
    let mut seen: HashMap<String, Section> = HashMap::new();
    let mut out = Vec::new();
    for (section, list) in Section::ALL.into_iter().zip(lists) {
        for entry in list.unwrap_or_default() {
            let folder = normalize(&entry).with_context(|| format!("plugins.yml: {}: {entry:?}", section.name()))?;
            if let Some(first) = seen.insert(folder.clone(), section) {
                bail!(
                    "plugins.yml: {folder} is listed twice (in {} and in {})",
                    first.name(),
                    section.name()
                );
            }
            out.push((section, folder));
        }
    }
    Ok(out)
}

/// `./plugins/input/mock/` → `plugins/input/mock`. Only plain relative paths inside the workspace.
fn normalize(entry: &str) -> anyhow::Result<String> {
    let path = Path::new(entry.trim());
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().context("not UTF-8")?),
            Component::CurDir => {}
            _ => bail!("a plugin folder must be a path relative to the workspace root, without `..`"),
        }
    }
    if parts.is_empty() {
        bail!("empty plugin folder");
    }
    Ok(parts.join("/"))
}

/// The `name` of the `[package]` table.
pub fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if in_package && key.trim() == "name" {
            let value = value.split('#').next().unwrap_or_default().trim();
            return value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}

/// Reads `plugins.yml` and the package name of every listed folder.
pub fn load(root: &Path) -> anyhow::Result<Vec<Plugin>> {
    let text = std::fs::read_to_string(root.join("plugins.yml")).context("read plugins.yml")?;
    let mut packages: HashMap<String, String> = HashMap::new();
    let mut plugins = Vec::new();
    for (section, folder) in parse(&text)? {
        let manifest = root.join(&folder).join("Cargo.toml");
        let Ok(cargo_toml) = std::fs::read_to_string(&manifest) else {
            bail!(
                "plugins.yml: {}: {folder} has no Cargo.toml (expected {})",
                section.name(),
                manifest.display()
            );
        };
        let Some(package) = package_name(&cargo_toml) else {
            bail!("{folder}/Cargo.toml has no [package] name");
        };
        if let Some(other) = packages.insert(package.clone(), folder.clone()) {
            bail!("plugins.yml: {other} and {folder} are both package {package}");
        }
        plugins.push(Plugin {
            section,
            folder,
            package,
        });
    }
    Ok(plugins)
}

/// Every generated file: path relative to the workspace root, contents.
pub fn render(plugins: &[Plugin]) -> Vec<(String, String)> {
    let mut files = vec![(format!("{ALL_DIR}/Cargo.toml"), render_manifest(plugins))];
    for section in Section::ALL {
        files.push((
            format!("{ALL_DIR}/src/{}.rs", section.name()),
            render_section(section, plugins),
        ));
    }
    files
}

fn render_manifest(plugins: &[Plugin]) -> String {
    let mut out = format!(
        "# {HEADER}
[package]
name = \"loong-plugins-all\"
description = \"Links in and registers every plugin listed in plugins.yml\"
version.workspace = true
edition.workspace = true
license.workspace = true

[features]
# Registers the `debug` section's plugins in release builds too (debug builds always do).
debug-plugins = []
"
    );
    let mut tables: Vec<(&str, Vec<String>)> = Vec::new();
    for section in Section::ALL {
        let table = section.dependency_table();
        let lines: Vec<String> = plugins
            .iter()
            .filter(|p| p.section == section)
            .map(|p| format!("{} = {{ path = \"../../{}\" }}", p.package, p.folder))
            .collect();
        match tables.iter_mut().find(|(t, _)| *t == table) {
            Some((_, existing)) => existing.extend(lines),
            None => tables.push((table, lines)),
        }
    }
    for (table, mut lines) in tables {
        if table == "dependencies" {
            lines.push("loong-api.workspace = true".to_owned());
        } else if lines.is_empty() {
            continue;
        }
        lines.sort();
        let _ = write!(out, "\n[{table}]\n{}\n", lines.join("\n"));
    }
    out
}

fn render_section(section: Section, plugins: &[Plugin]) -> String {
    let calls: Vec<String> = plugins
        .iter()
        .filter(|p| p.section == section)
        .map(|p| format!("    {}::register(registry);\n", p.crate_name()))
        .collect();
    let doc = format!(
        "/// Registers the plugins of the `{}` section of plugins.yml.",
        section.name()
    );
    if calls.is_empty() {
        format!("// {HEADER}\n\n{doc}\npub fn register(_registry: &mut loong_api::Registry) {{}}\n")
    } else {
        format!(
            "// {HEADER}\n\n{doc}\npub fn register(registry: &mut loong_api::Registry) {{\n{}}}\n",
            calls.concat()
        )
    }
}

/// Writes the generated files that differ from what `plugins.yml` gives.
pub fn generate(root: &Path) -> anyhow::Result<()> {
    for (path, contents) in render(&load(root)?) {
        let full = root.join(&path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(contents.as_str()) {
            continue;
        }
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(&full, contents).with_context(|| format!("write {path}"))?;
        println!("wrote {path}");
    }
    Ok(())
}

/// Fails, naming every stale file, when the generated files differ from what `plugins.yml` gives.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let stale: Vec<String> = render(&load(root)?)
        .into_iter()
        .filter(|(path, contents)| std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(contents.as_str()))
        .map(|(path, _)| path)
        .collect();
    if !stale.is_empty() {
        bail!(
            "{} out of date with plugins.yml: run `cargo xtask gen-plugins`",
            stale.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(section: Section, folder: &str, package: &str) -> Plugin {
        Plugin {
            section,
            folder: folder.to_owned(),
            package: package.to_owned(),
        }
    }

    #[test]
    fn parses_sections_in_order_and_normalizes_folders() {
        let parsed =
            parse("common: [plugins/input/mock, ./plugins/flusher/stdout/]\nlinux:\ndebug: [plugins/x]\n").unwrap();
        assert_eq!(
            parsed,
            [
                (Section::Common, "plugins/input/mock".to_owned()),
                (Section::Common, "plugins/flusher/stdout".to_owned()),
                (Section::Debug, "plugins/x".to_owned()),
            ]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn rejects_unknown_sections_duplicates_and_escaping_paths() {
        let err = parse("common: []\nmacos: [plugins/a]\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `macos`, expected one of `common`"),
            "{err:#}"
        );
        let err = parse("common: [plugins/a]\ndebug: [plugins/a/]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugins.yml: plugins/a is listed twice (in common and in debug)"
        );
        let err = parse("common: [../elsewhere]\n").unwrap_err();
        assert!(format!("{err:#}").contains("without `..`"), "{err:#}");
        let err = parse("common: [/abs/path]\n").unwrap_err();
        assert!(format!("{err:#}").contains("relative"), "{err:#}");
    }

    #[test]
    fn reads_the_package_name_only_from_the_package_table() {
        let toml = "[lib]\nname = \"other\"\n\n[package]\nversion.workspace = true\nname = \"loong-input-mock\" # c\n";
        assert_eq!(package_name(toml).as_deref(), Some("loong-input-mock"));
        assert_eq!(package_name("[workspace]\nmembers = []\n"), None);
    }

    #[test]
    fn renders_the_manifest_with_target_tables_and_sorted_dependencies() {
        let manifest = render_manifest(&[
            plugin(Section::Common, "plugins/input/stdin", "loong-input-stdin"),
            plugin(Section::Common, "plugins/flusher/stdout", "loong-flusher-stdout"),
            plugin(Section::Linux, "plugins/input/journal", "loong-input-journal"),
            plugin(Section::Debug, "plugins/flusher/checker", "loong-flusher-checker"),
        ]);
        assert!(
            manifest.starts_with("# Generated from plugins.yml by `cargo xtask gen-plugins`."),
            "{manifest}"
        );
        let dependencies = "\n[dependencies]\nloong-api.workspace = true\n\
            loong-flusher-checker = { path = \"../../plugins/flusher/checker\" }\n\
            loong-flusher-stdout = { path = \"../../plugins/flusher/stdout\" }\n\
            loong-input-stdin = { path = \"../../plugins/input/stdin\" }\n";
        assert!(manifest.contains(dependencies), "{manifest}");
        assert!(
            manifest.ends_with(
                "\n[target.'cfg(target_os = \"linux\")'.dependencies]\n\
                 loong-input-journal = { path = \"../../plugins/input/journal\" }\n"
            ),
            "{manifest}"
        );
        assert!(
            !manifest.contains("cfg(windows)"),
            "an empty section adds no table:\n{manifest}"
        );
        assert!(manifest.contains("\n[features]\n"), "{manifest}");
        assert!(manifest.contains("\ndebug-plugins = []\n"), "{manifest}");
    }

    #[test]
    fn renders_one_register_function_per_section_in_listed_order() {
        let plugins = [
            plugin(Section::Common, "plugins/input/stdin", "loong-input-stdin"),
            plugin(Section::Common, "plugins/flusher/stdout", "loong-flusher-stdout"),
            plugin(Section::Debug, "plugins/flusher/checker", "loong-flusher-checker"),
        ];
        let files = render(&plugins);
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "plugins/all/Cargo.toml",
                "plugins/all/src/common.rs",
                "plugins/all/src/linux.rs",
                "plugins/all/src/windows.rs",
                "plugins/all/src/debug.rs"
            ]
        );
        assert_eq!(
            files[1].1,
            "// Generated from plugins.yml by `cargo xtask gen-plugins`. Do not edit by hand.\n\n\
             /// Registers the plugins of the `common` section of plugins.yml.\n\
             pub fn register(registry: &mut loong_api::Registry) {\n    \
             loong_input_stdin::register(registry);\n    \
             loong_flusher_stdout::register(registry);\n}\n"
        );
        assert!(
            files[2]
                .1
                .ends_with("pub fn register(_registry: &mut loong_api::Registry) {}\n"),
            "{}",
            files[2].1
        );
        assert!(files[4].1.contains("    loong_flusher_checker::register(registry);\n"));
    }

    fn workspace(yml: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (folder, package) in [
            ("plugins/input/a", "loong-input-a"),
            ("plugins/input/b", "loong-input-b"),
        ] {
            std::fs::create_dir_all(root.path().join(folder)).unwrap();
            let manifest = format!("[package]\nname = \"{package}\"\n");
            std::fs::write(root.path().join(folder).join("Cargo.toml"), manifest).unwrap();
        }
        std::fs::write(root.path().join("plugins.yml"), yml).unwrap();
        root
    }

    #[test]
    fn a_listed_folder_without_a_manifest_is_an_error() {
        let root = workspace("common: [plugins/input/a, plugins/input/missing]\n");
        let err = load(root.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("plugins.yml: common: plugins/input/missing has no Cargo.toml"),
            "{err}"
        );
    }

    #[test]
    fn check_names_stale_files_until_generate_writes_them() {
        let root = workspace("common: [plugins/input/a]\n");
        let err = check(root.path()).unwrap_err().to_string();
        assert!(
            err.contains("plugins/all/Cargo.toml") && err.contains("plugins/all/src/debug.rs"),
            "{err}"
        );

        generate(root.path()).unwrap();
        check(root.path()).unwrap();
        let common = std::fs::read_to_string(root.path().join("plugins/all/src/common.rs")).unwrap();
        assert!(common.contains("loong_input_a::register(registry);"), "{common}");

        std::fs::write(
            root.path().join("plugins.yml"),
            "common: [plugins/input/a]\nlinux: [plugins/input/b]\n",
        )
        .unwrap();
        let err = check(root.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            "plugins/all/Cargo.toml, plugins/all/src/linux.rs out of date with plugins.yml: run `cargo xtask gen-plugins`"
        );
    }
}
