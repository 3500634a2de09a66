//! Two builds of one service sharing a Redis during a rolling deploy: a value written by a build
//! whose type differs (fields reordered, added, removed, an enum changed) is a counted miss,
//! never a wrong value, and the reading build's value replaces it. Compressed payloads are read
//! by instances that do not compress, and a compression bomb or a truncated block is a miss.

mod support;

use std::time::Duration;

use cache_core::envelope::Envelope;
use cache_core::{Codec, Compression, EntryOptions, L2};
use layercache_test_support::{namespace, RedisServer};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use support::instances::{Instance, Loads};

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));
const CODECS: [Codec; 3] = [Codec::Json, Codec::Bincode, Codec::MessagePack];

/// The old build's types.
mod old {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Product {
        pub id: u64,
        pub stock: u64,
        pub name: String,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum Status {
        Active,
        Discontinued,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Listing {
        pub id: u64,
        pub status: Status,
    }
}

/// The new build's types: same names, other structures.
mod reordered {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Product {
        pub stock: u64,
        pub id: u64,
        pub name: String,
    }
}

mod added {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Product {
        pub id: u64,
        pub stock: u64,
        pub name: String,
        pub price_cents: u32,
    }
}

mod removed {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Product {
        pub id: u64,
        pub stock: u64,
    }
}

mod changed_enum {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum Status {
        Active,
        Recalled,
        Discontinued,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Listing {
        pub id: u64,
        pub status: Status,
    }
}

fn old_product() -> old::Product {
    old::Product {
        id: 7,
        stock: 3,
        name: "lamp".into(),
    }
}

/// The old build writes `old_value` under one key; the new build reads the key as `New`.
/// It must load its own value (never decode the old bytes into `New`), count the mismatch, and
/// replace the value: a third instance of the new build then gets an L2 hit.
async fn new_build_misses_then_overwrites<Old, New>(
    what: &str,
    codec: Codec,
    old_value: Old,
    new_value: New,
) where
    Old: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    New: Serialize + DeserializeOwned + Clone + Send + Sync + PartialEq + std::fmt::Debug + 'static,
{
    let server = RedisServer::start();
    let ns = namespace("deploy");
    let old_build = Instance::with(&server.url(), &ns, |b| b.codec(codec)).await;
    let new_build = Instance::with(&server.url(), &ns, |b| b.codec(codec)).await;
    let loads = Loads::default();

    let _: Old = old_build
        .cache
        .get_or_load("product:7", &OPTS, loads.returning(old_value))
        .await
        .unwrap();
    let read: New = new_build
        .cache
        .get_or_load("product:7", &OPTS, loads.returning(new_value.clone()))
        .await
        .unwrap();
    let name = codec.name();
    assert_eq!(
        read, new_value,
        "{what} ({name}): the new build's own value"
    );
    assert_eq!(loads.count(), 2, "{what} ({name}): the new build loaded");
    let stats = new_build.cache.stats();
    assert_eq!(stats.l2_hits, 0, "{what} ({name})");
    assert_eq!(stats.decode_errors, 1, "{what} ({name})");
    assert_eq!(stats.fingerprint_mismatches, 1, "{what} ({name})");

    let another = Instance::with(&server.url(), &ns, |b| b.codec(codec)).await;
    let read: New = another
        .cache
        .get_or_load("product:7", &OPTS, loads.returning(new_value.clone()))
        .await
        .unwrap();
    assert_eq!(read, new_value);
    assert_eq!(
        (another.cache.stats().l2_hits, loads.count()),
        (1, 2),
        "{what} ({name}): the new build's value replaced the old one"
    );
}

#[tokio::test]
async fn reordered_fields_are_a_miss_never_a_wrong_value_in_every_codec() {
    // Without the fingerprint bincode decodes the old bytes into the new type, swapped.
    let bytes = Codec::Bincode.encode(&old_product()).unwrap();
    let misread: reordered::Product = Codec::Bincode.decode(&bytes).unwrap();
    assert_eq!((misread.id, misread.stock), (3, 7), "the hazard is real");

    for codec in CODECS {
        new_build_misses_then_overwrites(
            "reordered",
            codec,
            old_product(),
            reordered::Product {
                stock: 3,
                id: 7,
                name: "lamp".into(),
            },
        )
        .await;
    }
}

#[tokio::test]
async fn an_added_field_is_a_miss_in_every_codec() {
    for codec in CODECS {
        new_build_misses_then_overwrites(
            "added",
            codec,
            old_product(),
            added::Product {
                id: 7,
                stock: 3,
                name: "lamp".into(),
                price_cents: 4_999,
            },
        )
        .await;
    }
}

#[tokio::test]
async fn a_removed_field_is_a_miss_in_every_codec() {
    // With JSON and msgpack the old value would even decode (unknown fields are ignored).
    let bytes = Codec::Json.encode(&old_product()).unwrap();
    assert!(Codec::Json.decode::<removed::Product>(&bytes).is_ok());

    for codec in CODECS {
        new_build_misses_then_overwrites(
            "removed",
            codec,
            old_product(),
            removed::Product { id: 7, stock: 3 },
        )
        .await;
    }
}

#[tokio::test]
async fn a_changed_enum_is_a_miss_in_every_codec() {
    // bincode writes the variant index: old `Discontinued` (1) reads as new `Recalled` (1).
    let old_value = old::Listing {
        id: 7,
        status: old::Status::Discontinued,
    };
    let bytes = Codec::Bincode.encode(&old_value).unwrap();
    let misread: changed_enum::Listing = Codec::Bincode.decode(&bytes).unwrap();
    assert_eq!(
        misread.status,
        changed_enum::Status::Recalled,
        "the hazard is real"
    );

    for codec in CODECS {
        new_build_misses_then_overwrites(
            "enum",
            codec,
            old_value.clone(),
            changed_enum::Listing {
                id: 7,
                status: changed_enum::Status::Discontinued,
            },
        )
        .await;
    }
}

#[tokio::test]
async fn the_same_type_in_two_builds_shares_values() {
    let server = RedisServer::start();
    let ns = namespace("same");
    let a = Instance::new(&server.url(), &ns).await;
    let b = Instance::new(&server.url(), &ns).await;
    let loads = Loads::default();
    let _: old::Product = a
        .cache
        .get_or_load("product:7", &OPTS, loads.returning(old_product()))
        .await
        .unwrap();
    let read: old::Product = b
        .cache
        .get_or_load("product:7", &OPTS, loads.returning(old_product()))
        .await
        .unwrap();
    assert_eq!(read, old_product());
    assert_eq!((loads.count(), b.cache.stats().l2_hits), (1, 1));
    assert_eq!(b.cache.stats().fingerprint_mismatches, 0);
}

#[tokio::test]
async fn a_version_bump_is_a_miss_for_the_same_structure() {
    let server = RedisServer::start();
    let ns = namespace("version");
    let v1 = Instance::new(&server.url(), &ns).await;
    let v2 = Instance::with(&server.url(), &ns, |b| b.version(2)).await;
    let loads = Loads::default();
    v1.read("k", &OPTS, &loads, "cents").await;
    let read = v2.read("k", &OPTS, &loads, "euros").await;
    assert_eq!(read, "euros");
    assert_eq!(v2.cache.stats().fingerprint_mismatches, 1);
    // A per-entry version does the same for one entry (another instance: v2 has it in L1).
    let entry_v3 = OPTS.clone().version(3);
    let v2_entry_v3 = Instance::with(&server.url(), &ns, |b| b.version(2)).await;
    let read: String = v2_entry_v3
        .cache
        .get_or_load("k", &entry_v3, loads.returning("v3".to_string()))
        .await
        .unwrap();
    assert_eq!(read, "v3");
    assert_eq!(loads.count(), 3);
    assert_eq!(v2_entry_v3.cache.stats().fingerprint_mismatches, 1);
}

/// The envelope bytes the cache stored under `key`, through the L2 trait.
async fn stored(instance: &Instance, key: &str) -> Vec<u8> {
    let (bytes, _) = L2::get_versioned(&instance.layer, key).await.unwrap();
    bytes.expect("a value in Redis")
}

/// Replaces what the cache stored under `key`.
async fn plant(instance: &Instance, key: &str, bytes: Vec<u8>) {
    L2::set(&instance.layer, key, bytes, Duration::from_secs(60))
        .await
        .unwrap();
}

/// A value that compresses well: 200 products' worth of repetitive text (~20 KB).
fn big_value() -> Vec<String> {
    (0..200)
        .map(|i| format!("Desk lamp {i}, brushed steel, warm-white LED, two-metre cable"))
        .collect()
}

/// Loads `big_value()` under `page` through `instance` (one counted load on a miss).
async fn load_big(instance: &Instance, loads: &Loads) -> Vec<String> {
    instance
        .cache
        .get_or_load("page", &OPTS, loads.returning(big_value()))
        .await
        .unwrap()
}

fn algorithms() -> Vec<Compression> {
    vec![Compression::Lz4, Compression::Zstd]
}

#[tokio::test]
async fn a_compressed_value_is_read_by_an_instance_with_compression_off() {
    let server = RedisServer::start();
    for algorithm in algorithms() {
        let ns = namespace("compressed");
        let writer = Instance::with(&server.url(), &ns, |b| {
            b.compress(true).compression(algorithm)
        })
        .await;
        let reader = Instance::new(&server.url(), &ns).await;
        let loads = Loads::default();
        load_big(&writer, &loads).await;

        let raw = stored(&writer, "page").await;
        let envelope = Envelope::decode(&raw, 1 << 20).unwrap();
        let uncompressed = Codec::default().encode(&big_value()).unwrap().len();
        assert_eq!(envelope.compression_id, algorithm.id());
        assert!(
            envelope.payload.len() * 4 < uncompressed,
            "{}: {} of {uncompressed} bytes",
            algorithm.name(),
            envelope.payload.len()
        );

        let read: Vec<String> = reader
            .cache
            .get_or_load("page", &OPTS, loads.returning(Vec::new()))
            .await
            .unwrap();
        assert_eq!(read, big_value(), "{}", algorithm.name());
        assert_eq!((loads.count(), reader.cache.stats().l2_hits), (1, 1));
    }
}

#[tokio::test]
async fn small_values_and_compress_off_entries_are_stored_plain() {
    let server = RedisServer::start();
    let ns = namespace("plain");
    let a = Instance::with(&server.url(), &ns, |b| b.compress(true)).await;
    let loads = Loads::default();
    a.read("small", &OPTS, &loads, "lamp").await;
    let off = OPTS.clone().compress(false);
    let _: Vec<String> = a
        .cache
        .get_or_load("big", &off, loads.returning(big_value()))
        .await
        .unwrap();
    for key in ["small", "big"] {
        let raw = stored(&a, key).await;
        assert_eq!(
            Envelope::decode(&raw, 1 << 20).unwrap().compression_id,
            0,
            "{key}"
        );
    }
}

/// Writes `big_value()` compressed with `algorithm`, lets `damage` rewrite the stored
/// envelope, and checks that reading it is a counted miss answered by the loader.
async fn damaged_compressed_value_is_a_miss(
    algorithm: Compression,
    what: &str,
    damage: impl FnOnce(&mut Envelope),
) {
    let server = RedisServer::start();
    let ns = namespace("damaged");
    let a = Instance::with(&server.url(), &ns, |b| {
        b.compress(true).compression(algorithm)
    })
    .await;
    let loads = Loads::default();
    load_big(&a, &loads).await;
    let mut envelope = Envelope::decode(&stored(&a, "page").await, 1 << 20).unwrap();
    damage(&mut envelope);
    plant(&a, "page", envelope.encode().unwrap()).await;

    let reader = Instance::new(&server.url(), &ns).await;
    let read: Vec<String> = reader
        .cache
        .get_or_load("page", &OPTS, loads.returning(vec!["reloaded".to_string()]))
        .await
        .unwrap();
    let name = algorithm.name();
    assert_eq!(read, ["reloaded"], "{what} ({name})");
    let stats = reader.cache.stats();
    assert_eq!(
        (stats.decode_errors, stats.l2_hits),
        (1, 0),
        "{what} ({name})"
    );
    assert_eq!(stats.fingerprint_mismatches, 0, "{what} ({name})");
}

#[tokio::test]
async fn a_compression_bomb_is_a_miss() {
    for algorithm in algorithms() {
        // 16 MiB of zeros compresses to well under the 1 MiB value limit it claims to exceed.
        damaged_compressed_value_is_a_miss(algorithm, "bomb", |envelope| {
            let bomb = algorithm.compress(&vec![0u8; 16 << 20]).unwrap();
            assert!(bomb.len() < 1 << 20);
            envelope.payload = bomb;
        })
        .await;
        // A length prefix under the limit on a block that expands past it.
        damaged_compressed_value_is_a_miss(algorithm, "lying length", |envelope| {
            let mut bomb = algorithm.compress(&vec![0u8; 8 << 20]).unwrap();
            bomb[..4].copy_from_slice(&1000u32.to_be_bytes());
            envelope.payload = bomb;
        })
        .await;
    }
}

#[tokio::test]
async fn a_truncated_compressed_payload_is_a_miss() {
    for algorithm in algorithms() {
        damaged_compressed_value_is_a_miss(algorithm, "truncated", |envelope| {
            let keep = envelope.payload.len() - 10;
            envelope.payload.truncate(keep);
        })
        .await;
    }
}
