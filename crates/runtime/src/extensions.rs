//! The extensions of one pipeline, shared by every plugin that references them.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use anyhow::{Context as _, anyhow};
use loong_api::registry::parse_type;
use loong_api::{Context, Extension, ExtensionHost, Result};
use parking_lot::Mutex;

use crate::builder::ContextFactory;

/// Extensions by instance name (`ext_basicauth/u1`; also `ext_basicauth` when it has no id).
pub struct Extensions {
    by_name: Mutex<BTreeMap<String, Arc<dyn Extension>>>,
    /// Creation order, so they stop in reverse.
    order: Mutex<Vec<(String, Arc<dyn Extension>)>>,
    factory: Mutex<Option<ContextFactory>>,
    this: Weak<Extensions>,
}

impl Extensions {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new_cyclic(|this| Extensions {
            by_name: Mutex::new(BTreeMap::new()),
            order: Mutex::new(Vec::new()),
            factory: Mutex::new(None),
            this: this.clone(),
        })
    }

    pub(crate) fn set_factory(&self, factory: ContextFactory) {
        *self.factory.lock() = Some(factory);
    }

    pub(crate) fn host(&self) -> Arc<dyn ExtensionHost> {
        self.this.upgrade().expect("extensions outlive their contexts")
    }

    pub(crate) fn insert(&self, name: &str, ext: Arc<dyn Extension>) {
        self.by_name.lock().insert(name.to_owned(), ext.clone());
        self.order.lock().push((name.to_owned(), ext));
    }

    /// Stops every extension, last created first; errors are logged, not returned, so one failing
    /// extension does not keep the others running.
    pub fn stop_all(&self) {
        let order = std::mem::take(&mut *self.order.lock());
        self.by_name.lock().clear();
        for (name, ext) in order.into_iter().rev() {
            if let Err(e) = ext.stop() {
                tracing::error!(extension = %name, error = %e, "extension stop failed");
            }
        }
    }
}

impl ExtensionHost for Extensions {
    fn get_extension(&self, name: &str, options: Option<&serde_json::Value>) -> Result<Arc<dyn Extension>> {
        let name = name.split('#').next().unwrap_or(name).trim();
        if let Some(ext) = self.by_name.lock().get(name) {
            return Ok(ext.clone());
        }
        let Some(options) = options else {
            let known: Vec<String> = self.by_name.lock().keys().cloned().collect();
            return Err(anyhow!(
                "extension {name} is not configured in this pipeline's extensions (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        // Not configured: create one from the options the plugin passed (LoongCollector does the same).
        let factory = self
            .factory
            .lock()
            .clone()
            .ok_or_else(|| anyhow!("extensions are not ready yet"))?;
        let (ty, _) = parse_type(name);
        let (mut ext, warnings) = factory
            .registry()
            .create_extension(ty, options)
            .with_context(|| format!("creating extension {name}"))?;
        for w in warnings {
            tracing::warn!(extension = %name, "{w}");
        }
        let ctx: Context = factory.context(ty, name);
        let _g = ctx.span().enter();
        ext.init(&ctx)
            .with_context(|| format!("initialising extension {name}"))?;
        let ext: Arc<dyn Extension> = Arc::from(ext);
        self.insert(name, ext.clone());
        Ok(ext)
    }
}
