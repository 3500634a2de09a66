//! Parameters may use the names of the generated locals; attributes, docs, raw identifiers,
//! `mut` parameters, nested and tuple fields, and generic `impl`s all work.
use layercache::{cached, invalidates, Cache};

#[derive(Clone)]
pub struct Inner {
    pub code: String,
}

pub struct Outer {
    pub inner: Inner,
    pub pair: (u32, String),
}

/// Docs stay on the function.
#[must_use = "the value is the point"]
#[cached(key = "h:<key>:<plan.inner.code>:<plan.pair.0>:<options>", tags = ["t:<t>"], cache = cache, condition = unless > 0)]
pub async fn every_local_name(
    cache: &Cache,
    key: &str,
    plan: &Outer,
    options: u8,
    unless: i32,
    t: bool,
    this: u8,
    k: u8,
) -> String {
    format!("{key}{options}{unless}{t}{this}{k}{}", plan.pair.1)
}

#[invalidates(every_local_name(cache, key, plan, options, unless, t, this, k), key = "h:<key>", tags = ["t:<t>"], cache = cache)]
pub async fn writer_with_local_names(
    cache: &Cache,
    key: &str,
    plan: &Outer,
    options: u8,
    unless: i32,
    t: bool,
    this: u8,
    k: u8,
    result: u8,
    invalidation: u8,
) -> u8 {
    result + invalidation
}

#[cached(key = "raw:<r#type>")]
pub async fn r#match(r#type: u32, mut count: u32) -> u32 {
    count += r#type;
    count
}

#[invalidates(r#match(1, 2))]
pub async fn reset_match() {}

#[cfg(any())]
#[cached]
pub async fn compiled_out(x: UnknownType) -> u32 {
    x
}

#[cached(key = "lt:<<literal>>:<n>")]
#[cfg(all())]
#[allow(clippy::needless_return)]
pub async fn kept(n: u32) -> u32 {
    return n;
}

pub struct Store<T> {
    cache: Cache,
    items: Vec<T>,
}

impl<T: Send + Sync + 'static> Store<T> {
    #[cached(cache = self.cache)]
    pub async fn len_at_least(&self, n: usize) -> bool {
        self.items.len() >= n
    }

    #[cached(key = "count", cache = self.cache, ttl = "1s")]
    pub async fn count<'a>(&'a self) -> usize {
        self.items.len()
    }

    #[invalidates(self.len_at_least(n), self.count())]
    pub async fn push(&self, n: usize) {}
}

fn main() {
    let _ = (reset_match(), kept(1));
}
