//! Every argument of `#[cached]` and `#[invalidates]` (DESIGN §3), in the forms users write.
use std::sync::Arc;

use layercache::{cached, invalidates, Cache};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    pub category: String,
}

#[derive(Clone, Debug)]
pub struct DbError;

#[derive(Clone)]
pub struct Category {
    pub slug: String,
}

#[cached(
    key = "product:<id>",
    ttl = "5m",
    l1_ttl = "30s",
    l2,
    stale = "1h",
    refresh = "4m",
    timeout = "2s",
    tags = ["catalog", "category:<cat.slug>"],
    codec = "json",
    lock,
    compress,
    version = 2,
    jitter = "30s",
    condition = id != 0,
    unless = |p| p.category.is_empty(),
    weigh = |p| p.category.capacity(),
    cache = layercache::global(),
)]
pub async fn get_product(id: u64, cat: &Category) -> Result<Product, DbError> {
    Ok(Product {
        id,
        category: cat.slug.clone(),
    })
}

#[cached(
    key = "user:<email>",
    ttl = "10m",
    cache_none = "30s",
    l2,
    codec = "bincode"
)]
pub async fn find_user(email: &str) -> Option<String> {
    email.strip_suffix("@example.com").map(str::to_owned)
}

#[cached(l2, codec = "msgpack", ttl = "1h30m")]
pub async fn totals(year: u16, month: Option<u8>) -> Vec<u64> {
    vec![u64::from(year), u64::from(month.unwrap_or(0))]
}

/// No arguments at all: default key, the cache's default TTL, L1 only.
#[cached]
pub async fn settings() -> Arc<String> {
    Arc::new("on".to_owned())
}

/// A one-argument `Result` alias, `?`, `return`, and an error that is not `Clone`.
#[cached(key = "file:<path>", ttl = "500ms")]
async fn read_len(path: String) -> std::io::Result<usize> {
    if path.is_empty() {
        return Ok(0);
    }
    let meta = std::fs::metadata(&path)?;
    Ok(meta.len() as usize)
}

pub struct Shop {
    cache: Cache,
    shared: Arc<Cache>,
    region: &'static str,
}

impl Shop {
    #[cached(key = "stock:<self.region>:<sku>", ttl = "1m", cache = self.cache)]
    pub async fn stock(&self, sku: &str) -> u32 {
        sku.len() as u32
    }

    #[cached(key = "price:<sku>", cache = self.shared, cache_none = "5s")]
    pub async fn price(&self, sku: String) -> Result<Option<u64>, DbError> {
        Ok(Some(sku.len() as u64))
    }

    #[invalidates(self.stock(sku), Self::price(self, sku))]
    pub async fn restock(&self, sku: String) -> Result<(), DbError> {
        Ok(())
    }

    #[invalidates(key = "stock:<self.region>:<sku>", cache = self.cache, before)]
    pub async fn sell(&self, sku: &str) {}
}

#[invalidates(get_product(id, &cat), find_user(email), tags = ["catalog"])]
pub async fn update_product(id: u64, cat: Category, email: String) -> Result<(), DbError> {
    let _ = cat.slug;
    Ok(())
}

#[invalidates(key = ["product:<p.id>", "totals"], tags = ["category:<p.category>"], cache = Cache::builder().build())]
pub async fn import(p: Product) -> usize {
    p.category.len()
}

mod nested {
    #[layercache::cached(key = "n:<n>")]
    pub(crate) async fn double(n: u32) -> u32 {
        n * 2
    }
}

#[invalidates(nested::double(n))]
async fn reset(n: u32) {}

fn main() {
    let _ = (read_len(String::new()), reset(1), nested::double(1));
}

/// Every shape `cache = ...` takes: a static, a function returning `&'static Cache`, a field of a
/// parameter, a parameter, an `Arc`, a value.
pub mod cache_shapes {
    use std::sync::{Arc, OnceLock};

    use layercache::{cached, Cache};

    pub static STATIC: OnceLock<Cache> = OnceLock::new();

    pub fn cache() -> &'static Cache {
        STATIC.get_or_init(|| Cache::builder().build())
    }

    pub struct State {
        pub cache: Cache,
        pub shared: Arc<Cache>,
    }

    #[cached(key = "a:<n>", cache = cache())]
    pub async fn from_fn(n: u32) -> u32 {
        n
    }

    #[cached(key = "b:<n>", cache = state.cache)]
    pub async fn from_param_field(state: &State, n: u32) -> u32 {
        n
    }

    #[cached(key = "c:<n>", cache = state.shared)]
    pub async fn from_arc_field(state: State, n: u32) -> u32 {
        let _ = state;
        n
    }

    #[cached(key = "d:<n>", cache = shared)]
    pub async fn from_arc_param(shared: Arc<Cache>, n: u32) -> u32 {
        n
    }

    #[cached(key = "e:<n>", cache = &*c)]
    pub async fn from_reborrow(c: &Cache, n: u32) -> u32 {
        n
    }

    #[cached(key = "f:<n>", cache = Cache::builder().build())]
    pub async fn from_value(n: u32) -> u32 {
        n
    }
}
