//! The source of truth: products in one SQLite file, shared by every instance of the service.
//!
//! rusqlite is blocking, so each query runs on tokio's blocking pool; one connection per instance
//! (behind a mutex) is enough for an example. WAL mode and a busy timeout let several processes
//! read and write the same file.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};

/// How many products an empty database is seeded with.
pub const SEED_PRODUCTS: i64 = 10_000;

/// The categories seeded products are spread over (500 products each).
pub const CATEGORIES: [&str; 20] = [
    "books", "garden", "kitchen", "lighting", "office", "outdoor", "pets", "toys", "tools",
    "audio", "bath", "bedding", "bikes", "cameras", "climbing", "coffee", "crafts", "games",
    "music", "travel",
];

/// One product, as stored and as served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i64,
    pub description: String,
}

/// What a client sends to create or replace a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductInput {
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i64,
    #[serde(default)]
    pub description: String,
}

/// A query that failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A handle on the database (cheap to clone).
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

const COLUMNS: &str = "id, name, category, price_cents, stock, description";

impl Db {
    /// Opens (or creates) the database at `path` and seeds it when it holds no product.
    /// Blocking: call it from `spawn_blocking` or before the runtime is busy.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS products (
                 id          INTEGER PRIMARY KEY AUTOINCREMENT,
                 name        TEXT    NOT NULL,
                 category    TEXT    NOT NULL,
                 price_cents INTEGER NOT NULL,
                 stock       INTEGER NOT NULL,
                 description TEXT    NOT NULL
             );
             CREATE INDEX IF NOT EXISTS products_by_category ON products (category, id);",
        )?;
        seed(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// One product, or `None` when there is no such id.
    pub async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
        self.run(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM products WHERE id = ?1"),
                [id],
                product_from_row,
            )
            .optional()
        })
        .await
    }

    /// Every product of `category`, by id.
    pub async fn by_category(&self, category: &str) -> Result<Vec<Product>, DbError> {
        let category = category.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM products WHERE category = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([category], product_from_row)?;
            rows.collect()
        })
        .await
    }

    /// Replaces product `id`; returns it with the category it had before, or `None` when there
    /// is no such id.
    pub async fn update(
        &self,
        id: i64,
        input: ProductInput,
    ) -> Result<Option<(Product, String)>, DbError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old_category: Option<String> = tx
                .query_row("SELECT category FROM products WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(old_category) = old_category else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE products SET name = ?2, category = ?3, price_cents = ?4, stock = ?5,
                     description = ?6 WHERE id = ?1",
                params![
                    id,
                    input.name,
                    input.category,
                    input.price_cents,
                    input.stock,
                    input.description
                ],
            )?;
            tx.commit()?;
            Ok(Some((product_with_id(id, input), old_category)))
        })
        .await
    }

    /// Inserts a new product and returns it with its id.
    pub async fn insert(&self, input: ProductInput) -> Result<Product, DbError> {
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO products (name, category, price_cents, stock, description)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    input.name,
                    input.category,
                    input.price_cents,
                    input.stock,
                    input.description
                ],
            )?;
            Ok(product_with_id(conn.last_insert_rowid(), input))
        })
        .await
    }

    /// Runs `query` on the blocking pool with this instance's connection.
    async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let result = tokio::task::spawn_blocking(move || query(&mut lock(&conn))).await?;
        Ok(result?)
    }
}

/// A panic in another query cannot leave the connection half-used (SQLite rolls back the open
/// statement), so a poisoned lock is still safe to use.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: row.get(0)?,
        name: row.get(1)?,
        category: row.get(2)?,
        price_cents: row.get(3)?,
        stock: row.get(4)?,
        description: row.get(5)?,
    })
}

fn product_with_id(id: i64, input: ProductInput) -> Product {
    Product {
        id,
        name: input.name,
        category: input.category,
        price_cents: input.price_cents,
        stock: input.stock,
        description: input.description,
    }
}

/// Fills an empty table with [`SEED_PRODUCTS`] deterministic products, in one transaction
/// (taken for writing first, so two instances starting at once seed it once).
fn seed(conn: &mut Connection) -> Result<(), DbError> {
    const ADJECTIVES: [&str; 8] = [
        "Classic",
        "Compact",
        "Deluxe",
        "Everyday",
        "Heavy-duty",
        "Lightweight",
        "Premium",
        "Travel",
    ];
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let count: i64 = tx.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0))?;
    if count == 0 {
        let mut insert = tx.prepare(
            "INSERT INTO products (id, name, category, price_cents, stock, description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for id in 1..=SEED_PRODUCTS {
            let category = CATEGORIES[(id as usize) % CATEGORIES.len()];
            let adjective = ADJECTIVES[(id as usize / CATEGORIES.len()) % ADJECTIVES.len()];
            insert.execute(params![
                id,
                format!("{adjective} {category} item #{id}"),
                category,
                499 + (id * 37) % 20_000,
                (id * 13) % 250,
                format!(
                    "A {} piece from our {category} range. Seeded product {id} of {SEED_PRODUCTS}.",
                    adjective.to_lowercase()
                ),
            ])?;
        }
        drop(insert);
        tracing::info!(products = SEED_PRODUCTS, "seeded an empty database");
    }
    tx.commit()?;
    Ok(())
}
