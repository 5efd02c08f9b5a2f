//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/`) through the same checks the
//! fuzz targets run (`fuzz/src/lib.rs`, included here), so an ordinary `cargo test` keeps
//! every past finding fixed.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz;

#[test]
fn every_committed_fuzz_seed_passes_its_targets_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for target in fuzz::TARGETS {
        let mut seen = 0;
        for entry in std::fs::read_dir(root.join(target)).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| fuzz::run(target, &data));
            assert!(result.is_ok(), "{target}: the seed {} breaks a property", path.display());
            seen += 1;
        }
        assert!(seen >= 5, "{target}: only {seen} seeds");
    }
}
