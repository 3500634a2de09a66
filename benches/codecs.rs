//! Codecs: encode + decode time and encoded size of one realistic `Product` and of a 1,000-item
//! list, for JSON, bincode and MessagePack (`layercache::Codec`, as L2 uses them).
//!
//! Sizes are printed as `report: size ...` lines that `benches/report.sh` collects.
//!
//! `cargo bench --bench codecs` (add `-- --measurement-time 2` for a quick run).

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use layercache::Codec;
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
    let list: Vec<Product> = (0..1_000).map(product).collect();
    bench_value(c, "list_1000", &list);
}

criterion_group!(benches, codecs);
criterion_main!(benches);
