//! `#[cached_impl]` on a generic trait impl, durations from code, `ttl_from` and `key!`.
use std::time::Duration;

use layercache::{cached, cached_impl, Cache};

#[allow(async_fn_in_trait)]
pub trait Repo {
    async fn get(&self, id: u64) -> Result<String, std::io::Error>;
    async fn put(&self, id: u64, name: String) -> Result<(), std::io::Error>;
}

pub struct Store<T> {
    cache: Cache,
    inner: T,
}

pub const TTL: Duration = Duration::from_secs(300);

#[cached_impl(cache = self.cache, ttl = TTL, stale = "1h")]
impl<T: Sync + ToString> Repo for Store<T> {
    #[cached(key = "item:<id>", ttl_from = |v| Duration::from_secs(v.len() as u64 + 1))]
    async fn get(&self, id: u64) -> Result<String, std::io::Error> {
        Ok(format!("{}:{id}", self.inner.to_string()))
    }

    #[invalidates(self.get(id), key = "page:<id>", tags = ["items"])]
    async fn put(&self, id: u64, name: String) -> Result<(), std::io::Error> {
        let _ = name;
        Ok(())
    }
}

pub fn tag_of(category: &str, page: u32) -> String {
    layercache::key!("category:<category>:<p>", p = page)
}

#[cached(refresh = Duration::from_secs(60), ttl = "5m")]
pub async fn refreshed(id: u64) -> u64 {
    id
}

fn main() {}
