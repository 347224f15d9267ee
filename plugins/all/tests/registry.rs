//! Walks the whole built-in registry: the checks every plugin must pass to be listed in plugins.yml.

use loong_api::PluginKind;

#[test]
fn registrations_are_clean() {
    let registry = loong_plugins_all::registry();
    assert!(
        registry.problems().is_empty(),
        "registration problems: {:#?}",
        registry.problems()
    );
}

#[test]
fn every_name_has_its_kind_prefix() {
    let registry = loong_plugins_all::registry();
    for kind in PluginKind::ALL {
        for name in registry.names(kind) {
            assert!(
                kind.prefixes().iter().any(|p| name.starts_with(p)),
                "{kind} {name} must start with {}",
                kind.prefixes().join(" or ")
            );
        }
    }
}

#[test]
fn every_plugin_is_documented() {
    let registry = loong_plugins_all::registry();
    let docs = registry.docs();
    assert!(docs.len() >= 2, "the built-in registry is nearly empty: {docs:#?}");
    let mut undocumented = Vec::new();
    for doc in &docs {
        if doc.description.trim().is_empty() {
            undocumented.push(format!(
                "{} {}: no description (the options struct's doc comment)",
                doc.kind, doc.name
            ));
        }
        for option in &doc.options {
            if option.description.trim().is_empty() {
                undocumented.push(format!(
                    "{} {}: option {} has no doc comment",
                    doc.kind, doc.name, option.name
                ));
            }
        }
    }
    assert!(undocumented.is_empty(), "{}", undocumented.join("\n"));
}

#[test]
fn the_shipped_inputs_are_registered() {
    let registry = loong_plugins_all::registry();
    for name in ["metric_mock", "input_stdin"] {
        assert!(registry.contains(PluginKind::Input, name), "{name} missing");
    }
}
