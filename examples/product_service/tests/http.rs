//! Two instances of the product service (each with its own cache) on one Redis and one
//! SQLite file, driven over HTTP: a write on one is seen by a read on the other.
//!
//! The instances run in this process, built by the example's own `app::build`; they share nothing
//! but the Redis server (started here on a free port) and the database file. Every wait polls up
//! to a deadline; nothing depends on how fast the machine is.

use std::future::Future;
use std::time::Duration;

use layercache_test_support::{eventually, RedisServer};
use product_service::app;
use product_service::db::{Product, ProductInput};
use reqwest::StatusCode;

/// How long a change may take to reach the other instance before the test fails.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(10);
/// Bound on the whole test, so a hang fails instead of stalling the suite.
const TEST_DEADLINE: Duration = Duration::from_secs(45);

/// One running instance.
struct Instance {
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(settings: &app::Settings) -> Instance {
    let router = app::build(settings).await.expect("instance builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Instance { base, server }
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    fn new() -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        Client { http }
    }

    async fn product(&self, on: &Instance, id: i64) -> Product {
        let response = self
            .http
            .get(format!("{}/products/{id}", on.base))
            .send()
            .await
            .expect("GET product");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("product JSON")
    }

    async fn category(&self, on: &Instance, category: &str) -> Vec<Product> {
        let response = self
            .http
            .get(format!("{}/products?category={category}", on.base))
            .send()
            .await
            .expect("GET list");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("list JSON")
    }

    async fn put(&self, on: &Instance, id: i64, input: &ProductInput) -> Product {
        let response = self
            .http
            .put(format!("{}/products/{id}", on.base))
            .json(input)
            .send()
            .await
            .expect("PUT product");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("product JSON")
    }

    async fn post(&self, on: &Instance, input: &ProductInput) -> Product {
        let response = self
            .http
            .post(format!("{}/products", on.base))
            .json(input)
            .send()
            .await
            .expect("POST product");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("product JSON")
    }

    async fn status(&self, on: &Instance, path: &str) -> StatusCode {
        self.http
            .get(format!("{}{path}", on.base))
            .send()
            .await
            .map(|r| r.status())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// The instance's L1 hits so far, from `GET /stats`.
    async fn l1_hits(&self, on: &Instance) -> u64 {
        let stats: serde_json::Value =
            serde_json::from_str(&self.text(on, "/stats").await).expect("stats JSON");
        stats["l1_hits"].as_u64().expect("l1_hits in /stats")
    }

    async fn text(&self, on: &Instance, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", on.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.expect("body")
    }
}

fn input_from(p: &Product) -> ProductInput {
    ProductInput {
        name: p.name.clone(),
        category: p.category.clone(),
        price_cents: p.price_cents,
        stock: p.stock,
        description: p.description.clone(),
    }
}

/// Both instances up, sharing one Redis and one database, each subscribed to the backplane.
async fn two_instances(redis: &RedisServer, dir: &tempfile::TempDir) -> (Instance, Instance) {
    let settings = app::Settings {
        db_path: dir.path().join("products.db"),
        redis_url: Some(redis.url()),
        namespace: "products-test:v1".into(),
    };
    let a = start(&settings).await;
    let b = start(&settings).await;
    let client = Client::new();
    for instance in [&a, &b] {
        eventually(PROPAGATION_DEADLINE, "instance ready", || async {
            client.status(instance, "/ready").await == StatusCode::OK
        })
        .await;
    }
    (a, b)
}

async fn within_deadline(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_DEADLINE, test)
        .await
        .expect("the test finished before its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_on_one_instance_is_seen_by_a_get_on_the_other() {
    within_deadline(async {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = two_instances(&redis, &dir).await;
        let client = Client::new();

        // B caches product 42 (the second read is an L1 hit), A changes it.
        let before = client.product(&b, 42).await;
        let hits = client.l1_hits(&b).await;
        assert_eq!(client.product(&b, 42).await, before);
        assert_eq!(client.l1_hits(&b).await, hits + 1, "B's second read hit L1");
        assert_eq!(
            client.product(&a, 42).await,
            before,
            "A reads the same value"
        );
        let mut input = input_from(&before);
        input.price_cents = before.price_cents + 1_000;
        input.name = format!("{} (new)", before.name);
        let after = client.put(&a, 42, &input).await;
        assert_eq!(after.price_cents, before.price_cents + 1_000);

        eventually(PROPAGATION_DEADLINE, "B serves A's update", || async {
            client.product(&b, 42).await == after
        })
        .await;
        assert_eq!(client.product(&a, 42).await, after);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_lists_follow_posts_and_moves_on_the_other_instance() {
    within_deadline(async {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = two_instances(&redis, &dir).await;
        let client = Client::new();

        let books = client.category(&b, "books").await;
        assert_eq!(
            books.len(),
            500,
            "10,000 seeded products over 20 categories"
        );
        let garden = client.category(&b, "garden").await;

        // A new book, posted on A, shows up in B's cached list.
        let new_book = client
            .post(
                &a,
                &ProductInput {
                    name: "Field guide to caches".into(),
                    category: "books".into(),
                    price_cents: 2_500,
                    stock: 3,
                    description: "Where values live, and for how long.".into(),
                },
            )
            .await;
        eventually(
            PROPAGATION_DEADLINE,
            "B's books list has the new book",
            || async { client.category(&b, "books").await.contains(&new_book) },
        )
        .await;
        assert_eq!(client.product(&b, new_book.id).await, new_book);

        // A book moved to garden on A leaves B's books list and joins B's garden list.
        let moved = books[0].clone();
        let mut input = input_from(&moved);
        input.category = "garden".into();
        let moved = client.put(&a, moved.id, &input).await;
        eventually(PROPAGATION_DEADLINE, "B's lists show the move", || async {
            let books = client.category(&b, "books").await;
            let garden_now = client.category(&b, "garden").await;
            !books.iter().any(|p| p.id == moved.id) && garden_now.contains(&moved)
        })
        .await;
        assert_eq!(client.category(&b, "garden").await.len(), garden.len() + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_metrics_and_errors_over_http() {
    within_deadline(async {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, _b) = two_instances(&redis, &dir).await;
        let client = Client::new();

        client.product(&a, 7).await;
        client.product(&a, 7).await;
        let stats: serde_json::Value =
            serde_json::from_str(&client.text(&a, "/stats").await).expect("stats JSON");
        assert!(stats["l1_hits"].as_u64() >= Some(1), "{stats}");
        assert!(stats["loads"].as_u64() >= Some(1), "{stats}");

        let metrics = client.text(&a, "/metrics").await;
        for needle in [
            "layercache_l1_hits_total",
            "layercache_loads_total",
            "layercache_breaker_open",
            // layercache's own load-time histogram, per function
            "layercache_load_duration_seconds_bucket",
            "function=\"product_service::catalog::",
            "http_request_duration_seconds_bucket",
            "route=\"/products/{id}\"",
        ] {
            assert!(
                metrics.contains(needle),
                "{needle} missing from:\n{metrics}"
            );
        }

        assert_eq!(
            client.status(&a, "/products/999999").await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            client.status(&a, "/products").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a list needs a category"
        );
        let bad = client
            .http
            .put(format!("{}/products/7", a.base))
            .json(&serde_json::json!({ "name": "", "category": "x", "price_cents": 1, "stock": 1 }))
            .send()
            .await
            .expect("PUT");
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}
