//! Credentials and URLs: ACL users and `requirepass` work, anything refused is a clear error at
//! connect time that never shows the password.

use std::time::{Duration, Instant};

use cache_core::L2;
use cache_redis::{RedisL2, RedisL2Error};
use layercache_test_support::{eventually, free_port, namespace, Recorder, RedisServer};

const WAIT: Duration = Duration::from_secs(5);

fn acl_server() -> RedisServer {
    RedisServer::start_with(
        &[
            "--requirepass",
            "adminpass",
            "--user",
            "app",
            "on",
            ">app-secret",
            "~*",
            "&*",
            "+@all",
        ],
        Some("adminpass"),
    )
}

#[tokio::test]
async fn acl_user_connects_and_the_backplane_works() {
    let server = acl_server();
    let url = format!("redis://app:app-secret@127.0.0.1:{}", server.port());
    let ns = namespace("acl");
    let layer = RedisL2::connect(&url).await.expect("ACL user connects");
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    layer
        .set(&format!("{ns}:k"), b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(layer.get(&format!("{ns}:k")).await.unwrap().is_some());
    eventually(WAIT, "subscribed with the ACL user", || async {
        layer.backplane_connected()
    })
    .await;
    let message = cache_core::InvalidationMessage {
        origin: 1,
        invalidation: cache_core::Invalidation::Clear,
    };
    layer.publish(&message).await.unwrap();
    eventually(WAIT, "message delivered", || async {
        events.messages() == vec![message.clone()]
    })
    .await;
}

#[tokio::test]
async fn requirepass_password_connects() {
    let server = acl_server();
    let url = format!("redis://:adminpass@127.0.0.1:{}", server.port());
    RedisL2::connect(&url).await.expect("default user connects");
}

#[tokio::test]
async fn wrong_password_is_a_clear_auth_error_at_connect() {
    let server = acl_server();
    let url = format!("redis://app:not-the-password@127.0.0.1:{}", server.port());
    let started = Instant::now();
    let err = RedisL2::connect(&url).await.unwrap_err();
    assert!(matches!(err, RedisL2Error::Auth { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "no retry loop");
    let text = err.to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(text.contains("app:***@"), "{text}");
    assert!(
        !text.contains("not-the-password"),
        "password leaked: {text}"
    );
}

#[tokio::test]
async fn missing_password_is_an_auth_error_at_connect() {
    let server = acl_server();
    let err = RedisL2::connect(server.url()).await.unwrap_err();
    assert!(matches!(err, RedisL2Error::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error_within_the_connect_timeout() {
    let port = free_port();
    let started = Instant::now();
    let err = RedisL2::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RedisL2Error::Connect { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn malformed_urls_are_rejected() {
    let err = RedisL2::connect("http://127.0.0.1:1").await.unwrap_err();
    assert!(matches!(err, RedisL2Error::InvalidUrl { .. }), "{err:?}");
    let err = RedisL2::cluster(Vec::<String>::new()).await.unwrap_err();
    assert!(matches!(err, RedisL2Error::Config(_)), "{err:?}");
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn rediss_without_the_tls_feature_says_which_feature_to_enable() {
    let err = RedisL2::connect("rediss://u:secret@127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, RedisL2Error::TlsNotEnabled { .. }), "{err:?}");
    assert!(err.to_string().contains("`tls` feature"));
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn a_user_with_only_the_documented_commands_is_enough() {
    let server = RedisServer::start_with(
        &[
            "--user",
            "narrow",
            "on",
            ">pw",
            "~*",
            "&*",
            "+get",
            "+set",
            "+del",
            "+mget",
            "+incr",
            "+publish",
            "+subscribe",
            "+ping",
            "+time",
            "+evalsha",
            "+script|load",
        ],
        None,
    );
    let url = format!("redis://narrow:pw@127.0.0.1:{}", server.port());
    let ns = namespace("acl-narrow");
    let layer = RedisL2::connect(&url).await.expect("connect");
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    let key = format!("{ns}:k");
    layer
        .set(&key, b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(layer.get(&key).await.unwrap().is_some());
    layer.delete(&key).await.unwrap();
    let version = layer.bump_tag("t").await.unwrap();
    assert_eq!(
        layer.tag_versions(&["t".into()]).await.unwrap(),
        vec![version]
    );
    layer.clear().await.unwrap();
    assert!(layer
        .try_lock(&key, "a", Duration::from_secs(5))
        .await
        .unwrap());
    layer.unlock(&key, "a").await.unwrap();
    eventually(WAIT, "subscribed", || async { layer.backplane_connected() }).await;
    let message = cache_core::InvalidationMessage {
        origin: 1,
        invalidation: cache_core::Invalidation::Clear,
    };
    layer.publish(&message).await.unwrap();
    eventually(WAIT, "message delivered", || async {
        events.messages() == vec![message.clone()]
    })
    .await;
}
