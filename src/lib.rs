//! Cross-crate tests and benches live in tests/ and benches/.
