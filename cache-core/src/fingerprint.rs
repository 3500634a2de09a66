//! Structural fingerprints: what an L2 value's type looks like, written into every envelope, so
//! that during a rolling deploy a build whose type differs never decodes the other build's bytes
//! into its own type (bincode, which is not self-describing, would happily do so).
//!
//! A type's structure is traced once per process from its serde `Deserialize` impl with
//! `serde-reflection`: every container reachable from it, with its name, its fields' names,
//! order and formats, and its enum variants (names, indexes and contents). That registry is
//! hashed (SHA-256, a canonical encoding defined here, so the result depends on nothing but the
//! structure) to 64 bits and kept in a process-wide table keyed by `TypeId`.
//!
//! Types whose `Deserialize` cannot be traced (it validates its input, e.g. `NonZeroU64`,
//! `uuid::Uuid`, `chrono` dates; or it asks the format for self-description, e.g.
//! `serde_json::Value`, untagged or internally tagged enums, `#[serde(flatten)]`) fall back to
//! a weaker fingerprint: the type's name (`std::any::type_name`) only. For those, bump the
//! `version` (`#[cached(version = N)]`, `CacheBuilder::version`) whenever the type changes.
//! Both versions are mixed into every fingerprint, traced or not.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde_reflection::{
    ContainerFormat, Format, FormatHolder, Named, Registry, Samples, Tracer, TracerConfig,
    VariantFormat,
};
use sha2::{Digest, Sha256};

/// The digest of a value type's structure and versions, as written into L2 envelopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

/// What a type's fingerprint is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintSource {
    /// The whole traced structure: containers, field names, order and types, every enum variant.
    Structure,
    /// The traced structure, except variants of enums reached only through a `Vec`, `Option`
    /// or map (the tracer explores those once): their count, first variant and the rest of the
    /// type are covered; a change to their other variants needs a `version` bump.
    PartialStructure,
    /// The type's name only (its `Deserialize` could not be traced): bump the version on change.
    TypeName,
}

/// The fingerprint of one type before versions are mixed in.
#[derive(Clone, Copy, Debug)]
struct Shape {
    digest: u64,
    source: FingerprintSource,
}

type ShapeTable = HashMap<TypeId, Shape, foldhash::fast::FixedState>;

static SHAPES: LazyLock<RwLock<ShapeTable>> = LazyLock::new(Default::default);

/// The fingerprint of `T` under a cache-wide and a per-entry version. Traces `T` the first time
/// a process asks; after that it is a table lookup and a few multiplications.
pub fn fingerprint_of<T: DeserializeOwned>(cache_version: u32, entry_version: u32) -> Fingerprint {
    let digest = shape_of::<T>().digest;
    let versions = (u64::from(cache_version) << 32) | u64::from(entry_version);
    Fingerprint(mix(digest ^ mix(versions)))
}

/// How much of `T` its fingerprint covers. Worth asserting in a test for each type cached in
/// L2 whose changes should be caught without a `version` bump.
///
/// ```
/// use cache_core::fingerprint::{fingerprint_source, FingerprintSource};
/// #[derive(serde::Deserialize)]
/// struct Product { id: u64, name: String }
/// assert_eq!(fingerprint_source::<Product>(), FingerprintSource::Structure);
/// ```
pub fn fingerprint_source<T: DeserializeOwned>() -> FingerprintSource {
    shape_of::<T>().source
}

fn shape_of<T: DeserializeOwned>() -> Shape {
    // `typeid` erases lifetimes, which do not change a type's structure: no `'static` bound.
    let id = typeid::of::<T>();
    if let Some(shape) = SHAPES.read().get(&id) {
        return *shape;
    }
    // Traced outside the lock: a racing thread computes the same value.
    let shape = trace::<T>();
    SHAPES.write().insert(id, shape);
    shape
}

