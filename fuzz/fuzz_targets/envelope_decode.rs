//! Fuzzes what L2 hands back: the envelope parser, decompression (as the envelope's compression
//! id says, bounded by the value limit), then every codec on the payload.
//! Any input must give a value or an error: never a panic, never an allocation beyond the limit.
#![no_main]

use cache_core::compression;
use cache_core::envelope::Envelope;
use cache_core::Codec;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Product {
    id: u64,
    name: String,
    tags: Vec<String>,
    price: Option<f64>,
    variants: Vec<(u32, String)>,
}

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let (compression_id, payload) = match Envelope::decode(data, LIMIT) {
        Ok(env) => (env.compression_id, env.payload),
        // Raw bytes: also try them as a compressed block of each algorithm.
        Err(_) => (data.first().map_or(0, |b| b % 3), data.to_vec()),
    };
    let raw = match compression::decompress(compression_id, &payload, LIMIT) {
        Ok(raw) => {
            assert!(raw.len() <= LIMIT);
            raw.into_owned()
        }
        Err(_) => payload,
    };
    for codec in [Codec::Json, Codec::Bincode, Codec::MessagePack] {
        let _ = codec.decode::<Product>(&raw);
        let _ = codec.decode::<Vec<u64>>(&raw);
        let _ = codec.decode::<Vec<String>>(&raw);
    }
});
