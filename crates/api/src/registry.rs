//! Plugin creators keyed by their config `Type` (LoongCollector's `pipeline.Flushers` map and
//! friends). Each plugin crate has a `register(&mut Registry)` that the generated `plugins/all`
//! crate calls for every plugin listed in `plugins.yml`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::options::{self, OptionDoc, OptionError, OptionWarning, PluginDoc, PluginOptions};
use crate::{Aggregator, Extension, Flusher, Input, Processor};

/// The kinds of plugin, in the order a pipeline config lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    Input,
    Processor,
    Aggregator,
    Flusher,
    Extension,
}

impl PluginKind {
    pub const ALL: [PluginKind; 5] = [
        PluginKind::Input,
        PluginKind::Processor,
        PluginKind::Aggregator,
        PluginKind::Flusher,
        PluginKind::Extension,
    ];

    /// The prefixes a type of this kind may start with.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            PluginKind::Input => &["input_", "service_", "metric_"],
            PluginKind::Processor => &["processor_"],
            PluginKind::Aggregator => &["aggregator_"],
            PluginKind::Flusher => &["flusher_"],
            PluginKind::Extension => &["ext_"],
        }
    }

    /// The config section that lists plugins of this kind.
    pub fn section(self) -> &'static str {
        match self {
            PluginKind::Input => "inputs",
            PluginKind::Processor => "processors",
            PluginKind::Aggregator => "aggregators",
            PluginKind::Flusher => "flushers",
            PluginKind::Extension => "extensions",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Input => "input",
            PluginKind::Processor => "processor",
            PluginKind::Aggregator => "aggregator",
            PluginKind::Flusher => "flusher",
            PluginKind::Extension => "extension",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Splits a config `Type` of the form `type[/id][#priority]` into the type and the instance id.
pub fn parse_type(s: &str) -> (&str, Option<&str>) {
    let s = s.split('#').next().unwrap_or(s).trim();
    match s.split_once('/') {
        Some((ty, id)) => (ty, Some(id)),
        None => (s, None),
    }
}

/// Why a plugin could not be created from a config object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    #[error("can't find plugin {name}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Unknown { name: String, hint: Option<String> },
    #[error(transparent)]
    Options(#[from] OptionError),
}

type Create<T> = Box<dyn Fn(&Value) -> Result<(Box<T>, Vec<OptionWarning>), OptionError> + Send + Sync>;

/// Renders a plugin's description and option docs from its options type.
type DocFn = fn() -> (String, Vec<OptionDoc>);

struct Entry<T: ?Sized> {
    create: Create<T>,
    doc: DocFn,
}

fn entry<O: PluginOptions, T: ?Sized + 'static>(make: impl Fn(O) -> Box<T> + Send + Sync + 'static) -> Entry<T> {
    Entry {
        create: Box::new(move |value| {
            let (opts, warnings) = options::decode::<O>(value)?;
            Ok((make(opts), warnings))
        }),
        doc: options::options_doc::<O>,
    }
}

/// Every plugin the binary has, by kind and type name.
#[derive(Default)]
pub struct Registry {
    inputs: BTreeMap<String, Entry<dyn Input>>,
    processors: BTreeMap<String, Entry<dyn Processor>>,
    aggregators: BTreeMap<String, Entry<dyn Aggregator>>,
    flushers: BTreeMap<String, Entry<dyn Flusher>>,
    extensions: BTreeMap<String, Entry<dyn Extension>>,
    problems: Vec<String>,
}