fn trace<T: DeserializeOwned>() -> Shape {
    let name = std::any::type_name::<T>();
    // The user's `Deserialize` runs on made-up input here; a panic in it must not escape.
    let traced = std::panic::catch_unwind(structure_digest::<T>)
        .unwrap_or_else(|_| Err("Deserialize panicked while traced".to_owned()));
    match traced {
        Ok(shape) => {
            if shape.source == FingerprintSource::PartialStructure {
                tracing::info!(
                    value_type = name,
                    "some enum variants of this value type are not in its L2 fingerprint: \
                     bump its version when they change"
                );
            }
            shape
        }
        Err(error) => {
            tracing::info!(
                value_type = name,
                %error,
                "value type cannot be traced: its L2 fingerprint is its name and version only"
            );
            let mut canonical = Canonical::new(b"layercache type name\0");
            canonical.str(name);
            Shape {
                digest: canonical.digest(),
                source: FingerprintSource::TypeName,
            }
        }
    }
}

/// Passes of tracing at most: a pass finds one more variant index of each enum still
/// incomplete, so this covers enums of up to about this many variants.
const MAX_TRACE_PASSES: usize = 4096;
/// Fresh starts at most: each one learns the names of the enums left incomplete by the last.
const MAX_TRACE_ATTEMPTS: usize = 64;
/// serde-reflection gives a variant seen by name only a provisional index counting down from
/// `u32::MAX`; real indexes are small.
const PROVISIONAL_INDEX: u32 = u32::MAX / 2;

fn structure_digest<T: DeserializeOwned>() -> Result<Shape, String> {
    let (root, registry) = trace_structure::<T>().map_err(|e| e.to_string())?;
    let mut canonical = Canonical::new(b"layercache structure\0");
    canonical.format(&root);
    // A BTreeMap: containers in name order, the same in every build.
    for (name, container) in &registry {
        canonical.str(name);
        canonical.container(container);
    }
    let source = if canonical.complete {
        FingerprintSource::Structure
    } else {
        FingerprintSource::PartialStructure
    };
    Ok(Shape {
        digest: canonical.digest(),
        source,
    })
}

/// `Tracer::trace_type` completes only an enum at the root. A nested enum is explored further
/// only when the tracer is told, by name, between passes, that it is incomplete; its name is
/// learned from an attempt that left it incomplete. Tracing is deterministic, so each fresh
/// attempt knows more names, until none is missing or no pass can reach the missing ones.
fn trace_structure<T: DeserializeOwned>() -> serde_reflection::Result<(Format, Registry)> {
    let mut enums: Vec<String> = Vec::new();
    let mut attempts = 0;
    loop {
        let (root, registry) = trace_with_known_enums::<T>(&enums)?;
        let before = enums.len();
        let missing: Vec<String> = incomplete_enums(&registry)
            .filter(|name| !enums.contains(name))
            .collect();
        enums.extend(missing);
        attempts += 1;
        if enums.len() == before || attempts == MAX_TRACE_ATTEMPTS {
            return Ok((root, registry));
        }
    }
}

fn trace_with_known_enums<T: DeserializeOwned>(
    enums: &[String],
) -> serde_reflection::Result<(Format, Registry)> {
    let samples = Samples::new();
    let mut tracer = Tracer::new(TracerConfig::default());
    let (mut root, _) = tracer.trace_type::<T>(&samples)?;
    // `check_incomplete_enum` also clears the mark, so the next pass explores that enum.
    for _ in 0..MAX_TRACE_PASSES {
        let incomplete = enums
            .iter()
            .filter(|name| tracer.check_incomplete_enum(name).is_some())
            .count();
        if incomplete == 0 {
            break;
        }
        tracer.trace_type_once::<T>(&samples)?;
    }
    // Unknown parts stay as variables: `Canonical` writes them as such and calls the
    // structure partial.
    let _ = root.normalize();
    Ok((root, tracer.registry_unchecked()))
}

fn incomplete_enums(registry: &Registry) -> impl Iterator<Item = String> + '_ {
    registry
        .iter()
        .filter_map(|(name, container)| match container {
            ContainerFormat::Enum(variants) if variants.keys().any(|i| *i >= PROVISIONAL_INDEX) => {
                Some(name.clone())
            }
            _ => None,
        })
}

/// The canonical encoding of a traced structure, fed to SHA-256. Part of the L2 format: a
/// change here changes every fingerprint (see `the_digest_is_stable_across_builds`).
struct Canonical {
    hasher: Sha256,
    /// False once an untraced part or a provisional variant index was written.
    complete: bool,
}

