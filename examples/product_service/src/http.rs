//! The HTTP face of the service: routes, JSON errors, `/stats` and Prometheus `/metrics`.
//!
//! Metrics go through the `metrics` facade into one Prometheus recorder per process: the cache's
//! own figures (`layercache_…`, published by layercache itself) and this service's request
//! latencies. Two apps in one process, as in the integration test, share it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use layercache::{RedisL2, Stats, L2};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;

use crate::catalog::{ProductService, ServiceError};
use crate::db::{Product, ProductInput};

/// Upper bounds of the request-latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];
const LATENCY_METRIC: &str = "http_request_duration_seconds";
/// Upper bounds of the buckets of layercache's load-duration histogram, in seconds.
const LOAD_BUCKETS: [f64; 10] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];
const LOAD_METRIC: &str = "layercache_load_duration_seconds";

/// The process's Prometheus recorder, installed as the global `metrics` recorder on first use
/// (before the cache is built, so its first load is recorded too).
pub fn prometheus_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY_METRIC.into()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(LOAD_METRIC.into()), &LOAD_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows nothing");
        }
        handle
    })
}

/// What every handler shares.
pub struct AppState {
    service: ProductService,
    /// The Redis layer, for the readiness check.
    l2: Option<RedisL2>,
    metrics: &'static PrometheusHandle,
}

/// The routes of one instance; `l2` is the layer its cache uses, if any.
pub fn router(service: ProductService, l2: Option<RedisL2>) -> Router {
    let state = Arc::new(AppState {
        service,
        l2,
        metrics: prometheus_handle(),
    });
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product).put(update_product))
        .route("/stats", get(stats))
        .route("/metrics", get(prometheus))
        .route("/ready", get(ready))
        .route_layer(middleware::from_fn(track_latency))
        .with_state(state)
}

/// An error as the client sees it: a status and a JSON `{"error": "..."}`.
#[derive(Debug)]
pub enum ApiError {
    NotFound,
    Invalid(String),
    Internal(ServiceError),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such product".to_owned()),
            ApiError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

async fn get_product(
    State(app): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Json<Product>, ApiError> {
    let product = app.service.product(id).await?;
    product.map(Json).ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct ListQuery {
    category: Option<String>,
}

async fn list_products(
    State(app): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Arc<Vec<Product>>>, ApiError> {
    let category = query
        .category
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::Invalid("query parameter `category` is required".into()))?;
    Ok(Json(app.service.category(&category).await?))
}

async fn update_product(
    State(app): State<Arc<AppState>>,
    Path(id): Path<i64>,
    Json(input): Json<ProductInput>,
) -> Result<Json<Product>, ApiError> {
    validate(&input)?;
    let product = app.service.update(id, input).await?;
    product.map(Json).ok_or(ApiError::NotFound)
}

async fn create_product(
    State(app): State<Arc<AppState>>,
    Json(input): Json<ProductInput>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    validate(&input)?;
    let product = app.service.create(input).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

fn validate(input: &ProductInput) -> Result<(), ApiError> {
    let invalid = |why: &str| Err(ApiError::Invalid(why.to_owned()));
    if input.name.trim().is_empty() || input.name.len() > 200 {
        return invalid("`name` must have 1 to 200 characters");
    }
    if input.category.trim().is_empty() || input.category.len() > 64 {
        return invalid("`category` must have 1 to 64 characters");
    }
    if input.price_cents < 0 || input.stock < 0 {
        return invalid("`price_cents` and `stock` must not be negative");
    }
    Ok(())
}

/// 200 once the instance hears other instances' invalidations (its backplane subscription is
/// up), 503 before that or while Redis is unreachable. Without Redis it is always ready.
async fn ready(State(app): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    match &app.l2 {
        Some(layer) if !layer.backplane_connected() => {
            (StatusCode::SERVICE_UNAVAILABLE, "backplane not connected")
        }
        _ => (StatusCode::OK, "ready"),
    }
}

async fn stats(State(app): State<Arc<AppState>>) -> Json<Stats> {
    Json(app.service.stats())
}

/// Prometheus text: the cache's figures (set by layercache, refreshed here so the scrape is
/// exact) and the request latencies.
async fn prometheus(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    app.service.publish_metrics();
    app.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// Records each request's latency by method, route template and status.
async fn track_latency(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(LATENCY_METRIC, "method" => method, "route" => route, "status" => status)
        .record(seconds);
    response
}
