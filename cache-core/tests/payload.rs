//! L2 payloads through the core (in-memory L2): the one default codec, the builder error when it
//! is compiled out, compression recorded in the envelope, and fingerprint mismatches counted.

use std::time::Duration;

use cache_core::envelope::Envelope;
use cache_core::{Cache, EntryOptions, MemoryL2};

const OPTS: EntryOptions = EntryOptions::new().ttl(Duration::from_secs(60));

async fn load<T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static>(
    cache: &Cache,
    key: &str,
    value: T,
) -> T {
    cache
        .get_or_load(key, &OPTS, || async move { Ok::<_, std::io::Error>(value) })
        .await
        .unwrap()
}

fn stored(l2: &MemoryL2, cache: &Cache, key: &str) -> Envelope {
    Envelope::decode(&l2.raw_get(cache.key(key).as_str()).unwrap(), 1 << 20).unwrap()
}

#[cfg(feature = "bincode")]
#[tokio::test]
async fn the_default_codec_is_bincode_whatever_other_codec_features_are_on() {
    let l2 = MemoryL2::new();
    let cache = Cache::builder().l2(l2.clone()).build();
    load(&cache, "k", 7u64).await;
    assert_eq!(
        stored(&l2, &cache, "k").codec_id,
        cache_core::Codec::Bincode.id()
    );
    assert_eq!(
        cache_core::Codec::default().id(),
        cache_core::Codec::Bincode.id()
    );
}

#[cfg(not(feature = "bincode"))]
#[tokio::test]
async fn without_the_default_codec_an_l2_cache_needs_a_codec_or_fails_to_build() {
    let error = Cache::builder()
        .l2(MemoryL2::new())
        .try_build()
        .unwrap_err();
    assert_eq!(error, cache_core::BuildError::NoCodec);
    assert!(error.to_string().contains("`bincode` feature"), "{error}");
    // L1 only needs no codec; a chosen codec builds.
    assert!(Cache::builder().try_build().is_ok());
    #[cfg(feature = "json")]
    {
        let l2 = MemoryL2::new();
        let cache = Cache::builder()
            .codec(cache_core::Codec::Json)
            .l2(l2.clone())
            .try_build()
            .unwrap();
        load(&cache, "k", 7u64).await;
        assert_eq!(
            stored(&l2, &cache, "k").codec_id,
            cache_core::Codec::Json.id()
        );
    }
}

#[cfg(any(feature = "lz4", feature = "zstd"))]
#[tokio::test]
async fn compression_applies_above_the_threshold_and_is_read_without_settings() {
    let l2 = MemoryL2::new();
    let writer = Cache::builder()
        .compress(true)
        .compress_threshold(64)
        .l2(l2.clone())
        .build();
    let long = "lamp ".repeat(100);
    load(&writer, "long", long.clone()).await;
    load(&writer, "short", "lamp".to_string()).await;
    let compression = cache_core::Compression::default();
    assert_eq!(
        stored(&l2, &writer, "long").compression_id,
        compression.id()
    );
    assert_eq!(stored(&l2, &writer, "short").compression_id, 0);

    let reader = Cache::builder().l2(l2.clone()).build();
    assert_eq!(reader.peek::<String>("long").await, Some(long));
    assert_eq!(reader.stats().l2_hits, 1);
}

#[cfg(feature = "bincode")]
#[tokio::test]
async fn a_fingerprint_mismatch_is_a_counted_miss_then_overwritten() {
    let l2 = MemoryL2::new();
    let a = Cache::builder().l2(l2.clone()).build();
    let b = Cache::builder().l2(l2.clone()).build();
    load(&a, "k", (7u32, 3u32)).await;
    // Same bytes would decode as a u64 under bincode; the fingerprint says no.
    assert_eq!(load(&b, "k", 9u64).await, 9);
    let stats = b.stats();
    assert_eq!((stats.decode_errors, stats.fingerprint_mismatches), (1, 1));
    let c = Cache::builder().l2(l2.clone()).build();
    assert_eq!(c.peek::<u64>("k").await, Some(9), "overwritten by b");
}