impl Canonical {
    fn new(domain: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(domain);
        Canonical {
            hasher,
            complete: true,
        }
    }

    fn digest(self) -> u64 {
        let digest = self.hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    fn byte(&mut self, b: u8) {
        self.hasher.update([b]);
    }

    fn len(&mut self, len: usize) {
        self.hasher.update((len as u64).to_be_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.hasher.update(s.as_bytes());
    }

    fn untraced(&mut self) {
        self.complete = false;
        self.byte(0x00);
    }

    fn container(&mut self, container: &ContainerFormat) {
        match container {
            ContainerFormat::UnitStruct => self.body(0x40, Body::Unit),
            ContainerFormat::NewTypeStruct(f) => self.body(0x40, Body::NewType(f)),
            ContainerFormat::TupleStruct(fs) => self.body(0x40, Body::Tuple(fs)),
            ContainerFormat::Struct(fields) => self.body(0x40, Body::Struct(fields)),
            ContainerFormat::Enum(variants) => {
                self.byte(0x44);
                self.len(variants.len());
                for (index, variant) in variants {
                    if *index >= PROVISIONAL_INDEX {
                        self.complete = false;
                    }
                    self.hasher.update(index.to_be_bytes());
                    self.str(&variant.name);
                    self.variant(&variant.value);
                }
            }
        }
    }

    fn variant(&mut self, variant: &VariantFormat) {
        match variant {
            VariantFormat::Variable(v) => match v.borrow().as_ref() {
                Some(known) => self.variant(known),
                None => self.untraced(),
            },
            VariantFormat::Unit => self.body(0x50, Body::Unit),
            VariantFormat::NewType(f) => self.body(0x50, Body::NewType(f)),
            VariantFormat::Tuple(fs) => self.body(0x50, Body::Tuple(fs)),
            VariantFormat::Struct(fields) => self.body(0x50, Body::Struct(fields)),
        }
    }

    /// A struct's or a variant's contents, tagged `base` + its shape.
    fn body(&mut self, base: u8, body: Body<'_>) {
        match body {
            Body::Unit => self.byte(base),
            Body::NewType(f) => {
                self.byte(base + 1);
                self.format(f);
            }
            Body::Tuple(fs) => {
                self.byte(base + 2);
                self.formats(fs);
            }
            Body::Struct(fields) => {
                self.byte(base + 3);
                self.fields(fields);
            }
        }
    }

    fn fields(&mut self, fields: &[Named<Format>]) {
        self.len(fields.len());
        for field in fields {
            self.str(&field.name);
            self.format(&field.value);
        }
    }

    fn formats(&mut self, formats: &[Format]) {
        self.len(formats.len());
        formats.iter().for_each(|f| self.format(f));
    }

    fn format(&mut self, format: &Format) {
        let tag: u8 = match format {
            Format::Variable(v) => {
                match v.borrow().as_ref() {
                    Some(known) => self.format(known),
                    None => self.untraced(),
                }
                return;
            }
            Format::TypeName(name) => {
                self.byte(0x01);
                return self.str(name);
            }
            Format::Option(inner) => {
                self.byte(0x02);
                return self.format(inner);
            }
            Format::Seq(inner) => {
                self.byte(0x03);
                return self.format(inner);
            }
            Format::Map { key, value } => {
                self.byte(0x04);
                self.format(key);
                return self.format(value);
            }
            Format::Tuple(formats) => {
                self.byte(0x05);
                return self.formats(formats);
            }
            Format::TupleArray { content, size } => {
                self.byte(0x06);
                self.len(*size);
                return self.format(content);
            }
            Format::Unit => 0x10,
            Format::Bool => 0x11,
            Format::I8 => 0x12,
            Format::I16 => 0x13,
            Format::I32 => 0x14,
            Format::I64 => 0x15,
            Format::I128 => 0x16,
            Format::U8 => 0x17,
            Format::U16 => 0x18,
            Format::U32 => 0x19,
            Format::U64 => 0x1a,
            Format::U128 => 0x1b,
            Format::F32 => 0x1c,
            Format::F64 => 0x1d,
            Format::Char => 0x1e,
            Format::Str => 0x1f,
            Format::Bytes => 0x20,
        };
        self.byte(tag);
    }
}

/// The shapes a struct and an enum variant share.
enum Body<'a> {
    Unit,
    NewType(&'a Format),
    Tuple(&'a [Format]),
    Struct(&'a [Named<Format>]),
}

/// SplitMix64's finalizer: a fixed bijection, so versions change every bit of the result.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
#[allow(dead_code)] // the test types are only traced, never read
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    fn fp<T: DeserializeOwned>() -> Fingerprint {
        assert_eq!(
            fingerprint_source::<T>(),
            FingerprintSource::Structure,
            "{}",
            std::any::type_name::<T>()
        );
        fingerprint_of::<T>(0, 0)
    }

    mod v1 {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub id: u64,
            pub name: String,
            pub price: Option<f64>,
        }
    }
    mod reordered {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub name: String,
            pub id: u64,
            pub price: Option<f64>,
        }
    }
    mod added {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub id: u64,
            pub name: String,
            pub price: Option<f64>,
            pub stock: u32,
        }
    }
    mod retyped {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub id: u32,
            pub name: String,
            pub price: Option<f64>,
        }
    }
    mod renamed_field {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub id: u64,
            pub title: String,
            pub price: Option<f64>,
        }
    }
    mod same_as_v1 {
        #[derive(serde::Deserialize)]
        pub struct Product {
            pub id: u64,
            pub name: String,
            pub price: Option<f64>,
        }
    }

    #[derive(Deserialize)]
    enum ColourA {
        Red,
        Green,
    }
    #[derive(Deserialize)]
    enum ColourB {
        Red,
        Green,
        Blue,
    }

    #[test]
    fn same_structure_same_fingerprint_in_any_module() {
        assert_eq!(fp::<v1::Product>(), fp::<same_as_v1::Product>());
    }

    #[test]
    fn reordered_added_retyped_renamed_fields_all_differ() {
        let all = [
            fp::<v1::Product>(),
            fp::<reordered::Product>(),
            fp::<added::Product>(),
            fp::<retyped::Product>(),
            fp::<renamed_field::Product>(),
        ];
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
    }

    #[test]
    fn enum_variants_count() {
        // Different Rust names, but serde names the containers `ColourA`/`ColourB`: compare
        // the variant change inside one name instead.
        mod a {
            #[derive(serde::Deserialize)]
            pub enum Colour {
                Red,
                Green,
            }
        }
        mod b {
            #[derive(serde::Deserialize)]
            pub enum Colour {
                Red,
                Green,
                Blue,
            }
        }
        mod c {
            #[derive(serde::Deserialize)]
            pub enum Colour {
                Red,
                Green(u8),
            }
        }
        assert_ne!(fp::<a::Colour>(), fp::<b::Colour>());
        assert_ne!(fp::<a::Colour>(), fp::<c::Colour>());
        assert_ne!(fp::<ColourA>(), fp::<ColourB>());
    }

    #[test]
    fn nested_and_generic_types_are_traced() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Page {
            items: Vec<v1::Product>,
            by_id: BTreeMap<u64, (String, [u8; 4])>,
            colour: ColourB,
        }
        fp::<Page>();
        fp::<Vec<v1::Product>>();
        fp::<Option<String>>();
        assert_ne!(fp::<Vec<v1::Product>>(), fp::<Vec<reordered::Product>>());
        assert_ne!(fp::<u32>(), fp::<u64>());
    }

    mod sizes3 {
        #[derive(serde::Deserialize)]
        pub enum Size {
            S,
            M,
            L,
        }
        #[derive(serde::Deserialize)]
        pub enum Stock {
            Out,
            In { size: Size, count: u32 },
        }
        #[derive(serde::Deserialize)]
        pub struct Item {
            pub stock: Stock,
        }
        #[derive(serde::Deserialize)]
        pub struct Listing {
            pub sizes: Vec<Size>,
        }
    }
    mod sizes4 {
        #[derive(serde::Deserialize)]
        pub enum Size {
            S,
            M,
            L,
            Xl,
        }
        #[derive(serde::Deserialize)]
        pub enum Stock {
            Out,
            In { size: Size, count: u32 },
        }
        #[derive(serde::Deserialize)]
        pub struct Item {
            pub stock: Stock,
        }
        #[derive(serde::Deserialize)]
        pub struct Listing {
            pub sizes: Vec<Size>,
        }
    }

    #[test]
    fn enums_inside_enum_variants_are_partial_but_still_count_their_variants() {
        assert_eq!(
            fingerprint_source::<sizes3::Item>(),
            FingerprintSource::PartialStructure
        );
        // A variant added two levels down still changes the fingerprint.
        assert_ne!(
            fingerprint_of::<sizes3::Item>(0, 0),
            fingerprint_of::<sizes4::Item>(0, 0)
        );
    }

    #[test]
    fn an_enum_field_is_traced_whole_with_real_indexes() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Shirt {
            size: sizes3::Size,
        }
        fp::<Shirt>();
        let (_, registry) = trace_structure::<Shirt>().unwrap();
        let Some(ContainerFormat::Enum(sizes)) = registry.get("Size") else {
            panic!("{registry:?}")
        };
        let names: Vec<(u32, &str)> = sizes.iter().map(|(i, v)| (*i, v.name.as_str())).collect();
        assert_eq!(names, [(0, "S"), (1, "M"), (2, "L")]);
    }

    #[test]
    fn enums_behind_a_vec_are_partial_but_still_count_their_variants() {
        for source in [
            fingerprint_source::<sizes3::Listing>(),
            fingerprint_source::<sizes4::Listing>(),
        ] {
            assert_eq!(source, FingerprintSource::PartialStructure);
        }
        assert_ne!(
            fingerprint_of::<sizes3::Listing>(0, 0),
            fingerprint_of::<sizes4::Listing>(0, 0)
        );
    }

    #[test]
    fn recursive_types_terminate() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Tree {
            label: String,
            children: Vec<Tree>,
        }
        let _ = fingerprint_of::<Tree>(0, 0);
    }

    #[test]
    fn versions_change_the_fingerprint() {
        let base = fp::<v1::Product>();
        assert_ne!(base, fingerprint_of::<v1::Product>(0, 1));
        assert_ne!(base, fingerprint_of::<v1::Product>(1, 0));
        assert_ne!(
            fingerprint_of::<v1::Product>(0, 1),
            fingerprint_of::<v1::Product>(1, 0)
        );
    }

    #[test]
    fn untraceable_types_fall_back_to_the_type_name() {
        #[derive(Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Loose {
            A(u64),
            B(String),
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Checked(#[serde(deserialize_with = "refuse")] u64);
        fn refuse<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            let v = u64::deserialize(d)?;
            Err(serde::de::Error::custom(format!("{v} refused")))
        }
        assert_eq!(fingerprint_source::<Loose>(), FingerprintSource::TypeName);
        assert_eq!(fingerprint_source::<Checked>(), FingerprintSource::TypeName);
        assert_eq!(
            fingerprint_source::<std::num::NonZeroU64>(),
            FingerprintSource::TypeName
        );
        assert_ne!(
            fingerprint_of::<Loose>(0, 0),
            fingerprint_of::<Checked>(0, 0)
        );
        assert_ne!(fingerprint_of::<Loose>(0, 0), fingerprint_of::<Loose>(0, 1));
    }

    #[test]
    fn a_panicking_deserialize_falls_back_instead_of_panicking() {
        struct Panics;
        impl<'de> Deserialize<'de> for Panics {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                panic!("not traceable")
            }
        }
        assert_eq!(fingerprint_source::<Panics>(), FingerprintSource::TypeName);
    }

    #[test]
    fn the_digest_is_stable_across_builds() {
        // The canonical encoding is part of the L2 format: this value must never change
        // without a FORMAT_VERSION bump (two builds would otherwise miss on each other).
        assert_eq!(fingerprint_of::<v1::Product>(0, 0), Fingerprint(PRODUCT_V1));
    }
    const PRODUCT_V1: u64 = 11_141_221_701_623_292_407;
}
