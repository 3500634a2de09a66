//! Codecs: encode + decode time and encoded size of one realistic `Product` and of a 1,000-item
//! list, for JSON, bincode and MessagePack (`layercache::Codec`, as L2 uses them), then the same
//! with each compression algorithm compiled in (LZ4 by default, zstd with `--features zstd`):
//! encode + compress + decompress + decode, and the compressed size.
//!
//! Sizes are printed as `report: size ...` lines that `benches/report.sh` collects.
//!
//! `cargo bench --bench codecs --features zstd` (add `-- --measurement-time 2` for a quick run).

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use layercache::__private::compression;
use layercache::{Codec, Compression};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u64,
    sku: String,
    name: String,
    description: String,
    category: String,
    price_cents: u64,
    currency: String,
    stock: u32,
    rating: f32,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    image_urls: Vec<String>,
    discontinued: bool,
    updated_at: i64,
}

fn product(id: u64) -> Product {
    Product {
        id,
        sku: format!("LMP-{id:06}"),
        name: format!("Desk lamp, brushed steel, model {id}"),
        description: "An adjustable desk lamp with a weighted base, warm-white LED, dimmer and a \
                      two-metre braided cable. Ships flat-packed; no tools needed."
            .into(),
        category: "lighting".into(),
        price_cents: 4_999 + id % 100,
        currency: "EUR".into(),
        stock: (id % 250) as u32,
        rating: 4.5,
        tags: vec!["lighting".into(), "office".into(), "home".into()],
        attributes: [
            ("colour", "steel"),
            ("height_cm", "45"),
            ("power_w", "8"),
            ("warranty", "2 years"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        image_urls: vec![
            format!("https://img.example.invalid/p/{id}/front.jpg"),
            format!("https://img.example.invalid/p/{id}/side.jpg"),
        ],
        discontinued: false,
        updated_at: 1_767_225_600 + id as i64,
    }
}

const CODECS: [Codec; 3] = [Codec::Json, Codec::Bincode, Codec::MessagePack];

fn round_trip<T: Serialize + DeserializeOwned>(codec: &Codec, value: &T) -> T {
    let bytes = codec.encode(value).expect("encode");
    codec.decode(&bytes).expect("decode")
}

fn algorithms() -> Vec<Compression> {
    vec![
        #[cfg(feature = "lz4")]
        Compression::Lz4,
        #[cfg(feature = "zstd")]
        Compression::Zstd,
    ]
}

/// What a writer and a reader of a compressed L2 value do: encode, compress, decompress, decode.
fn compressed_round_trip<T: Serialize + DeserializeOwned>(
    codec: &Codec,
    algorithm: Compression,
    value: &T,
) -> T {
    let bytes = codec.encode(value).expect("encode");
    let stored = algorithm.compress(&bytes).expect("compressible");
    let raw = compression::decompress(algorithm.id(), &stored, 64 << 20).expect("decompress");
    codec.decode(&raw).expect("decode")
}

fn bench_compressed<T>(c: &mut Criterion, what: &str, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut group = c.benchmark_group(format!("codec_{what}_compressed"));
    for codec in &CODECS {
        let encoded = codec.encode(value).expect("encode");
        for algorithm in algorithms() {
            let Some(stored) = algorithm.compress(&encoded) else {
                println!(
                    "report: size {what} {}+{} incompressible",
                    codec.name(),
                    algorithm.name()
                );
                continue;
            };
            assert_eq!(&compressed_round_trip(codec, algorithm, value), value);
            println!(
                "report: size {what} {}+{} {} ({:.1}% of {})",
                codec.name(),
                algorithm.name(),
                stored.len(),
                100.0 * stored.len() as f64 / encoded.len() as f64,
                encoded.len()
            );
            group.bench_with_input(
                BenchmarkId::new(
                    "encode_compress_decompress_decode",
                    format!("{}+{}", codec.name(), algorithm.name()),
                ),
                value,
                |b, v| b.iter(|| compressed_round_trip(codec, algorithm, std::hint::black_box(v))),
            );
        }
    }
    group.finish();
}

fn bench_value<T>(c: &mut Criterion, what: &str, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for codec in &CODECS {
        let encoded = codec.encode(value).expect("encode");
        assert_eq!(
            &round_trip(codec, value),
            value,
            "{} round trip",
            codec.name()
        );
        println!("report: size {what} {} {}", codec.name(), encoded.len());
    }
    let mut group = c.benchmark_group(format!("codec_{what}"));
    for codec in &CODECS {
        group.bench_with_input(
            BenchmarkId::new("encode_decode", codec.name()),
            value,
            |b, v| b.iter(|| round_trip(codec, std::hint::black_box(v))),
        );
    }
    group.finish();
}

fn codecs(c: &mut Criterion) {
    bench_value(c, "product", &product(7));
    bench_compressed(c, "product", &product(7));
    let list: Vec<Product> = (0..1_000).map(product).collect();
    bench_value(c, "list_1000", &list);
    bench_compressed(c, "list_1000", &list);
}

criterion_group!(benches, codecs);
criterion_main!(benches);
