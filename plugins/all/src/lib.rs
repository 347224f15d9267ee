pub fn registry() -> loong_api::Registry { loong_api::Registry::new() }