/// Creators receive the decoded options and return the plugin; `init` does the fallible work.
macro_rules! adders {
    ($($fn:ident, $create_fn:ident, $field:ident, $trait:ident, $kind:expr;)*) => {$(
        #[doc = concat!("Registers a ", stringify!($trait), " under `name`; `make` receives the decoded options.")]
        pub fn $fn<O: PluginOptions>(
            &mut self,
            name: &str,
            make: impl Fn(O) -> Box<dyn $trait> + Send + Sync + 'static,
        ) {
            if self.check_name($kind, name) {
                self.$field.insert(name.to_owned(), entry(make));
            }
        }

        #[doc = concat!("Creates the ", stringify!($trait), " named `name` from its config object (without `Type`).")]
        pub fn $create_fn(&self, name: &str, options: &Value) -> Result<(Box<dyn $trait>, Vec<OptionWarning>), CreateError> {
            match self.$field.get(name) {
                Some(e) => Ok((e.create)(options)?),
                None => Err(self.unknown($kind, name)),
            }
        }
    )*};
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    adders! {
        add_input_creator, create_input, inputs, Input, PluginKind::Input;
        add_processor_creator, create_processor, processors, Processor, PluginKind::Processor;
        add_aggregator_creator, create_aggregator, aggregators, Aggregator, PluginKind::Aggregator;
        add_flusher_creator, create_flusher, flushers, Flusher, PluginKind::Flusher;
        add_extension_creator, create_extension, extensions, Extension, PluginKind::Extension;
    }

    fn check_name(&mut self, kind: PluginKind, name: &str) -> bool {
        if !kind
            .prefixes()
            .iter()
            .any(|p| name.starts_with(p) && name.len() > p.len())
        {
            self.problems.push(format!(
                "{kind} {name:?} must start with {}",
                kind.prefixes().join(" or ")
            ));
            return false;
        }
        if name.contains(['/', '#']) || name.chars().any(char::is_whitespace) {
            self.problems
                .push(format!("{kind} {name:?} must not contain '/', '#' or spaces"));
            return false;
        }
        if let Some(other) = PluginKind::ALL.into_iter().find(|k| self.contains(*k, name)) {
            self.problems
                .push(format!("{kind} {name:?} is registered twice (already a {other})"));
            return false;
        }
        true
    }

    /// Registration mistakes (wrong prefix, duplicate name). The agent refuses to start when there
    /// are any; a test walks the built-in registry to keep it empty.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn contains(&self, kind: PluginKind, name: &str) -> bool {
        self.names(kind).any(|n| n == name)
    }

    /// Registered type names of one kind, sorted.
    pub fn names(&self, kind: PluginKind) -> Box<dyn Iterator<Item = &str> + '_> {
        match kind {
            PluginKind::Input => Box::new(self.inputs.keys().map(String::as_str)),
            PluginKind::Processor => Box::new(self.processors.keys().map(String::as_str)),
            PluginKind::Aggregator => Box::new(self.aggregators.keys().map(String::as_str)),
            PluginKind::Flusher => Box::new(self.flushers.keys().map(String::as_str)),
            PluginKind::Extension => Box::new(self.extensions.keys().map(String::as_str)),
        }
    }

    fn doc_fn(&self, kind: PluginKind, name: &str) -> Option<DocFn> {
        match kind {
            PluginKind::Input => self.inputs.get(name).map(|e| e.doc),
            PluginKind::Processor => self.processors.get(name).map(|e| e.doc),
            PluginKind::Aggregator => self.aggregators.get(name).map(|e| e.doc),
            PluginKind::Flusher => self.flushers.get(name).map(|e| e.doc),
            PluginKind::Extension => self.extensions.get(name).map(|e| e.doc),
        }
    }

    /// The documentation of one plugin, from its options struct.
    pub fn doc(&self, kind: PluginKind, name: &str) -> Option<PluginDoc> {
        let (description, options) = self.doc_fn(kind, name)?();
        Some(PluginDoc {
            name: name.to_owned(),
            kind: kind.name().to_owned(),
            description,
            options,
        })
    }

    /// Documentation of every plugin, by kind then name.
    pub fn docs(&self) -> Vec<PluginDoc> {
        PluginKind::ALL
            .into_iter()
            .flat_map(|k| self.names(k).filter_map(move |n| self.doc(k, n)).collect::<Vec<_>>())
            .collect()
    }

    fn unknown(&self, kind: PluginKind, name: &str) -> CreateError {
        let elsewhere = PluginKind::ALL
            .into_iter()
            .find(|k| *k != kind && self.contains(*k, name));
        let hint = if let Some(other) = elsewhere {
            Some(format!("{name} is a {other}: list it under {}", other.section()))
        } else if !kind.prefixes().iter().any(|p| name.starts_with(p)) {
            Some(format!("a {kind} type starts with {}", kind.prefixes().join(" or ")))
        } else {
            let names: Vec<&str> = self.names(kind).collect();
            options::nearest(name, &names).map(|n| format!("did you mean {n}?"))
        };
        CreateError::Unknown {
            name: name.to_owned(),
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{Context, Result};

    /// A flusher for tests.
    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Opts {
        /// How loud.
        #[serde(rename = "Level")]
        level: u32,
    }

    struct Nop;

    impl Flusher for Nop {
        fn init(&mut self, _: &Context) -> Result<()> {
            Ok(())
        }
        fn description(&self) -> &str {
            "nop"
        }
        fn is_ready(&self, _: &str, _: &str, _: i64) -> bool {
            true
        }
        fn set_urgent(&mut self, _: bool) {}
        fn stop(&mut self) -> Result<()> {
            Ok(())
        }
    }

    fn nop(o: Opts) -> Box<dyn Flusher> {
        let _ = o.level;
        Box::new(Nop)
    }

    #[test]
    fn wrong_prefix_and_duplicates_are_problems() {
        let mut r = Registry::new();
        r.add_flusher_creator("flusher_nop", nop);
        r.add_flusher_creator("sink_nop", nop);
        r.add_flusher_creator("flusher_nop", nop);
        r.add_flusher_creator("flusher_", nop);
        assert_eq!(r.problems().len(), 3, "{:?}", r.problems());
        assert!(r.problems()[0].contains("must start with flusher_"));
        assert!(r.problems()[1].contains("registered twice"));
        assert_eq!(r.names(PluginKind::Flusher).collect::<Vec<_>>(), vec!["flusher_nop"]);
    }

    #[test]
    fn creates_with_decoded_options_and_explains_unknown_types() {
        let mut r = Registry::new();
        r.add_flusher_creator("flusher_nop", nop);
        let (f, warnings) = r
            .create_flusher("flusher_nop", &serde_json::json!({"level": 3}))
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(f.description(), "nop");

        let err = r.create_flusher("flusher_nopp", &Value::Null).err().unwrap();
        assert_eq!(
            err.to_string(),
            "can't find plugin flusher_nopp (did you mean flusher_nop?)"
        );
        let err = r.create_flusher("sink_x", &Value::Null).err().unwrap();
        assert!(err.to_string().contains("a flusher type starts with flusher_"), "{err}");
        let err = r.create_input("flusher_nop", &Value::Null).err().unwrap();
        assert!(err.to_string().contains("list it under flushers"), "{err}");
        let err = r
            .create_flusher("flusher_nop", &serde_json::json!({"Level": "high"}))
            .err()
            .unwrap();
        assert!(matches!(err, CreateError::Options(OptionError { key: Some(ref k), .. }) if k == "Level"));
    }

    #[test]
    fn documents_plugins() {
        let mut r = Registry::new();
        r.add_flusher_creator("flusher_nop", nop);
        let doc = r.doc(PluginKind::Flusher, "flusher_nop").unwrap();
        assert_eq!(doc.description, "A flusher for tests.");
        assert_eq!(doc.options[0].name, "Level");
    }

    #[test]
    fn parses_type_id_and_priority() {
        assert_eq!(parse_type("ext_basicauth/u1"), ("ext_basicauth", Some("u1")));
        assert_eq!(parse_type("processor_x#3"), ("processor_x", None));
        assert_eq!(parse_type("flusher_http"), ("flusher_http", None));
    }
}
