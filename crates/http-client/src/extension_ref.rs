use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use loong_api::{Context, Extension};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an extension: its `Type` (`ext_basicauth` or `ext_basicauth/u1`) and, for one not
/// listed under `extensions`, the options to create it with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ExtensionRef {
    /// The extension's `Type`, or `type/id` to use one configured under the pipeline's `extensions`.
    #[serde(rename = "Type")]
    pub r#type: String,
    /// Options to create the extension with when the pipeline does not configure it.
    #[serde(rename = "Options")]
    pub options: Option<serde_json::Value>,
}

impl ExtensionRef {
    /// Looks the extension up (creating it when needed) and checks it has the role `has_role`
    /// tests for (`|e| e.as_client_authenticator().is_some()`…); `option` and `role` name them in
    /// errors.
    pub fn resolve(
        &self,
        ctx: &Context,
        option: &str,
        role: &str,
        has_role: impl Fn(&dyn Extension) -> bool,
    ) -> Result<Arc<dyn Extension>> {
        let ext = ctx
            .get_extension(&self.r#type, self.options.as_ref())
            .with_context(|| format!("{option} {}", self.r#type))?;
        if !has_role(ext.as_ref()) {
            bail!("{option}: {} is not {role}", self.r#type);
        }
        Ok(ext)
    }
}
