//! The cache's figures through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): whatever recorder the program installed (Prometheus, StatsD, OpenTelemetry…)
//! receives them.
//!
//! - Every [`Stats`] field, labelled `namespace`: counters as `layercache_<field>_total`, gauges
//!   as `layercache_<field>` (see [`StatField`](crate::StatField)). The hit path only bumps the
//!   cache's own striped counters, as without the feature; `Cache::publish_metrics` sets the
//!   totals in the recorder, and a background task calls it every second.
//! - `layercache_load_duration_seconds`, a histogram of loader calls labelled `namespace`,
//!   `function` (the `#[cached]` function's path, or what
//!   [`EntryOptions::function`](crate::EntryOptions::function) names) and `outcome` (`ok`,
//!   `error`, `timeout`). Its count is the number of loads per function.
//!
//! Labels are bounded: namespaces and function paths, never keys.

#[cfg(feature = "metrics")]
use crate::stats::Stats;

/// What a loader call ended in, as the `outcome` label of the load-duration histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadOutcome {
    /// The loader returned a value.
    Ok,
    /// The loader returned an error or panicked.
    Error,
    /// The loader was cut off by `timeout`.
    Timeout,
}

impl LoadOutcome {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            LoadOutcome::Ok => "ok",
            LoadOutcome::Error => "error",
            LoadOutcome::Timeout => "timeout",
        }
    }
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::Arc;
    use std::time::Duration;

    use metrics::SharedString;

    use super::{LoadOutcome, Stats};
    use crate::cache::Cache;
    use crate::log::UNNAMED_FUNCTION;
    use crate::stats::StatKind;

    /// Name of the load-duration histogram.
    const LOAD_DURATION: &str = "layercache_load_duration_seconds";

    /// Sets every field of `stats` in the current recorder, labelled with `namespace`: counters
    /// to their running total (`absolute`), gauges to their level. Totals rather than increments,
    /// so a recorder installed after the cache was built, or one of several local recorders,
    /// still shows the whole count.
    pub(crate) fn publish(namespace: &str, stats: &Stats) {
        let namespace = SharedString::from(namespace.to_owned());
        for field in stats.entries() {
            let labels = [("namespace", namespace.clone())];
            match field.kind {
                StatKind::Counter => metrics::counter!(field.metric, &labels).absolute(field.value),
                StatKind::Gauge => metrics::gauge!(field.metric, &labels).set(field.value as f64),
            }
        }
    }

    /// Records one loader call in the load-duration histogram.
    pub(crate) fn record_load(
        namespace: &str,
        function: Option<&'static str>,
        outcome: LoadOutcome,
        took: Duration,
    ) {
        let labels = [
            ("namespace", SharedString::from(namespace.to_owned())),
            (
                "function",
                SharedString::from(function.unwrap_or(UNNAMED_FUNCTION)),
            ),
            ("outcome", SharedString::from(outcome.label())),
        ];
        metrics::histogram!(LOAD_DURATION, &labels).record(took.as_secs_f64());
    }

    /// How often the background task sets the figures.
    const PUBLISH_EVERY: Duration = Duration::from_secs(1);

    /// Starts the task that publishes `cache`'s figures every second, on the current tokio
    /// runtime (none outside one: then call [`Cache::publish_metrics`] yourself). It holds the
    /// cache weakly and ends once the cache is dropped.
    pub(crate) fn start_publishing(cache: &Cache) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&cache.inner);
        runtime.spawn(async move {
            let mut every = tokio::time::interval(PUBLISH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                Cache { inner }.publish_metrics();
            }
        });
    }

    impl Cache {
        /// Sets this cache's [`Stats`] in the installed `metrics` recorder now (feature
        /// `metrics`): counters as `layercache_<field>_total`, gauges as `layercache_<field>`,
        /// labelled `namespace`. A background task does this every second; call it before
        /// rendering a scrape to export the exact figures of this moment.
        ///
        /// Two caches of one namespace in one process set the same series: give them different
        /// namespaces to tell them apart.
        ///
        /// ```
        /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        /// let cache = layercache::Cache::builder().namespace("shop").build();
        /// // with e.g. metrics-exporter-prometheus installed, in the /metrics handler:
        /// cache.publish_metrics();
        /// // layercache_l1_hits_total{namespace="shop"} 0 … layercache_breaker_open{namespace="shop"} 0
        /// # });
        /// ```
        pub fn publish_metrics(&self) {
            publish(self.namespace(), &self.stats());
        }
    }
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::{record_load, start_publishing};

/// Without the `metrics` feature: nothing to publish.
#[cfg(not(feature = "metrics"))]
pub(crate) fn start_publishing(_cache: &crate::cache::Cache) {}

/// Without the `metrics` feature: nothing to record into.
#[cfg(not(feature = "metrics"))]
pub(crate) fn record_load(
    _namespace: &str,
    _function: Option<&'static str>,
    _outcome: LoadOutcome,
    _took: std::time::Duration,
) {
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::enabled::publish;
    use super::*;

    /// Every (metric name, labels, value) the recorder holds, labels as `k=v` sorted.
    fn recorded(recorder: &DebuggingRecorder) -> Vec<(String, Vec<String>, DebugValue)> {
        let mut all: Vec<_> = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (_, key) = key.into_parts();
                let mut labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn value_of<'a>(
        all: &'a [(String, Vec<String>, DebugValue)],
        metric: &str,
    ) -> Option<&'a DebugValue> {
        all.iter()
            .find(|(name, _, _)| name == metric)
            .map(|(_, _, v)| v)
    }

    #[test]
    fn every_field_is_exported_with_its_kind_and_the_namespace_label() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let mut stats = Stats {
                l1_hits: 5,
                breaker_open: 1,
                ..Stats::default()
            };
            publish("shop", &stats);
            stats.l1_hits = 8;
            stats.breaker_open = 0;
            publish("shop", &stats);
        });
        let all = recorded(&recorder);
        assert_eq!(all.len(), Stats::default().entries().len(), "{all:?}");
        assert_eq!(
            value_of(&all, "layercache_l1_hits_total"),
            Some(&DebugValue::Counter(8)),
            "{all:?}"
        );
        assert_eq!(
            value_of(&all, "layercache_breaker_open"),
            Some(&DebugValue::Gauge(0.0.into())),
            "a gauge follows the level down"
        );
        assert_eq!(
            value_of(&all, "layercache_misses_total"),
            Some(&DebugValue::Counter(0)),
            "counters that never moved are exported at zero"
        );
        assert!(all
            .iter()
            .all(|(_, labels, _)| labels == &["namespace=shop"]));
    }

    #[test]
    fn loads_are_recorded_per_function_and_outcome() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            record_load(
                "shop",
                Some("shop::get_product"),
                LoadOutcome::Ok,
                Duration::from_millis(3),
            );
            record_load("shop", None, LoadOutcome::Timeout, Duration::from_millis(5));
        });
        let all = recorded(&recorder);
        let series: Vec<&Vec<String>> = all
            .iter()
            .filter(|(n, _, _)| n == "layercache_load_duration_seconds")
            .map(|(_, labels, _)| labels)
            .collect();
        assert_eq!(series.len(), 2, "{all:?}");
        assert!(series.contains(&&vec![
            "function=shop::get_product".to_owned(),
            "namespace=shop".to_owned(),
            "outcome=ok".to_owned()
        ]));
        assert!(series.contains(&&vec![
            "function=unnamed".to_owned(),
            "namespace=shop".to_owned(),
            "outcome=timeout".to_owned()
        ]));
    }
}
