pub fn register(_registry: &mut loong_api::Registry) {}
