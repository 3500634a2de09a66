//! The compile-time checks of `#[cached]` and `#[invalidates]`: each case in `tests/ui/` must fail
//! with the message in its `.stderr` (messages name the problem and the fix, at the right token),
//! and each case in `tests/ui/pass/` must compile.
//!
//! The `.stderr` files depend on the compiler version; regenerate them with
//! `TRYBUILD=overwrite cargo test --test compile_fail`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
