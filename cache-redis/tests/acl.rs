//! Credentials and URLs: ACL users and `requirepass` work, anything refused is a clear error at
//! connect time that never shows the password.

use std::time::Duration;

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
        .set("k", b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(layer.get("k").await.unwrap().is_some());
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
    let before = connections_received(&server);
    let err = RedisL2::connect(&url).await.unwrap_err();
    assert!(matches!(err, RedisL2Error::Auth { .. }), "{err:?}");
    // `connections_received` itself connects once with redis-cli.
    let tries = connections_received(&server) - before - 1;
    assert!(tries <= 2, "no retry loop: {tries} connections");
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
    // A generous deadline: the error comes back instead of a retry loop (no bound on speed).
    let err = tokio::time::timeout(
        WAIT,
        RedisL2::builder(format!("redis://127.0.0.1:{port}"))
            .connect_timeout(Duration::from_millis(300))
            .build(),
    )
    .await
    .expect("connecting to a closed port gave up")
    .unwrap_err();
    assert!(matches!(err, RedisL2Error::Connect { .. }), "{err:?}");
}

/// The server's count of accepted connections (`INFO stats`).
fn connections_received(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "stats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_connections_received in INFO stats")
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

/// The commands cache-redis/README.md documents for one server (Cluster adds `cluster|nodes` and
/// `cluster|slots`).
const COMMANDS: &[&str] = &[
    "get",
    "set",
    "del",
    "mget",
    "time",
    "strlen",
    "getrange",
    "pttl",
    "publish",
    "subscribe",
    "ping",
    "evalsha",
    "script|load",
];

/// The documented key patterns and channel of namespace `ns`.
fn names(ns: &str) -> [String; 3] {
    [
        format!("~{ns}:@*"),
        format!("~{{lc:{ns}}}:*"),
        format!("&{{lc:{ns}}}:bp"),
    ]
}

/// Creates user `user` (password `pw`) with `names` and `commands` on `server`.
fn create_user(server: &RedisServer, user: &str, names: &[String], commands: &[&str]) {
    let mut rules: Vec<String> = vec![
        user.into(),
        "on".into(),
        ">pw".into(),
        "resetchannels".into(),
    ];
    rules.extend(names.iter().cloned());
    rules.extend(commands.iter().map(|c| format!("+{c}")));
    let mut args = vec!["ACL", "SETUSER"];
    args.extend(rules.iter().map(String::as_str));
    assert_eq!(server.cli(&args), "OK", "ACL SETUSER {rules:?}");
}

fn user_url(server: &RedisServer, user: &str) -> String {
    format!("redis://{user}:pw@127.0.0.1:{}", server.port())
}

#[tokio::test]
async fn a_least_privilege_user_runs_the_whole_cache() {
    let server = RedisServer::start();
    let ns = "shop";
    create_user(&server, "narrow", &names(ns), COMMANDS);
    let url = user_url(&server, "narrow");
    // Checked at connect with the namespace, and without it (commands at connect, keys at attach).
    // A generous timeout: a slow answer on a loaded machine must not look like a refusal.
    let a = RedisL2::builder(&url)
        .namespace(ns)
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("connect a");
    let b = RedisL2::builder(&url)
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("connect b");
    let cache = |layer: &RedisL2| {
        cache_core::Cache::builder()
            .namespace(ns)
            .l2(layer.clone())
            .build()
    };
    let (ca, cb) = (cache(&a), cache(&b));
    eventually(WAIT, "both subscribed", || async {
        a.backplane_connected() && b.backplane_connected()
    })
    .await;
    let opts = cache_core::EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .with_tags(vec!["catalog".into()])
        .lock(true);
    let load = |v: &'static str| move || async move { Ok::<_, std::io::Error>(v.to_string()) };
    assert_eq!(ca.get_or_load("k", &opts, load("v1")).await.unwrap(), "v1");
    assert_eq!(
        cb.get_or_load("k", &opts, load("b")).await.unwrap(),
        "v1",
        "from L2"
    );
    ca.invalidate("k").await;
    ca.invalidate_tag("catalog").await;
    ca.clear().await;
    eventually(WAIT, "B hears A's invalidations", || async {
        cb.stats().invalidations_received >= 3
    })
    .await;
    assert_eq!(cb.get_or_load("k", &opts, load("v2")).await.unwrap(), "v2");
    for (name, c) in [("a", &ca), ("b", &cb)] {
        let s = c.stats();
        assert_eq!(
            (s.l2_errors, s.l2_refused, s.pending_invalidations),
            (0, 0, 0),
            "{name}: {s:?}"
        );
    }
}

#[tokio::test]
async fn each_missing_permission_is_a_connect_error_naming_it() {
    let server = RedisServer::start();
    let ns = "shop";
    let all = names(ns);
    // One command missing at a time.
    for (i, missing) in COMMANDS.iter().enumerate() {
        let user = format!("no-cmd-{i}");
        let commands: Vec<&str> = COMMANDS.iter().copied().filter(|c| c != missing).collect();
        create_user(&server, &user, &all, &commands);
        for namespace in [Some(ns), None] {
            let mut builder = RedisL2::builder(user_url(&server, &user));
            if let Some(ns) = namespace {
                builder = builder.namespace(ns);
            }
            let err = builder.build().await.map(drop).expect_err(missing);
            let text = err.to_string();
            let named = missing.replace('|', " ").to_uppercase();
            let RedisL2Error::Permission { what, .. } = &err else {
                panic!("{missing}: {err:?}");
            };
            assert!(what.contains(&format!("`{named}`")), "{missing}: {text}");
            assert!(!text.contains(":pw@"), "password shown: {text}");
        }
    }
    // One key pattern or the channel missing at a time: named at connect with the namespace.
    for (i, missing) in all.iter().enumerate() {
        let user = format!("no-name-{i}");
        let kept: Vec<String> = all.iter().filter(|n| *n != missing).cloned().collect();
        create_user(&server, &user, &kept, COMMANDS);
        let err = RedisL2::builder(user_url(&server, &user))
            .namespace(ns)
            .build()
            .await
            .map(drop)
            .expect_err(missing);
        let RedisL2Error::Permission { what, .. } = &err else {
            panic!("{missing}: {err:?}");
        };
        assert!(
            what.contains(&format!("`{}`", &missing[1..])),
            "{missing}: {err}"
        );
    }
}
