//! `#[cached]` and `#[invalidates]` on plain functions, free and in an impl.
use layercache::{cached, cached_impl, invalidates, Cache};

#[cached(key = "config:<name>", ttl = "1m", stale = "1h", tags = ["config"])]
pub fn config(name: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(name)
}

#[invalidates(config(name), tags = ["config"])]
pub fn write_config(name: &str, value: &str) -> Result<(), std::io::Error> {
    std::fs::write(name, value)
}

pub struct Settings {
    cache: Cache,
}

#[cached_impl(cache = self.cache)]
impl Settings {
    #[cached(key = "setting:<key>", cache_none = "10s")]
    pub fn get(&self, key: &str) -> Option<u32> {
        key.parse().ok()
    }
}

fn main() {}
