//! The layer when its server dies, restarts or freezes: errors stay bounded, the shared connection
//! and the backplane come back by themselves.

use std::time::Duration;

use cache_core::{Invalidation, InvalidationMessage, L2};
use cache_redis::RedisL2;
use layercache_test_support::{eventually, namespace, Recorder, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

async fn fast_layer(server: &RedisServer) -> RedisL2 {
    RedisL2::builder(server.url())
        .connect_timeout(Duration::from_millis(300))
        .health_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("connect")
}

fn key_message(origin: u64, key: &str) -> InvalidationMessage {
    InvalidationMessage {
        origin,
        invalidation: Invalidation::Key(key.to_owned()),
    }
}

#[tokio::test]
async fn backplane_reconnects_after_the_server_is_killed_and_restarted() {
    let mut server = RedisServer::start();
    let ns = namespace("restart");
    let layer = fast_layer(&server).await;
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    eventually(WAIT, "subscribed", || async { layer.backplane_connected() }).await;

    server.kill();
    eventually(WAIT, "disconnect noticed", || async {
        events.disconnects() >= 1 && !layer.backplane_connected()
    })
    .await;
    assert!(layer.get("k").await.is_err(), "server is down");

    server.restart();
    eventually(WAIT, "resubscribed", || async {
        events.reconnects() >= 1 && layer.backplane_connected()
    })
    .await;
    // The shared connection is back too.
    eventually(WAIT, "data connection back", || async {
        layer
            .set("k", b"v".to_vec(), Duration::from_secs(60))
            .await
            .is_ok()
    })
    .await;
    assert!(layer.get("k").await.unwrap().is_some());
    let message = key_message(7, "k");
    layer.publish(&message).await.unwrap();
    eventually(WAIT, "message after restart delivered", || async {
        events.messages().contains(&message)
    })
    .await;
}

#[tokio::test]
async fn a_frozen_server_is_noticed_and_calls_recover_when_it_resumes() {
    let server = RedisServer::start();
    let ns = namespace("sigstop");
    let layer = fast_layer(&server).await;
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    eventually(WAIT, "subscribed", || async { layer.backplane_connected() }).await;
    let key = "k".to_owned();
    layer
        .set(&key, b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();

    server.pause();
    // The cache bounds each call by the policy timeout; the layer's own response timeout is the
    // backstop for direct callers.
    let timeout = layer.policy().timeout;
    let bounded = tokio::time::timeout(timeout, layer.get(&key)).await;
    assert!(bounded.is_err(), "a frozen server cannot answer");
    let direct = layer.get(&key).await;
    assert!(direct.is_err());
    eventually(WAIT, "frozen backplane noticed by PING", || async {
        !layer.backplane_connected()
    })
    .await;

    server.resume();
    eventually(WAIT, "backplane back after resume", || async {
        events.reconnects() >= 1 && layer.backplane_connected()
    })
    .await;
    eventually(WAIT, "reads answer again", || async {
        matches!(layer.get(&key).await, Ok(Some(_)))
    })
    .await;
}

#[tokio::test]
async fn a_layer_attached_while_the_server_is_down_subscribes_when_it_comes_up() {
    let mut server = RedisServer::start();
    let ns = namespace("late-server");
    let layer = fast_layer(&server).await;
    server.kill();
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    assert!(!layer.backplane_connected());
    assert!(layer.get("k").await.is_err());

    server.restart();
    eventually(WAIT, "subscribed once the server is up", || async {
        layer.backplane_connected()
    })
    .await;
    // Attached before the subscription existed: the listener may have missed messages.
    assert!(events.reconnects() >= 1);
    eventually(WAIT, "reads work", || async {
        layer.get("k").await.is_ok()
    })
    .await;
}
