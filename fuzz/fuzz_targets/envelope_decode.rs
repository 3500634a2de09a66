//! Fuzzes what L2 hands back: the envelope parser, then every codec on the payload.
//! Any input must give a value or an error: never a panic, never an allocation beyond the limit.
#![no_main]

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
    let payload = match Envelope::decode(data, LIMIT) {
        Ok(env) => env.payload,
        Err(_) => data.to_vec(),
    };
    for codec in [Codec::Json, Codec::Bincode, Codec::MessagePack] {
        let _ = codec.decode::<Product>(&payload);
        let _ = codec.decode::<Vec<u64>>(&payload);
        let _ = codec.decode::<Vec<String>>(&payload);
    }
});
