//! `#[cached(l2)]` with nothing installed runs from the L1-only default and says so once per
//! function, at WARN, naming the function and the fix. (Its own test binary: nothing here may
//! install a global cache.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use layercache::cached;

#[cached(key = "l2-default:<n>", l2)]
async fn shared_value(n: u32) -> u32 {
    n
}

#[cached(key = "l2-default-other:<n>", l2)]
async fn other_shared_value(n: u32) -> u32 {
    n
}

#[cached(key = "l1-default:<n>")]
async fn local_value(n: u32) -> u32 {
    n
}

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn l2_functions_warn_once_each_when_nothing_is_installed() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    for n in 0..3 {
        shared_value(n).await;
        other_shared_value(n).await;
        local_value(n).await;
    }
    let text = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "one warning per l2 function: {text}");
    assert!(warnings[0].contains("macros_l2_without_install::shared_value"));
    assert!(warnings[1].contains("macros_l2_without_install::other_shared_value"));
    assert!(warnings.iter().all(|w| w.contains("layercache::install")));
}
