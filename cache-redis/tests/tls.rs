//! `rediss://` with the `tls` feature, against a redis-server with a self-signed certificate made
//! by the `openssl` command. Run with `cargo test -p cache-redis --features tls`.
#![cfg(feature = "tls")]

use std::process::Command;
use std::time::Duration;

use cache_core::L2;
use cache_redis::RedisL2;
use layercache_test_support::{eventually, free_port, namespace, Recorder, RedisServer};

#[tokio::test]
async fn rediss_url_connects_and_the_backplane_works_over_tls() {
    let certs = tempfile::tempdir().expect("temp dir");
    let dir = certs.path();
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-days",
            "1",
            "-subj",
            "/CN=layercache test CA",
        ],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    );
    openssl(
        dir,
        &["req", "-subj", "/CN=localhost"],
        &ec,
        &["-keyout", "key.pem", "-out", "server.csr"],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
        ],
        &["-CAcreateserial", "-days", "1", "-extfile", "san.ext"],
        &["-out", "cert.pem"],
    );
    let (cert, key, ca) = (
        dir.join("cert.pem").to_string_lossy().into_owned(),
        dir.join("key.pem").to_string_lossy().into_owned(),
        dir.join("ca.pem").to_string_lossy().into_owned(),
    );
    let tls_port = free_port().to_string();
    // The plain port stays open for the readiness check and redis-cli.
    let server = RedisServer::start_with(
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ],
        None,
    );

    // A private CA, trusted explicitly: the server certificate is fully verified.
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let pem = std::fs::read(&ca).expect("CA");
    let ns = namespace("tls");
    let layer = RedisL2::builder(&url)
        .tls_root_cert(pem)
        .build()
        .await
        .expect("TLS connect");
    let events = Recorder::new();
    layer.attach(&ns, 1, events.clone());
    let k = "k".to_owned();
    layer
        .set(&k, b"over tls".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    let stored = server.cli(&["GET", &format!("{ns}:@:k")]);
    assert!(
        stored.starts_with('V') && stored.ends_with(":over tls"),
        "{stored}"
    );
    assert_eq!(
        layer.get(&k).await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    eventually(Duration::from_secs(5), "subscribed over TLS", || async {
        layer.backplane_connected()
    })
    .await;
    let message = cache_core::InvalidationMessage {
        origin: 1,
        invalidation: cache_core::Invalidation::Clear,
    };
    layer.publish(&message).await.unwrap();
    eventually(Duration::from_secs(5), "message over TLS", || async {
        events.messages() == vec![message.clone()]
    })
    .await;

    // Without trusting the CA, the certificate is refused at connect.
    let strict = RedisL2::connect(&url).await;
    assert!(
        strict.is_err(),
        "an unverifiable certificate must not be accepted"
    );
    #[cfg(feature = "tls-insecure")]
    RedisL2::connect(format!("{url}/#insecure"))
        .await
        .expect("#insecure skips the checks");
}

fn openssl(dir: &std::path::Path, a: &[&str], b: &[&str], c: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(a)
        .args(b)
        .args(c)
        .output()
        .expect("openssl on PATH");
    assert!(
        out.status.success(),
        "openssl {a:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
