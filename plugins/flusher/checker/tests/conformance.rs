use loong_flusher_checker::{NAME, checker, register};

#[test]
fn flusher_checker_conforms() {
    loong_testkit::Conformance::from_registry(register, NAME, serde_json::json!({"Name": "conformance"}))
        .read_back(|| checker("conformance").bodies())
        .run();
}
