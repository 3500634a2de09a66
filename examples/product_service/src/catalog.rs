//! `ProductService`: the cached reads and the invalidating writes, over [`Db`].
//!
//! Reads go L1 → Redis → SQLite; writes go to SQLite first, then remove what they changed from
//! every instance's cache (`#[invalidates]` runs after the body, and only on `Ok`).

use std::sync::Arc;

use layercache::{cached, invalidates, Cache, Stats};

use crate::db::{Db, DbError, Product, ProductInput};

/// Why a call of the service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The product catalogue, cached.
pub struct ProductService {
    db: Db,
    cache: Cache,
}

impl ProductService {
    pub fn new(db: Db, cache: Cache) -> ProductService {
        ProductService { db, cache }
    }

    /// One product. A missing id is not cached (`None` is returned, not stored), so a product
    /// created later is found at once. While SQLite fails, a value up to an hour old is served.
    #[cached(key = "product:<id>", ttl = "10m", l1_ttl = "1m", l2, stale = "1h", cache = self.cache)]
    pub async fn product(&self, id: i64) -> Result<Option<Product>, ServiceError> {
        Ok(self.db.product(id).await?)
    }

    /// Every product of a category, tagged so any write to the category drops it everywhere.
    #[cached(
        key = "category:<category>",
        ttl = "5m",
        l1_ttl = "30s",
        l2,
        stale = "1h",
        tags = ["catalog", "category:<category>"],
        cache = self.cache,
    )]
    pub async fn category(&self, category: &str) -> Result<Arc<Vec<Product>>, ServiceError> {
        Ok(Arc::new(self.db.by_category(category).await?))
    }

    /// Replaces a product; `None` when there is no such id. Drops the product and its category's
    /// list, and the list of the category it left, if it moved.
    #[invalidates(self.product(id), tags = ["category:<input.category>"], cache = self.cache)]
    pub async fn update(
        &self,
        id: i64,
        input: ProductInput,
    ) -> Result<Option<Product>, ServiceError> {
        let Some((product, old_category)) = self.db.update(id, input).await? else {
            return Ok(None);
        };
        if old_category != product.category {
            self.forget_category(&old_category).await;
        }
        Ok(Some(product))
    }

    /// Adds a product; its category's list is dropped everywhere.
    #[invalidates(tags = ["category:<input.category>"], cache = self.cache)]
    pub async fn create(&self, input: ProductInput) -> Result<Product, ServiceError> {
        Ok(self.db.insert(input).await?)
    }

    /// Drops one category's list (the tag is rendered exactly as `category` renders it).
    #[invalidates(tags = ["category:<category>"], cache = self.cache)]
    async fn forget_category(&self, category: &str) {}

    /// The cache's counters.
    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }

    /// Sets the cache's counters in the installed `metrics` recorder now (a background task of
    /// the cache also does it every second).
    pub fn publish_metrics(&self) {
        self.cache.publish_metrics();
    }
}
