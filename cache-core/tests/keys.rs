//! Hostile keys: rendering is injective across `KeyPart` types and separators, values cannot
//! escape their namespace, and long keys are hashed, never truncated into collisions.

use cache_core::key::KeyBuilder;
use cache_core::{Cache, KeyPart};
use proptest::prelude::*;

/// One interpolated value of any supported kind.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Int(i64),
    UInt(u128),
    Bool(bool),
    Char(char),
    Text(String),
    Maybe(Option<String>),
}

impl Part {
    fn render(&self, b: &mut KeyBuilder) {
        match self {
            Part::Int(v) => b.part(v),
            Part::UInt(v) => b.part(v),
            Part::Bool(v) => b.part(v),
            Part::Char(v) => b.part(v),
            Part::Text(v) => b.part(v.as_str()),
            Part::Maybe(v) => b.part(v),
        };
    }
    fn kind(&self) -> u8 {
        match self {
            Part::Int(_) => 0,
            Part::UInt(_) => 1,
            Part::Bool(_) => 2,
            Part::Char(_) => 3,
            Part::Text(_) => 4,
            Part::Maybe(_) => 5,
        }
    }
}

/// Two values of the same kind (one template slot, two calls).
fn slot() -> impl Strategy<Value = (Part, Part)> {
    prop_oneof![
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| (Part::Int(a), Part::Int(b))),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (Part::UInt(a), Part::UInt(b))),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| (Part::Bool(a), Part::Bool(b))),
        (any::<char>(), any::<char>()).prop_map(|(a, b)| (Part::Char(a), Part::Char(b))),
        (".*", ".*").prop_map(|(a, b)| (Part::Text(a), Part::Text(b))),
        ("[a-z:%!.\\n]{0,6}", "[a-z:%!.\\n]{0,6}")
            .prop_map(|(a, b)| (Part::Text(a), Part::Text(b))),
        (
            proptest::option::of("[a-z:%!]{0,4}"),
            proptest::option::of("[a-z:%!]{0,4}")
        )
            .prop_map(|(a, b)| (Part::Maybe(a), Part::Maybe(b))),
    ]
}

/// A template's literal separators: each holds at least one non-plain character, as the
/// `#[cached]` macro requires between placeholders.
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(":".to_string()),
        Just("/".to_string()),
        Just("|".to_string()),
        Just("::".to_string()),
        Just(" x ".to_string()),
        "[a-z]{0,2}[:/#|~][a-z]{0,2}",
    ]
}

fn render(ns: &str, seps: &[String], parts: &[Part]) -> String {
    let mut b = KeyBuilder::bare(16);
    b.literal("t");
    for (sep, p) in seps.iter().zip(parts) {
        b.literal(sep);
        p.render(&mut b);
    }
    b.finish(ns, usize::MAX).into_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// For one template (fixed separators and kinds), different values give different keys.
    #[test]
    fn rendering_is_injective_for_any_kinds_and_separators(
        seps in proptest::collection::vec(separator(), 1..4),
        slots in proptest::collection::vec(slot(), 3),
    ) {
        let n = seps.len();
        let a: Vec<Part> = slots[..n].iter().map(|s| s.0.clone()).collect();
        let b: Vec<Part> = slots[..n].iter().map(|s| s.1.clone()).collect();
        prop_assert!(a.iter().zip(&b).all(|(x, y)| x.kind() == y.kind()));
        prop_assume!(a != b);
        prop_assert_ne!(render("ns", &seps, &a), render("ns", &seps, &b));
    }

    /// A value can never add a namespace separator or a line break to the key.
    #[test]
    fn values_cannot_escape_the_namespace(value in ".*", ns in "[a-z]{1,5}(:[a-z]{1,3})?") {
        let rest = render(&ns, &[":".into()], &[Part::Text(value)]);
        // Stored as `ns:` + the key (the L2 adds the namespace): only the template's own ':'
        // follows it.
        let key = format!("{ns}:{rest}");
        prop_assert_eq!(rest.matches(':').count(), 1, "only the template's own ':'");
        prop_assert!(!key.contains('\n') && !key.contains('\r'));
    }

    /// Keys over the limit are hashed: distinct long keys stay distinct, and all fit the limit.
    #[test]
    fn long_keys_are_hashed_not_truncated(a in "[a-z]{1}[ -~]{1100,1300}", b in "[a-z]{1}[ -~]{1100,1300}") {
        prop_assume!(a != b);
        let cache = Cache::builder().namespace("ns").build();
        let (ka, kb) = (cache.key(&a), cache.key(&b));
        // The limit bounds the key as stored: `ns:` + the key.
        prop_assert!(ka.as_str().len() + 3 <= 1024 && kb.as_str().len() + 3 <= 1024);
        prop_assert_ne!(ka, kb);
    }
}

/// A user type's `KeyPart` is escaped like any string.
#[test]
fn user_key_parts_are_escaped_too() {
    struct Sku(&'static str, u32);
    impl KeyPart for Sku {
        fn write_key_part(&self, out: &mut cache_core::KeyPartWriter<'_>) {
            out.write_str(self.0);
            out.write_str(":");
            out.write_display(&self.1);
        }
    }
    let mut a = KeyBuilder::bare(8);
    a.literal("sku:")
        .part(&Sku("a", 1))
        .literal(":")
        .part(&2u32);
    let mut b = KeyBuilder::bare(8);
    b.literal("sku:")
        .part(&Sku("a", 12))
        .literal(":")
        .part(&0u32);
    assert_ne!(a.finish_string(), b.finish_string());
}
